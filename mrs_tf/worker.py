"""The worker: a goal-conditioned continuous policy trained by
backpropagating returns through the world model, with a per-dimension
entropy bonus whose scale adapts toward a target ("SAC-style")."""

import tensorflow as tf

from . import nets
from .autoadapt import AutoAdapt
from .distributions import normalized_entropy
from .module import Module


class WorkerActor(Module):

    def __init__(self, act_space, config):
        actor = {**dict(config.actor), 'inputs': config.worker_inputs}
        self.net = nets.MLP(act_space.shape, **actor, dist='normal')
        self.entropy = AutoAdapt(
            act_space.shape, **config.actent, inverse=True)

    def __call__(self, state):
        return self.net(state)

    def loss(self, traj, advantage):
        """-advantage (differentiable through the imagined trajectory) plus
        the adaptive bonus on the normalised per-dimension entropy."""
        policy = self.net(nets.sg(traj))
        entropy = normalized_entropy(policy)[:-1]
        bonus, metrics = self.entropy(entropy)
        metrics = {f'actent_{k}': v for k, v in metrics.items()}
        return -advantage + tf.reduce_sum(bonus, -1), metrics
