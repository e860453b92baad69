"""Discrete actions: the worker's categorical head and its REINFORCE loss,
the agent's index <-> one-hot boundary, and a debug run on each discrete
suite (Crafter, MiniGrid, a classic Gymnasium task)."""

import glob
import json

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import ROOT, debug_run
from mrs_tf.worker import WorkerActor, action_shape

CONFIG = embodied.load_config(ROOT / 'configs.yaml', ['--configs', 'debug'])
STEPS, BATCH = 5, 3


def imagined(action):
    """A trajectory [STEPS, BATCH] of model states, goals and actions."""
    rssm = CONFIG.rssm
    normal = lambda *shape: tf.random.stateless_normal(
        (STEPS, BATCH) + shape, seed=[len(shape), 1])
    return {
        'deter': normal(rssm.deter), 'goal': normal(rssm.deter),
        'stoch': normal(rssm.stoch, rssm.classes), 'action': action}


def loss_and_gradients(actor, traj):
    """The actor's loss for a differentiable advantage x * 1, the entropy
    bonus scale it used, the loss's gradient with respect to x (None if the
    advantage does not reach the loss by backpropagation) and whether the
    policy's weights get a gradient."""
    x = tf.Variable(1.0)
    with tf.GradientTape(persistent=True) as tape:
        actor(traj)  # Creates the variables.
        advantage = x * tf.ones((STEPS - 1, BATCH))
        loss, metrics = actor.loss(traj, advantage)
        total = tf.reduce_sum(loss)
    grad_x = tape.gradient(total, x)
    grads = tape.gradient(total, actor.net.trainable_variables)
    policy = any(
        g is not None and float(tf.reduce_sum(tf.abs(g))) > 0 for g in grads)
    return loss, metrics['actent_scale_mean'], grad_x, policy


def test_action_shape_is_one_hot_for_integer_spaces():
    assert action_shape(embodied.Space(np.int32, (), 2, 6)) == (5,)
    assert action_shape(embodied.Space(np.float32, (3,), -1, 1)) == (3,)
    with pytest.raises(embodied.ConfigError, match='one integer'):
        action_shape(embodied.Space(np.int32, (2,), 0, 3))


def test_discrete_worker_learns_by_reinforce():
    """-log pi(a) * sg(advantage): the advantage is not backpropagated
    (Director's discrete actor), the policy is."""
    actor = WorkerActor(embodied.Space(np.int32, (), 0, 4), CONFIG)
    indices = tf.random.stateless_uniform(
        (STEPS, BATCH), [0, 0], 0, 5, tf.int32)
    traj = imagined(tf.one_hot(indices, 5))
    loss, scale, grad_x, policy = loss_and_gradients(actor, traj)
    assert grad_x is None and policy
    dist = actor(traj)
    log_prob = dist.log_prob(traj['action'])[:-1]
    entropy = dist.entropy()[:-1] / np.log(5)  # Normalised: 1 is uniform.
    np.testing.assert_allclose(
        loss, -log_prob - scale * entropy, rtol=1e-5)


def test_continuous_worker_backpropagates_the_advantage():
    actor = WorkerActor(embodied.Space(np.float32, (2,), -1, 1), CONFIG)
    traj = imagined(tf.zeros((STEPS, BATCH, 2)))
    _, _, grad_x, _ = loss_and_gradients(actor, traj)
    assert float(grad_x) == pytest.approx(-(STEPS - 1) * BATCH)


@pytest.mark.slow
@pytest.mark.parametrize('name', ['cartpole', 'crafter', 'minigrid'])
def test_debug_run_trains_on_a_discrete_suite(name, debug_runs):
    logdir = debug_run(debug_runs, name)
    lines = [json.loads(line) for line in open(logdir / 'metrics.jsonl')]
    losses = [line['train/worker_actor_loss'] for line in lines
              if 'train/worker_actor_loss' in line]
    assert losses and np.isfinite(losses).all()
    config = embodied.Config.load(logdir / 'config.yaml')
    episodes = sorted(glob.glob(str(logdir / 'replay' / '*.npz')))
    actions = np.concatenate([np.load(f)['action'] for f in episodes])
    assert actions.dtype == np.int32 and actions.ndim == 1
    # Actions after training started come from the categorical worker.
    assert 0 <= actions.min() and actions.max() <= {
        'crafter': 16, 'minigrid': 6, 'cartpole': 1}[name]
    if name == 'crafter':
        assert any('episode/max_log_achievement_wake_up' in line
                   for line in lines)
    assert config.task in ('crafter_reward', 'minigrid_DoorKey-8x8-v0',
                           'gym_CartPole-v1')
