"""Adaptive resolution discovery, the paper's first direction of future
work (App. B): start from a dense set of resolutions and prune the finite
ones the manager stops choosing.

Every train step adds the share of imagined manager steps that chose each
resolution. After `window` train steps, a finite resolution whose mean
share stayed below `share` is pruned, and the counts restart. The inf
resolution and the last remaining finite one are never pruned. A pruned
resolution is never chosen again (its choice probability is zero), so its
skill head gets no gradient; its skill module stops training and leaves the
exploration reward (Eq. 6). The state is in variables: it is checkpointed
and restored with the agent, with the pruning log (the train step and the
mean share at which each resolution was pruned), which every train step's
metrics carry.
"""

import tensorflow as tf

from . import replicas
from .module import Module
from .skills import INF


class ResolutionPruner(Module):

    def __init__(self, skills, share, window):
        self.skills = tuple(skills)
        self.finite = tf.constant([s != INF for s in self.skills])
        self.share = share
        self.window = window
        count = len(self.skills)
        self.active = replicas.variable(
            tf.ones([count]), trainable=False, name='active')
        self.share_sum = replicas.variable(
            tf.zeros([count]), trainable=False, name='share_sum')
        self.steps = replicas.variable(
            0, dtype=tf.int64, trainable=False, name='steps')
        # The pruning log: train step and mean share at pruning (-1: kept).
        self.updates = replicas.variable(
            0, dtype=tf.int64, trainable=False, name='updates')
        self.pruned_at = replicas.variable(
            -tf.ones([count], tf.int64), trainable=False, name='pruned_at')
        self.pruned_share = replicas.variable(
            -tf.ones([count]), trainable=False, name='pruned_share')

    def prune(self, skills):
        """Prunes the finite resolutions `skills` (8 or '8') at once, as a
        window's end would: for a benchmark of a pruned agent, or a test.
        ValueError for inf, a resolution not in the set, or pruning the
        last finite one."""
        names = [str(s) for s in self.skills]
        finite = [n for n in names if n != INF]
        unknown = [s for s in map(str, skills) if s not in finite]
        if unknown:
            raise ValueError(
                f"cannot prune resolution {', '.join(unknown)}: the finite "
                f"ones are {', '.join(finite)}")
        pruned = [name in map(str, skills) for name in names]
        left = [n for n, a, p in zip(names, self.active.numpy(), pruned)
                if n != INF and a > 0 and not p]
        if not left:
            raise ValueError('cannot prune every finite resolution')
        pruned = tf.constant(pruned) & (self.active > 0)
        self.active.assign(tf.where(pruned, 0.0, self.active))
        self.pruned_at.assign(tf.where(pruned, self.updates, self.pruned_at))

    def update(self, shares):
        """Adds one train step's choice shares [N]; prunes at the end of a
        window. Returns metrics: the active set and the window's mean
        shares so far."""
        self.share_sum.assign_add(shares)
        self.steps.assign_add(1)
        self.updates.assign_add(1)
        mean = self.share_sum / tf.cast(self.steps, tf.float32)
        due = self.steps >= self.window
        active = self.active.read_value() > 0
        low = due & active & self.finite & (mean < self.share)
        finite_left = tf.reduce_sum(tf.cast(active & self.finite, tf.int32))
        # Never prune every finite resolution: keep the most chosen of them.
        best = tf.argmax(tf.where(active & self.finite, mean, -1.0))
        keep = tf.one_hot(best, len(self.skills), on_value=True,
                          off_value=False)
        all_low = tf.reduce_sum(tf.cast(low, tf.int32)) >= finite_left
        low = low & ~(keep & all_low)
        self.active.assign(tf.where(low, 0.0, self.active))
        self.pruned_at.assign(tf.where(low, self.updates, self.pruned_at))
        self.pruned_share.assign(tf.where(low, mean, self.pruned_share))
        self.share_sum.assign(tf.where(due, 0.0, self.share_sum))
        self.steps.assign(tf.where(due, tf.constant(0, tf.int64), self.steps))
        metrics = {}
        for i, skill in enumerate(self.skills):
            metrics[f'adaptive_active_{skill}'] = self.active[i]
            metrics[f'adaptive_share_{skill}'] = mean[i]
            metrics[f'adaptive_pruned_at_{skill}'] = tf.cast(
                self.pruned_at[i], tf.float32)
            metrics[f'adaptive_pruned_share_{skill}'] = self.pruned_share[i]
        return metrics
