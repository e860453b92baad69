"""The worker: a goal-conditioned policy trained on imagined trajectories
with an entropy bonus whose scale adapts toward a target ("SAC-style").

Continuous actions (a bounded Normal) learn by backpropagating returns
through the world model; discrete actions (a one-hot categorical whose
samples pass straight-through gradients) learn by REINFORCE, as in
Director, with one entropy target over the categorical."""

import tensorflow as tf

import embodied

from . import nets
from .autoadapt import AutoAdapt
from .distributions import normalized_entropy
from .module import Module


def action_shape(space):
    """Shape of the actions the networks emit and the world model takes:
    one-hot vectors over the choices of a discrete space (an integer Space
    of shape ()), the space's own shape for continuous ones."""
    if not space.discrete:
        return space.shape
    if space.shape != ():
        raise embodied.ConfigError(
            f'discrete actions must be one integer, got {space}')
    return (int(space.high) - int(space.low) + 1,)


class WorkerActor(Module):

    def __init__(self, act_space, config):
        """act_space: the environment's action Space; an integer one gives
        a categorical over its values."""
        self.discrete = act_space.discrete
        shape = action_shape(act_space)
        actor = {**dict(config.actor), 'inputs': config.worker_inputs}
        dist = 'onehot' if self.discrete else 'normal'
        self.net = nets.MLP(shape, **actor, dist=dist)
        self.entropy = AutoAdapt(
            () if self.discrete else shape, **config.actent, inverse=True)

    def __call__(self, state):
        return self.net(state)

    def loss(self, traj, advantage):
        """The policy gradient plus the adaptive bonus on the normalised
        entropy (per dimension for continuous actions). Continuous:
        -advantage, differentiable through the imagined trajectory.
        Discrete: -log pi(a_t) * sg(advantage)."""
        policy = self.net(nets.sg(traj))
        if self.discrete:
            log_prob = policy.log_prob(nets.sg(traj['action']))[:-1]
            loss = -log_prob * nets.sg(advantage)
        else:
            loss = -advantage
        bonus, metrics = self.entropy(normalized_entropy(policy)[:-1])
        if not self.discrete:
            bonus = tf.reduce_sum(bonus, -1)
        metrics = {f'actent_{k}': v for k, v in metrics.items()}
        return loss + bonus, metrics
