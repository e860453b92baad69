"""Exact restore: an agent saved after a few train steps and loaded into a
freshly built agent of the same config continues exactly where it stopped.
The next train step on the same batch with the same random key (the key is
the restored train_steps counter) gives bitwise equal losses and variables
(weights, Adam moments, normalisers, adaptive scales, counters, the
pruned set), and the policy gives bitwise equal worker, skill and choice
distributions and carried state on the same observations. Float16 is
checked in test_precision.py with its XLA agent (the GPU's default path)."""

import numpy as np
import pytest
import tensorflow as tf

import embodied

from conftest import build_agent, restored
from mrs_tf import replicas

POLICY_KEY = tf.constant([3, 7], tf.int64)  # the policy's samples
POLICY_STEPS = 3


def largest_difference(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, b.shape)
    if a.dtype == bool:
        return float(np.any(a != b))
    return float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))


def distribution_parameters(dist):
    """Logits of a categorical, mean and std of a normal (through
    Independent wrappers)."""
    while hasattr(dist, 'distribution'):
        dist = dist.distribution
    if hasattr(dist, 'logits_parameter'):
        return [dist.logits_parameter()]
    return [dist.mean(), dist.stddev()]


def policy_trace(agent, batch):
    """POLICY_STEPS policy steps on the first time steps of `batch` (eager,
    random numbers from POLICY_KEY): per step, the parameters of the
    worker's, every skill head's and the choice head's distributions, and
    the carried state (latent, hierarchy carry, action)."""
    dists, states = [], []
    with agent.scope(), replicas.keyed(POLICY_KEY):
        state = agent._initial_policy_state(len(batch['is_first']))
        for t in range(POLICY_STEPS):
            obs = {k: tf.convert_to_tensor(v[:, t])
                   for k, v in batch.items() if k in agent.obs_space}
            _, state = agent._policy(obs, state, 'train')
            latent, carry, _ = state
            heads, choice = agent.hierarchy.manager.actor(latent)
            worker = agent.hierarchy.worker.actor(
                {**latent, 'goal': carry['goal']})
            dists.append({
                'worker': distribution_parameters(worker),
                'skill': [p for h in heads for p in distribution_parameters(h)],
                'choice': distribution_parameters(choice) if choice else []})
            states.append(tf.nest.flatten(state))
    return dists, states


def restore_differences(saved, fresh, batch, directory):
    """Saves `saved`, loads it into the built agent `fresh`, takes one train
    step on `batch` with each and runs their policies. Returns the largest
    difference between the two per kind of state."""
    saved.save(directory)
    fresh.load(directory)
    names = [v.name for v in saved.variables]
    assert names == [v.name for v in fresh.variables]
    diff = {'loaded variables': max(
        largest_difference(a.numpy(), b.numpy())
        for a, b in zip(saved.variables, fresh.variables))}
    assert int(fresh.train_steps.numpy()) == int(saved.train_steps.numpy())
    _, metrics = saved.train(batch)
    _, fresh_metrics = fresh.train(batch)
    assert metrics.keys() == fresh_metrics.keys()
    diff['losses and metrics'] = max(
        largest_difference(metrics[k], fresh_metrics[k]) for k in metrics)
    diff['variables after a step'] = max(
        largest_difference(a.numpy(), b.numpy())
        for a, b in zip(saved.variables, fresh.variables))
    dists, states = policy_trace(saved, batch)
    fresh_dists, fresh_states = policy_trace(fresh, batch)
    for kind in ('worker', 'skill', 'choice'):
        diff[f'{kind} distribution'] = max(
            (largest_difference(a, b)
             for step, fresh_step in zip(dists, fresh_dists)
             for a, b in zip(step[kind], fresh_step[kind])), default=0.0)
    diff['carried state'] = max(
        largest_difference(a, b)
        for step, fresh_step in zip(states, fresh_states)
        for a, b in zip(step, fresh_step))
    return diff


def assert_exact(diff, label, capsys):
    with capsys.disabled():
        print(f'\nexact restore ({label}), largest differences: ' + ', '.join(
            f'{k} {v:.1e}' for k, v in diff.items()))
    assert not any(diff.values()), diff


def build_fresh(data, **overrides):
    """A freshly built agent: one train step creates every variable
    (optimizer moments too) and traces the train function."""
    obs_space, act_space, replay, config = data
    agent = build_agent(obs_space, act_space, config.update(overrides))
    agent.train(replay.sample(config.batch_size))
    return agent


def test_a_loaded_agent_continues_exactly_with_a_pruned_resolution(
        proprio_agent, second_proprio_agent, proprio_data, tmp_path,
        capsys):
    """Float32, graph mode, mrs_adaptive with resolution 4 pruned: bitwise
    equal. The pruned set, its window's counts and the pruning log come
    back, and the pruned resolution keeps a choice probability of zero.
    The fresh agent is the session's second agent of the same config: the
    load overwrites every value it holds. The pruning retraces the saved
    agent's train step once, and the new trace leaves the pruned module
    out (its ELBO metrics are gone)."""
    _, _, replay, config = proprio_data
    saved, fresh = proprio_agent, second_proprio_agent
    assert tuple(config.mrs.skills) == (2, 4, 8, 'inf')
    batch = replay.sample(config.batch_size)
    with restored(saved), restored(fresh):
        traces = saved.traces()['train']
        saved.hierarchy.pruner.prune([4])
        for _ in range(2):
            _, metrics = saved.train(replay.sample(config.batch_size))
        assert saved.traces()['train'] == traces + 1
        assert 'skill4_rec' not in metrics and 'skill2_rec' in metrics
        diff = restore_differences(saved, fresh, batch, tmp_path)
        np.testing.assert_array_equal(
            fresh.hierarchy.pruner.active, [1, 0, 1, 1])
        np.testing.assert_array_equal(
            fresh.hierarchy.pruner.pruned_at, saved.hierarchy.pruner.pruned_at)
        dists, _ = policy_trace(fresh, batch)
        for step in dists:
            probs = tf.nn.softmax(step['choice'][0])
            assert float(tf.reduce_max(probs[:, 1])) == 0, probs
    assert_exact(diff, 'float32, graph, mrs_adaptive with 4 pruned', capsys)
    # A checkpoint without the lazily created variables (written before
    # any train step) does not restore a built agent: refused, not partial
    # (checked before anything is read).
    obs_space, act_space, _, _ = proprio_data
    unbuilt = build_agent(obs_space, act_space, fresh.config)
    (tmp_path / 'unbuilt').mkdir()
    unbuilt.save(tmp_path / 'unbuilt')
    with restored(fresh), pytest.raises(
            embodied.IncompatibleCheckpoint, match='does not hold all'):
        fresh.load(tmp_path / 'unbuilt')
