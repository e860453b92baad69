import json
import subprocess
import sys

import numpy as np
import pytest

import embodied

from conftest import ROOT, first_step, first_traces, restored


def policy_batch(batch, env_count=2):
    return {k: v[:env_count, 0] for k, v in batch.items() if k != 'action'}


def check_train_and_policy(agent, replay, config):
    batch = replay.sample(config.batch_size)
    _, metrics = agent.train(batch)
    assert metrics and all(np.isfinite(v).all() for v in metrics.values()), {
        k: v for k, v in metrics.items() if not np.isfinite(v).all()}
    for key in ('model_loss', 'skills_loss', 'worker_actor_loss',
                'manager_actor_loss', 'manager_extr_critic_loss',
                'worker_goal_critic_loss'):
        assert key in metrics
    obs = policy_batch(batch)
    acts, state = agent.policy(obs, None, mode='train')
    assert acts["action"].shape == (2,) + agent.act_space.shape
    assert np.abs(acts['action']).max() <= 1.0
    acts, state = agent.policy(obs, state, mode='eval')
    assert acts["action"].shape == (2,) + agent.act_space.shape
    choice = acts['log_choice']
    assert choice.shape == (2, len(config.mrs.skills))
    assert (choice.sum(-1) == 1).all() and set(choice.flat) <= {0, 1}
    return metrics


def test_train_and_policy_step_vision(vision_agent, vision_data):
    _, _, replay, config = vision_data
    with restored(vision_agent):
        metrics = check_train_and_policy(vision_agent, replay, config)
    assert 'image_loss_mean' in metrics


@pytest.mark.slow
def test_train_and_policy_step_proprio_with_xla(
        proprio_xla_agent, proprio_data):
    _, _, replay, config = proprio_data
    with restored(proprio_xla_agent):
        metrics = check_train_and_policy(proprio_xla_agent, replay, config)
    assert 'position_loss_mean' in metrics and 'image_loss_mean' not in metrics
    # Only XLA-compiled functions have an HLO module to show.
    hlo = proprio_xla_agent.train_ir(replay.sample(config.batch_size))
    assert 'HloModule' in hlo


def test_report_videos(vision_agent, vision_data):
    _, _, replay, config = vision_data
    report = vision_agent.report(replay.sample(config.batch_size))
    video = report['openl_image']
    assert video.ndim == 4 and video.shape[1] == 3 * 64
    goals = report['goals_image']
    rows = min(2, config.batch_size)
    columns = len(config.mrs.skills) + 1
    assert goals.shape == (config.replay.chunk, rows * 64, columns * 64, 3)


def test_same_seed_gives_identical_losses(
        proprio_agent, second_proprio_agent, proprio_data):
    """Two agents of the same config and seed, from their first train step
    on the same batch."""
    _, _, replay, config = proprio_data
    batches = [replay.sample(config.batch_size) for _ in range(2)]
    runs = []
    for agent in (proprio_agent, second_proprio_agent):
        with restored(agent):
            runs.append([first_step(agent)[1]] + [
                agent.train(batch)[1] for batch in batches])
    for first, second in zip(*runs):
        for key in ('model_loss', 'skills_loss', 'worker_actor_loss',
                    'manager_actor_loss'):
            assert first[key] == second[key], key


def test_world_model_learns_on_a_fixed_batch(vision_agent, vision_data):
    _, _, replay, config = vision_data
    batch = replay.sample(config.batch_size)
    with restored(vision_agent):
        losses = [vision_agent.train(batch)[1]['image_loss_mean']
                  for _ in range(200)]
    assert np.mean(losses[-5:]) <= 0.5 * losses[0], (losses[0], losses[-5:])


PARAMETER_PRESETS = [
    ('dmc_vision', 'director_upstream'), ('dmc_proprio', 'director_upstream'),
    ('dmc_vision', 'mrs'), ('dmc_vision', 'director')]


@pytest.fixture(scope='module')
def parameter_counts():
    """parameter_counts.count_for_flags (scripts/count_parameters.py) of
    four default-size agents, built in one process of their own (they are
    large, and it builds them as train.py would)."""
    code = (
        'import json; from mrs_tf import parameter_counts; '
        'print(json.dumps({" ".join(p): parameter_counts.count_for_flags('
        f'["--configs", *p]) for p in {PARAMETER_PRESETS!r}}}))')
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT,
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize('env', ['dmc_vision', 'dmc_proprio'])
def test_director_parameter_counts_equal_upstream(env, parameter_counts):
    golden = json.loads((ROOT / 'tests/data/param_counts.json').read_text())
    counts = parameter_counts[f'{env} director_upstream']
    for key, value in golden[env].items():
        if key.startswith(('wm/', 'hier/')):
            assert counts[key] == value, key
    assert counts['total'] == golden[env]['sum_optimized_excl_slow_targets']


@pytest.mark.slow
def test_mrs_parameter_overhead_over_director_is_small(parameter_counts):
    mrs, director = (
        parameter_counts['dmc_vision mrs'],
        parameter_counts['dmc_vision director'])
    assert mrs['total'] > director['total']
    assert mrs['total'] <= 1.10 * director['total']
    # Only the skill modules and the manager's actor grow.
    for key in ('wm/total_optimized', 'hier/worker_actor',
                'hier/manager_critic_extr/net'):
        assert mrs[key] == director[key]


def test_train_traces_once_and_scanned_imagination_switches_every_k(
        proprio_agent, proprio_data):
    _, _, replay, config = proprio_data
    agent = proprio_agent
    assert not agent.config.imag_unroll
    # The first call traces twice: once creating the variables, once using
    # them.
    assert first_traces(agent) <= 2
    traces = agent.traces()['train']
    with restored(agent):
        for _ in range(3):
            agent.train(replay.sample(config.batch_size))
    assert agent.traces()['train'] == traces
    batch = replay.sample(config.batch_size)
    start = {k: v[:, 0] for k, v in agent.observe(batch).items()}
    start['is_terminal'] = batch['is_terminal'][:, 0]
    with agent.scope():
        traj = agent.hierarchy.imagine(start)
    k = config.skill_duration
    goal = traj['goal'].numpy()
    assert traj['deter'].shape[0] == config.imag_horizon + 1
    for t in range(config.imag_horizon + 1):
        np.testing.assert_array_equal(goal[t], goal[t - t % k])
    assert not np.allclose(goal[0], goal[k])


def test_jit_auto_is_graph_mode_without_a_gpu():
    import tensorflow as tf
    from mrs_tf.tf_setup import use_xla
    config = embodied.load_config(ROOT / 'configs.yaml', [])
    assert tf.config.list_logical_devices('GPU') == []
    assert config.tf.jit == 'auto' and not use_xla(config)
    assert use_xla(config.update({'tf.jit': 'xla'}))
    assert not use_xla(config.update({'tf.jit': 'graph'}))


def test_agent_names_its_evaluation_variant_and_resolution_shares(
        proprio_agent, proprio_data):
    _, _, _, config = proprio_data
    assert proprio_agent.eval_variant() == config.eval_choice
    episodes = [
        {'score': 1.0, 'mean_log_choice_1': 0.75, 'mean_log_choice_0': 0.25},
        {'score': 2.0, 'mean_log_choice_0': 0.75, 'mean_log_choice_1': 0.25}]
    summary = proprio_agent.eval_summary(episodes)
    assert summary['eval_choice'] == config.eval_choice
    assert summary['resolutions'] == list(config.mrs.skills)
    assert summary['choice_frequencies'] == [[0.25, 0.75], [0.75, 0.25]]
    assert summary['mean_choice_frequency'] == [0.5, 0.5]
