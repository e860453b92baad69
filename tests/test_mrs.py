"""The paper's contribution: skill modules, meta-controller, Eq. 5 and 6."""

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import ROOT, time_major
from mrs_tf import replicas
from mrs_tf.nets import sg
from mrs_tf.autoadapt import AutoAdapt
from mrs_tf.meta_controller import MetaController
from mrs_tf.skills import SkillModules
from mrs_tf.distributions import normalized_entropy

SIZE = 6


def debug_config(*flags):
    return embodied.load_config(
        ROOT / 'configs.yaml', ['--configs', 'debug', *flags])


def nonzero(grads):
    return any(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)


@pytest.fixture(scope='module')
def skills():
    config = debug_config('--mrs.skills', '2', '4', 'inf')
    return SkillModules(config.mrs.skills, config.skill_shape, SIZE, config)


@pytest.fixture(scope='module')
def feat():
    return tf.random.stateless_normal([3, 10, SIZE], seed=[1, 2])


def test_pairs_are_exactly_l_steps_apart(skills):
    time = tf.range(12, dtype=tf.float32)
    feat = tf.tile(time[None, :, None], [2, 1, SIZE])
    for length in (2, 4):
        context, goal = skills.pairs(length, feat)
        assert context.shape[1] == 12 - length
        np.testing.assert_array_equal(goal - context, length)
    context, goal = skills.pairs('inf', feat)
    np.testing.assert_array_equal(goal, context)
    with pytest.raises(ValueError, match='longer than'):
        skills.pairs(12, feat)


def test_heads_get_gradients_only_from_their_own_elbo(skills, feat):
    skills.train(feat)  # Builds every layer.
    shared = skills.encoder + skills.decoder + [skills.decoder_head]
    for skill in skills.skills:
        with tf.GradientTape(persistent=True) as tape:
            loss, _ = skills.elbo(skill, *skills.pairs(skill, feat))
        own = [
            skills.encoder_heads[str(skill)],
            skills.decoder_inputs[str(skill)]]
        others = [
            module for name in skills.encoder_heads if name != str(skill)
            for module in (
                skills.encoder_heads[name], skills.decoder_inputs[name])]
        variables = lambda modules: [
            v for m in modules for v in m.trainable_variables]
        assert nonzero(tape.gradient(loss, variables(own)))
        for module in shared:
            assert nonzero(tape.gradient(loss, module.trainable_variables))
        grads = tape.gradient(loss, variables(others))
        assert not nonzero(grads), skill


def test_inf_module_ignores_the_start_state(skills, feat):
    goal, context = feat[:, 5], feat[:, 0]
    other = context * -3.0 + 1.0
    z = skills.encode('inf', goal, context).mode()
    same = lambda a, b: np.testing.assert_allclose(a.numpy(), b.numpy())
    same(skills.decode('inf', z, context).mode(),
         skills.decode('inf', z, other).mode())
    logits = lambda ctx: skills.encode(
        'inf', goal, ctx).distribution.logits_parameter()
    same(logits(context), logits(other))
    # A finite module does read it.
    assert not np.allclose(skills.decode(2, z, context).mode(),
                           skills.decode(2, z, other).mode())


def test_unchosen_heads_get_no_policy_gradient():
    config = debug_config()
    meta = MetaController(4, config.skill_shape, config)
    state = {'deter': tf.random.normal([15, 32]),
             'stoch': tf.one_hot(tf.zeros([15, 4], tf.int32), 4)}
    skills, _ = meta.sample(state)
    chosen = 2
    action = meta.pack(skills, tf.one_hot(tf.fill([15], chosen), 4))
    advantage = tf.random.normal([15])
    with tf.GradientTape(persistent=True) as tape:
        heads, choice_dist = meta(state)
        policy_gradient = -tf.reduce_mean(
            meta.log_prob(heads, choice_dist, action) * advantage)
    grad = lambda module: tape.gradient(
        policy_gradient, module.trainable_variables)
    for i, head in enumerate(meta.heads):
        assert nonzero(grad(head)) == (i == chosen), i
    assert nonzero(grad(meta.trunk)) and nonzero(grad(meta.choice))


def test_unchosen_heads_get_no_gradient_from_the_whole_manager_loss():
    """Sec. 3.4: with the entropy bonuses included, a head that no step
    chose gets exactly zero gradient; the trunk and choice head do not."""
    config = debug_config()
    meta = MetaController(4, config.skill_shape, config)
    time, batch, chosen = 5, 3, 1
    state = {'deter': tf.random.normal([time * batch, 32]),
             'stoch': tf.one_hot(tf.zeros([time * batch, 4], tf.int32), 4)}
    skills, _ = meta.sample(state)
    choice = tf.one_hot(tf.fill([time * batch], chosen), 4)
    traj = {**state, 'action': meta.pack(skills, choice)}
    traj = time_major(traj, time, batch)
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = meta.loss(traj, tf.random.normal([time - 1, batch]))
        loss = tf.reduce_mean(loss)
    grad = lambda module: tape.gradient(loss, module.trainable_variables)
    for i, head in enumerate(meta.heads):
        assert nonzero(grad(head)) == (i == chosen), i
    assert nonzero(grad(meta.trunk)) and nonzero(grad(meta.choice))


def test_skills_inf_reduces_to_director_goal_autoencoder(feat):
    config = debug_config('--configs', 'director_upstream')
    modules = SkillModules(config.mrs.skills, config.skill_shape, SIZE, config)
    modules.train(feat)
    states = tf.reshape(feat, [-1, SIZE])
    tf.random.set_seed(7)
    loss, _ = modules.elbo('inf', states, states)
    # Director: enc(goal) -> sample -> dec(skill); rec = squared error summed
    # over features; KL to the uniform prior with its adaptive scale.
    tf.random.set_seed(7)
    x = states
    for layer in modules.encoder:
        x = layer(x)
    enc = modules.encoder_heads['inf'](x)
    x = tf.reshape(enc.sample(), [states.shape[0], -1])
    x = modules.decoder_inputs['inf'](x)
    for layer in modules.decoder:
        x = layer(x)
    recon = modules.decoder_head(x).mode()
    rec = tf.reduce_sum((recon - states) ** 2, -1)
    # The scale _elbo used: adapted once more before the loss was formed.
    kl = enc.kl_divergence(modules.prior()) * modules.kl_scales['inf'].scale()
    np.testing.assert_allclose(loss, tf.reduce_mean(rec + kl), rtol=1e-6)


def test_single_head_manager_loss_is_directors():
    config = debug_config('--configs', 'director_upstream')
    meta = MetaController(1, config.skill_shape, config)
    state = {'deter': tf.random.normal([12, 32]),
             'stoch': tf.one_hot(tf.zeros([12, 4], tf.int32), 4)}
    skills, choice = meta.sample(state)
    np.testing.assert_array_equal(choice, 1.0)
    traj = {**state, 'action': meta.pack(skills, choice)}
    traj = time_major(traj, 4, 3)
    advantage = tf.random.normal([3, 3])
    loss, _ = meta.loss(traj, advantage)
    # Director: -log pi(skill) * A + adaptive per-categorical entropy bonus.
    reference_entropy = AutoAdapt(
        (2,), **{**dict(config.actent), 'target': config.manager_actent},
        inverse=True)
    policy = meta.heads[0](meta.trunk(sg(traj)))
    skill = tf.reshape(traj['action'][..., :4], [4, 3, 2, 2])
    bonus, _ = reference_entropy(normalized_entropy(policy)[:-1])
    expected = (
        -policy.log_prob(skill)[:-1] * advantage + tf.reduce_sum(bonus, -1))
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


def test_exploration_reward_is_min_over_finite_modules(skills, feat):
    config = debug_config('--mrs.skills', '2', '4', 'inf')
    from mrs_tf.hierarchy import Hierarchy
    hier = Hierarchy.__new__(Hierarchy)
    hier.skills, hier.config, hier.pruner = skills, config, None
    hier.live = skills.skills
    deter = tf.transpose(feat, [1, 0, 2])
    key = tf.constant([3, 0], tf.int64)
    with replicas.keyed(key):
        reward = hier.exploration_reward({'deter': deter})
    # The same draws: time-major later states, the start state at each.
    with replicas.keyed(key), replicas.batch_axis(1):
        start = tf.repeat(deter[:1], 9, 0)
        errors = skills.reconstruction_errors((2, 4), deter[1:], start)
    np.testing.assert_allclose(reward, tf.reduce_min(errors, 0), rtol=1e-6)
    # Not the inf module's error: Eq. 6 only takes the finite modules.
    with replicas.keyed(key), replicas.batch_axis(1):
        [inf_error] = skills.reconstruction_errors(('inf',), deter[1:], start)
    assert not np.allclose(reward, inf_error)
    assert reward.shape == (9, 3)


def test_reconstruction_errors_share_the_trunk_not_the_modules(skills, feat):
    goal, context = feat[:, 1:], feat[:, :-1]
    key = tf.constant([5, 1], tf.int64)
    with replicas.keyed(key):
        errors = skills.reconstruction_errors((2, 'inf', 4), goal, context)
    with replicas.keyed(key):  # module by module, in the same draw order
        expected = []
        for skill in (2, 'inf', 4):
            z = skills.encode(skill, goal, context).sample()
            recon = skills.decode(skill, z, context).mode()
            expected.append(tf.reduce_mean((recon - goal) ** 2, -1))
    np.testing.assert_allclose(errors, tf.stack(expected), rtol=1e-6)
    assert errors.shape == (3,) + tuple(goal.shape[:2])
    assert not np.allclose(errors[0], errors[2])
