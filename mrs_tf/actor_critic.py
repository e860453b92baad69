"""Imagination actor-critic (Director's ImagActorCritic and VFunction), for
the worker and the manager (paper App. C, Eq. 8-11): one value function per
reward stream, lambda returns against slow target networks, per-stream
return normalisation, one normalised advantage."""

import tensorflow as tf

from . import nets
from . import replicas
from .module import Module
from .normalizer import Normalizer
from .optimizer import Optimizer
from .returns import lambda_return


class Critic(Module):
    """Value function of the reward stored under traj[reward_key].

    The target network is a copy of the online network, refreshed every
    `slow_target_update` updates (mixing fraction `slow_target_fraction`);
    updates the optimizer skipped (float16 overflow) do not count.
    """

    def __init__(self, reward_key, config):
        self.reward_key = reward_key
        self.config = config
        self.net = nets.MLP((), **config.critic)
        self.target_net = nets.MLP((), **config.critic)
        self.updates = replicas.variable(-1, dtype=tf.int64, trainable=False)
        self.opt = Optimizer('critic', **config.critic_opt)

    def returns(self, traj):
        """Lambda returns of the stream and the baseline values [T, N]."""
        value = self.target_net(traj).mean()
        return lambda_return(
            traj[self.reward_key], value, traj['cont'],
            self.config.discount, self.config.return_lambda)

    def train(self, traj, target):
        """One step toward the lambda returns `target` [T, N]."""
        target = nets.sg(target)
        with tf.GradientTape() as tape:
            dist = self.net({k: v[:-1] for k, v in traj.items()})
            weight = nets.sg(traj['weight'][:-1])
            loss = -tf.reduce_mean(dist.log_prob(target) * weight)
        steps = self.opt.steps.read_value()
        metrics = self.opt.minimize(tape, loss, self.net)
        self._update_target(applied=self.opt.steps > steps)
        reward = traj[self.reward_key]
        metrics.update({
            'imag_reward_mean': tf.reduce_mean(reward),
            'imag_reward_std': tf.math.reduce_std(reward),
            'imag_return_mean': tf.reduce_mean(target),
            'imag_critic_mean': tf.reduce_mean(dist.mean()),
        })
        return metrics

    def _update_target(self, applied):
        first = self.updates < 0
        due = first | (self.updates >= self.config.slow_target_update)
        refresh = applied & due
        mix = tf.where(first, 1.0, self.config.slow_target_fraction)
        for source, target in zip(
                self.net.variables, self.target_net.variables):
            mixed = mix * source + (1 - mix) * target
            target.assign(tf.where(refresh, mixed, target))
        count = tf.where(refresh, tf.constant(0, tf.int64), self.updates)
        self.updates.assign(count + tf.cast(applied, tf.int64))


class ActorCritic(Module):
    """Trains `actor` on imagined trajectories with the weighted sum of the
    normalised advantages of its critics.

    actor: a module with `loss(traj, advantage) -> (loss [T, N], metrics)`.
    scales: weight of each reward stream; streams with weight 0 get no
        critic (as in Director).
    """

    def __init__(self, actor, reward_keys, scales, config):
        self.actor = actor
        self.scales = {k: v for k, v in scales.items() if v}
        self.critics = {
            key: Critic(reward_keys[key], config)
            for key in self.scales}
        self.retnorms = {
            key: Normalizer(**config.retnorm) for key in self.scales}
        self.advnorm = Normalizer(**config.advnorm)
        self.opt = Optimizer('actor', **config.actor_opt)

    def update(self, traj, tape):
        """Trains the critics, then the actor; `tape` must have recorded the
        imagination of `traj` (the worker backpropagates through it).

        Each stream's returns are computed once, before its critic's update,
        and serve as the critic's target and the actor's advantage. Upstream
        Director recomputes them for the actor after the update; the two
        differ only on the steps that refresh the slow target network.
        """
        metrics = {}
        with tape:
            returns = {
                key: critic.returns(traj)
                for key, critic in self.critics.items()}
        for key, critic in self.critics.items():
            mets = critic.train(traj, returns[key][0])
            metrics.update({f'{key}_{k}': v for k, v in mets.items()})
        adapted = self.opt.snapshot(
            [self.actor, self.advnorm, *self.retnorms.values()])
        with tape:
            advantages = []
            for key, (ret, baseline) in returns.items():
                ret = self.retnorms[key](ret)
                baseline = self.retnorms[key](baseline, update=False)
                advantage = ret - baseline
                metrics[f'{key}_adv_mag'] = tf.reduce_mean(tf.abs(advantage))
                advantages.append(advantage * self.scales[key])
            advantage = self.advnorm(tf.add_n(advantages))
            loss, mets = self.actor.loss(traj, advantage)
            loss = tf.reduce_mean(loss * nets.sg(traj['weight'][:-1]))
        metrics.update(mets)
        metrics.update(
            self.opt.minimize(tape, loss, self.actor, restore=adapted))
        return metrics
