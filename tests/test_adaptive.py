"""Adaptive resolution discovery (mrs.adaptive, pruning.py): which
resolutions are pruned and when, what a pruned resolution stops doing, and
that the pruned set survives a checkpoint."""

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import ROOT, time_major
from mrs_tf import replicas
from mrs_tf.hierarchy import Hierarchy
from mrs_tf.pruning import ResolutionPruner

SKILLS = (2, 4, 8, 'inf')
KEY = tf.constant([0, 5], tf.int64)


def debug_config(*flags):
    return embodied.load_config(
        ROOT / 'configs.yaml',
        ['--configs', 'mrs_adaptive', 'debug', '--mrs.prune_window', '3',
         *flags])


def feed(pruner, shares, steps):
    for _ in range(steps):
        metrics = pruner.update(tf.constant(shares, tf.float32))
    return metrics


def test_a_head_below_the_share_is_pruned_at_the_end_of_the_window():
    pruner = ResolutionPruner(SKILLS, share=0.05, window=3)
    feed(pruner, [0.6, 0.0, 0.4, 0.0], 2)
    np.testing.assert_array_equal(pruner.active, [1, 1, 1, 1])
    metrics = feed(pruner, [0.6, 0.0, 0.4, 0.0], 1)
    # The inf resolution is never pruned, whatever its share.
    np.testing.assert_array_equal(pruner.active, [1, 0, 1, 1])
    assert float(metrics['adaptive_active_4']) == 0
    assert float(metrics['adaptive_share_2']) == pytest.approx(0.6)
    # The pruning log: resolution 4 at train step 3 with share 0.
    assert float(metrics['adaptive_pruned_at_4']) == 3
    assert float(metrics['adaptive_pruned_share_4']) == 0
    assert float(metrics['adaptive_pruned_at_inf']) == -1
    # A new window starts: shares of the old one do not count.
    feed(pruner, [0.0, 0.0, 1.0, 0.0], 2)
    feed(pruner, [0.5, 0.0, 0.5, 0.0], 1)
    np.testing.assert_array_equal(pruner.active, [1, 0, 1, 1])


def test_the_last_finite_resolution_is_kept():
    pruner = ResolutionPruner(SKILLS, share=0.5, window=2)
    feed(pruner, [0.1, 0.2, 0.0, 0.7], 2)
    np.testing.assert_array_equal(pruner.active, [0, 1, 0, 1])
    feed(pruner, [0.1, 0.2, 0.0, 0.7], 4)
    np.testing.assert_array_equal(pruner.active, [0, 1, 0, 1])


def test_prune_prunes_named_finite_resolutions_at_once():
    pruner = ResolutionPruner(SKILLS, share=0.05, window=3)
    feed(pruner, [0.3, 0.3, 0.3, 0.1], 1)
    pruner.prune(['2', 8])
    np.testing.assert_array_equal(pruner.active, [0, 1, 0, 1])
    np.testing.assert_array_equal(pruner.pruned_at, [1, -1, 1, -1])
    feed(pruner, [0.0, 0.5, 0.0, 0.5], 1)
    pruner.prune([2])  # Already pruned: its log keeps step 1.
    np.testing.assert_array_equal(pruner.pruned_at, [1, -1, 1, -1])
    for skills, message in (
            (['inf'], 'resolution inf: the finite ones are 2, 4, 8'),
            ([3], 'resolution 3'), ([4], 'every finite resolution')):
        with pytest.raises(ValueError, match=message):
            pruner.prune(skills)
    np.testing.assert_array_equal(pruner.active, [0, 1, 0, 1])


@pytest.fixture(scope='module')
def hierarchy():
    """A debug hierarchy with resolution 4 pruned."""
    config = debug_config()
    assert tuple(config.mrs.skills) == SKILLS
    act_space = embodied.Space(np.float32, (2,), -1, 1)
    module = Hierarchy(None, act_space, config)
    module.pruner.prune([4])
    assert module.sync_live() == (2, 8, 'inf')
    return module


def states(count, deter=32):
    return {'deter': tf.random.stateless_normal([count, deter], [1, 2]),
            'stoch': tf.one_hot(tf.zeros([count, 4], tf.int32), 4)}


def test_a_pruned_resolution_is_never_chosen_and_gets_no_gradient(hierarchy):
    meta = hierarchy.manager.actor
    time, batch = 5, 40
    state = states(time * batch)
    skills, choice = meta.sample(state)
    assert float(tf.reduce_sum(choice[:, 1])) == 0
    assert float(tf.reduce_min(tf.reduce_sum(choice, 0)[::2])) > 0
    traj = {**state, 'action': meta.pack(skills, choice)}
    traj = time_major(traj, time, batch)
    with tf.GradientTape(persistent=True) as tape:
        loss, _ = meta.loss(traj, tf.random.normal([time - 1, batch]))
        loss = tf.reduce_mean(loss)
    assert np.isfinite(float(loss))
    for i, head in enumerate(meta.heads):
        grads = tape.gradient(loss, head.trainable_variables)
        total = sum(float(tf.reduce_sum(tf.abs(g))) for g in grads)
        assert (total > 0) == (i != 1), (i, total)


def test_a_pruned_module_decodes_no_candidate_goal(hierarchy):
    """Only live modules are decoded (Sec. 3.3's g_i = dec_i(z_i, s_t));
    the pruned one's slot is zeros, never chosen."""
    skills = hierarchy.skills
    latent = states(6)
    heads, _ = hierarchy.manager.actor.sample(latent)
    goals = skills.decode_all(heads, latent['deter'], hierarchy.live)
    assert goals.shape == (6, len(SKILLS), 32)
    assert not np.any(goals[:, 1].numpy())
    for i in (0, 2, 3):
        np.testing.assert_array_equal(
            goals[:, i], skills.decode(SKILLS[i], heads[i], latent['deter'])
            .mode())


def test_a_pruned_skill_module_stops_training(hierarchy):
    skills = hierarchy.skills
    feat = tf.random.stateless_normal([2, 12, 32], [3, 4])
    skills.train(feat, hierarchy.live)  # Builds the variables.
    def biases(skill):  # Weight decay spares them: only gradients move them.
        modules = [skills.encoder_heads[skill], skills.decoder_inputs[skill]]
        return [v.numpy().copy() for m in modules for v in m.variables
                if 'kernel' not in v.name]
    before = {s: biases(s) for s in ('2', '4')}
    skills.train(feat, hierarchy.live)
    moved = lambda s: any(
        not np.array_equal(a, b) for a, b in zip(before[s], biases(s)))
    assert moved('2') and not moved('4')


def test_the_exploration_reward_ignores_pruned_modules(hierarchy):
    feat = tf.random.stateless_normal([5, 6, 32], [5, 6])
    with replicas.keyed(KEY):
        reward = hierarchy.exploration_reward({'deter': feat})
    errors = {}
    for skills in ((2, 8), (2, 4, 8)):
        with replicas.keyed(KEY), replicas.batch_axis(1):
            errors[skills] = hierarchy.skills.reconstruction_errors(
                skills, feat[1:], feat[:1])
    np.testing.assert_allclose(reward, tf.reduce_min(errors[2, 8], 0))
    assert not np.allclose(reward, tf.reduce_min(errors[2, 4, 8], 0))


def test_the_pruned_set_survives_a_checkpoint(hierarchy, tmp_path):
    feed(hierarchy.pruner, [0.5, 0.0, 0.5, 0.0], 1)  # Mid-window counts.
    path = tf.train.Checkpoint(hierarchy=hierarchy).write(
        str(tmp_path / 'ckpt'))
    fresh = Hierarchy(None, embodied.Space(np.float32, (2,), -1, 1),
                      debug_config())
    tf.train.Checkpoint(hierarchy=fresh).read(path).expect_partial()
    np.testing.assert_array_equal(fresh.pruner.active, [1, 0, 1, 1])
    assert int(fresh.pruner.steps) == int(hierarchy.pruner.steps) > 0
    np.testing.assert_array_equal(
        fresh.pruner.pruned_at, hierarchy.pruner.pruned_at)
    np.testing.assert_array_equal(
        fresh.pruner.share_sum, hierarchy.pruner.share_sum)


def test_eval_choice_naming_a_pruned_resolution_is_one_clear_error(
        hierarchy):
    for ok in ('learned', 'random', 'fixed:0', 'fixed:3', 'share:0,1,0,1'):
        hierarchy.check_eval_choice(ok)
    with pytest.raises(embodied.ConfigError) as error:
        hierarchy.check_eval_choice('fixed:1')
    message = str(error.value)
    assert 'names resolution 4, which this checkpoint has pruned' in message
    assert 'active resolutions: 2 (fixed:0), 8 (fixed:2), inf (fixed:3)' in (
        message)
    assert '\n' not in message
    with pytest.raises(embodied.ConfigError, match=r'has pruned 4\)'):
        hierarchy.check_eval_choice('share:0,1,0,0')


@pytest.mark.parametrize('override, shares', [
    ('random', [1 / 3, 0, 1 / 3, 1 / 3]),
    ('share:1,1,2,4', [1 / 7, 0, 2 / 7, 4 / 7]),
    ('share:1,3,0,0', [1, 0, 0, 0]),  # Only the first active one is left.
])
def test_random_and_share_overrides_draw_among_active_resolutions(
        hierarchy, override, shares):
    with replicas.keyed(KEY):
        proposed = hierarchy._propose(states(20000), override)
    _, choice = hierarchy.manager.actor.unpack(proposed['skill'])
    assert set(np.unique(choice.numpy().sum(-1))) == {1.0}
    np.testing.assert_allclose(tf.reduce_mean(choice, 0), shares, atol=0.01)


def test_eval_only_checks_the_choice_after_loading_and_before_playing(
        tmp_path):
    calls = []

    class Checkpoint:
        def load(self, path=None):
            calls.append('load')
            return 'ckpt-1'

    class Agent:
        def eval_variant(self):
            calls.append('check')
            raise embodied.ConfigError('eval_choice fixed:1 names ...')

    class Driver:
        def on_step(self, callback):
            pass

        def collect_episodes(self, policy, episodes):
            calls.append('play')

    config = debug_config('--logdir', str(tmp_path))
    with pytest.raises(embodied.ConfigError, match='fixed:1'):
        embodied.run.eval_only(Agent(), Driver(), None, Checkpoint(), config)
    assert calls == ['load', 'check']


def test_stream_graph_marks_the_step_a_resolution_was_pruned():
    from mrs_tf.analysis import curves, runs
    metrics = [
        {'step': step, 'train/adaptive_active_4': float(step < 300),
         'train/adaptive_active_2': 1.0}
        for step in (100, 200, 300, 400)]
    run = runs.make_run('run', 'task', 'mrs_adaptive', SKILLS, metrics)
    assert curves.pruning_steps([run], SKILLS) == [(4, 300)]
