"""The paper's baselines as presets, flat (no manager) and random_choice
(HiPPO-style random resolution), and a debug run of each and of
mrs_adaptive."""

import json

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import ROOT, build_agent, debug_run, time_major
from mrs_tf import (
    checkpoint_keys, configs, parameter_counts, replicas, sweeps)
from mrs_tf.hierarchy import Hierarchy, override_choice
from mrs_tf.meta_controller import MetaController


def preset_config(*presets):
    return embodied.load_config(
        ROOT / 'configs.yaml', ['--configs', *presets, 'debug'])


def nonzero(grads):
    return any(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)


def test_random_choice_draws_the_resolution_uniformly_without_a_head():
    config = preset_config('random_choice')
    meta = MetaController(4, config.skill_shape, config)
    assert meta.choice is None
    state = {'deter': tf.random.normal([20000, 32]),
             'stoch': tf.one_hot(tf.zeros([20000, 4], tf.int32), 4)}
    with replicas.keyed(tf.constant([0, 1], tf.int64)):
        skills, choice = meta.sample(state)
    np.testing.assert_allclose(tf.reduce_mean(choice, 0), 0.25, atol=0.01)
    time, batch = 5, 3
    traj = {**state, 'action': meta.pack(skills, choice)}
    traj = time_major(traj, time, batch)
    with tf.GradientTape(persistent=True) as tape:
        loss, metrics = meta.loss(traj, tf.random.normal([time - 1, batch]))
        loss = tf.reduce_mean(loss)
    grads = tape.gradient(loss, meta.trainable_variables)
    assert all(g is not None for g in grads)  # The optimizer needs them all.
    assert nonzero(tape.gradient(loss, meta.trunk.trainable_variables))
    assert not any(key.startswith('choice_actent') for key in metrics)


def test_random_override_draws_every_resolution_uniformly():
    choice = tf.one_hot(tf.zeros([20000], tf.int32), 4)
    with replicas.keyed(tf.constant([0, 1], tf.int64)):
        drawn = override_choice(choice, 'random')
    shares = tf.reduce_mean(drawn, 0).numpy()
    np.testing.assert_allclose(shares, 0.25, atol=0.01)
    with replicas.keyed(tf.constant([0, 1], tf.int64)):
        again = override_choice(choice, 'random')
    np.testing.assert_array_equal(drawn, again)  # Keyed: reproducible.


@pytest.mark.parametrize('override, shares', [
    ('share:1,1,2,4', [0.125, 0.125, 0.25, 0.5]),
    ('share:0,0.5,0.5,0', [0, 0.5, 0.5, 0]),
    ('fixed:2', [0, 0, 1, 0]),
])
def test_share_and_fixed_overrides_draw_each_resolution_at_its_share(
        override, shares):
    choice = tf.one_hot(tf.zeros([20000], tf.int32), 4)
    with replicas.keyed(tf.constant([0, 1], tf.int64)):
        drawn = override_choice(choice, override)
    assert set(np.unique(drawn.numpy().sum(-1))) == {1.0}
    np.testing.assert_allclose(tf.reduce_mean(drawn, 0), shares, atol=0.01)


@pytest.mark.parametrize('choice, message', [
    ('share:1,1,1', 'needs 4 non-negative finite shares'),
    ('share:1,-1,1,1', 'needs 4 non-negative finite shares'),
    ('share:0,0,0,0', 'needs 4 non-negative finite shares'),
    ('share:a,b,c,d', 'needs 4 non-negative finite shares'),
    ('share:nan,1,1,1', 'needs 4 non-negative finite shares'),
    ('fixed:4', 'names no resolution'),
    ('best', 'must be learned, random, fixed'),
])
def test_bad_eval_choice_is_a_one_line_config_error(choice, message):
    with pytest.raises(embodied.ConfigError, match=message) as error:
        configs.parse(['--configs', 'mrs', '--eval_choice', choice])
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('presets, choice, message', [
    (['flat'], 'random', 'mrs.manager is False'),
    (['flat'], 'fixed:0', 'mrs.manager is False'),
    (['mrs_adaptive'], 'fixed:1', 'mrs.adaptive prunes during training'),
    (['mrs_adaptive'], 'share:1,1,0,0,0,0,0,0', 'prunes during training'),
    (['mrs_adaptive', '--mrs.skills', '[8,16]'], 'fixed:0', 'prunes'),
])
def test_eval_choice_that_cannot_be_played_is_refused(
        presets, choice, message):
    with pytest.raises(embodied.ConfigError, match=message) as error:
        configs.parse(['--configs', *presets, '--eval_choice', choice])
    assert '\n' not in str(error.value)


@pytest.mark.parametrize('presets, choice', [
    (['flat'], 'learned'),
    (['mrs_adaptive'], 'random'),
    (['mrs_adaptive'], 'fixed:7'),  # inf, never pruned
    (['mrs_adaptive'], 'share:1,0,0,0,0,0,0,1'),
    (['mrs_adaptive', '--mrs.skills', '[8,16]'], 'share:1,1'),
    (['mrs_adaptive', '--run.script', 'eval_only'], 'fixed:1'),
])
def test_eval_choice_that_pruning_leaves_playable_is_accepted(
        presets, choice):
    configs.parse(['--configs', *presets, '--eval_choice', choice])


def test_table3_sweep_evaluates_flat_runs_with_their_policy_only(tmp_path):
    logdirs = []
    for preset in ('flat', 'mrs'):
        logdirs.append(tmp_path / preset)
        logdirs[-1].mkdir()
        configs.parse(['--configs', 'dmc_proprio', preset]).save(
            logdirs[-1] / 'config.yaml')
    commands = sweeps.main([
        '--table', '3', '--configs', 'dmc_proprio', '--logdirs',
        *map(str, logdirs)])
    choices = [c[c.index('--eval_choice') + 1] for c in commands]
    assert choices == ['learned', 'learned', 'random'] + [
        f'fixed:{i}' for i in range(4)]
    for command in commands:
        configs.parse(command[1:])


def test_flat_needs_a_goal_free_worker():
    configs.parse(['--configs', 'flat'])
    with pytest.raises(embodied.ConfigError, match='mrs.manager False'):
        configs.parse(
            ['--configs', 'flat', '--worker_inputs', 'deter', 'stoch', 'goal'])
    with pytest.raises(embodied.ConfigError, match='mrs.adaptive False'):
        configs.parse(['--configs', 'flat', '--mrs.adaptive', 'True'])


@pytest.mark.parametrize('order', [('flat', 'debug'), ('debug', 'flat')])
def test_flat_worker_pieces_are_the_whole_horizon_in_any_preset_order(
        order):
    config = configs.parse(['--configs', 'dmc_proprio', *order])
    assert config.imag_horizon == 4 and config.skill_duration == 2
    act_space = embodied.Space(np.float32, (1,), -1, 1)
    assert Hierarchy(None, act_space, config).duration == 4
    mrs = configs.parse(['--configs', 'dmc_proprio', 'debug'])
    assert Hierarchy(None, act_space, mrs).duration == 2
    # K must divide the horizon only where a manager splits it.
    odd = ['--configs', 'dmc_proprio', *order, '--imag_horizon', '5']
    assert configs.parse(odd).imag_horizon == 5
    with pytest.raises(embodied.ConfigError, match='multiple of skill_dur'):
        configs.parse(odd + ['--mrs.manager', 'True', '--worker_inputs',
                             'deter', 'stoch', 'goal'])


def test_flat_has_only_a_world_model_and_a_worker():
    """Agent.build takes one (eager) train step; the compiled one runs in
    test_debug_run_of_a_baseline_preset."""
    space = embodied.Space
    obs_space = {
        'vector': space(np.float32, (3,)), 'reward': space(np.float32),
        'is_first': space(bool), 'is_last': space(bool),
        'is_terminal': space(bool)}
    act_space = {'action': space(np.float32, (1,), -1, 1)}
    agent = build_agent(
        obs_space, act_space, configs.parse(['--configs', 'flat', 'debug']))
    agent.build()
    hierarchy = agent.hierarchy
    assert hierarchy.manager is hierarchy.skills is hierarchy.pruner is None
    keys = checkpoint_keys.variables_by_key(tf.train.Checkpoint(agent=agent))
    assert not [k for k in keys if '/manager/' in k or '/skills/' in k]
    size = lambda variables: sum(int(np.prod(v.shape)) for v in variables)
    assert size(agent.trainable_variables) == size(
        agent.wm.trainable_variables) + size(
            hierarchy.worker.trainable_variables)
    counts = parameter_counts.count(agent)
    assert counts['total'] == counts['wm/total_optimized'] + sum(
        counts[k] for k in ('hier/worker_actor',
                            'hier/worker_critic_extr/net'))
    obs = {k: np.zeros((2,) + v.shape, v.dtype) for k, v in obs_space.items()}
    obs['is_first'][:] = True
    state = None
    for _ in range(3):
        outs, state = agent.policy(obs, state)
        np.testing.assert_array_equal(outs['log_choice'], np.ones((2, 1)))
        obs['is_first'][:] = False
    latent, carry, _ = state
    assert not np.any(carry['goal'].numpy())
    assert int(carry['step'][0]) == 3
    with pytest.raises(embodied.ConfigError, match='need a manager'):
        agent.goal_observations(latent)


@pytest.mark.slow
@pytest.mark.parametrize('preset', ['flat', 'random_choice', 'mrs_adaptive'])
def test_debug_run_of_a_baseline_preset(preset, debug_runs):
    logdir = debug_run(debug_runs, preset)
    lines = [json.loads(line) for line in open(logdir / 'metrics.jsonl')]
    trained = [line for line in lines if 'train/model_loss' in line]
    assert trained
    keys = set().union(*trained)
    if preset == 'flat':
        assert 'train/worker_extr_critic_loss' in keys
        assert not any(k.startswith('train/manager_') for k in keys)
        assert 'train/skills_loss' not in keys
    elif preset == 'random_choice':
        assert 'train/manager_actor_loss' in keys
        assert not any('choice_actent' in k for k in keys)
    else:  # debug's resolutions [2, 4, 8, inf], all active this early.
        assert trained[-1]['train/adaptive_active_inf'] == 1
        shares = [trained[-1][f'train/adaptive_share_{s}']
                  for s in (2, 4, 8, 'inf')]
        assert all(0 <= s <= 1 for s in shares)
