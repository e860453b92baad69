"""Adam with gradient clipping, decoupled weight decay and loss scaling."""

import re

import numpy as np
import tensorflow as tf

from . import replicas
from .module import compute_dtype


class Optimizer(tf.Module):
    """Adam on the trainable variables of some modules.

    lr, eps: Adam's step size and epsilon (betas 0.9, 0.999).
    clip: rescale gradients whose global norm exceeds this (0: never).
    wd: decoupled weight decay, var *= 1 - wd * lr before each step, for the
        variables whose name matches the regex wd_pattern ('kernel' spares
        biases, norm parameters and learned initial states).
    Under float16 compute the loss is scaled dynamically (start 1e4, halved
    on overflow, doubled after 1000 finite steps, within [1e-4, 1e4]) and
    steps with non-finite gradients are skipped: no variable, moment or
    step count changes, and neither does the state a caller snapshots
    for the step (normalisers and adaptive scales updated by the forward
    pass, see snapshot()). A skipped step reports a gradient norm of 0 and
    an overflow of 1; only an overflow at the smallest scale, where scaling
    cannot help, reports the non-finite norm (a divergence). In float32
    and bfloat16 (float32's exponent range) no loss-scale variable exists
    and no step is skipped.
    All state lives in tf.Variables, so minimize() runs under
    tf.function(jit_compile=True) and is checkpointable.
    """

    MIN_SCALE, MAX_SCALE, GROW_AFTER = 1e-4, 1e4, 1000

    def __init__(
            self, name, lr, eps=1e-5, clip=0.0, wd=0.0, wd_pattern=r'kernel',
            beta1=0.9, beta2=0.999):
        super().__init__(name=name)
        assert 0 <= wd < 1 and (not clip or clip >= 1), (wd, clip)
        self._lr = lr
        self._eps = eps
        self._clip = clip
        self._wd = wd
        self._wd_pattern = wd_pattern
        self._beta1 = beta1
        self._beta2 = beta2
        self.steps = replicas.variable(0, trainable=False, dtype=tf.int64)
        self._trained = []
        self._moments = []
        self._scaling = compute_dtype() == tf.float16
        if self._scaling:
            self.loss_scale = replicas.variable(
                self.MAX_SCALE, trainable=False)
            self.finite_steps = replicas.variable(
                0, trainable=False, dtype=tf.int64)

    def snapshot(self, modules):
        """The values of the non-trainable variables of `modules` before a
        forward pass updates them; minimize(restore=...) puts them back if
        its step is skipped. Empty in float32, where no step is skipped."""
        if not self._scaling:
            return []
        return [(var, tf.identity(var.read_value()))
                for module in modules
                for var in module.non_trainable_variables]

    def scale_state(self):
        """The loss scale and its counter: empty unless float16."""
        if not self._scaling:
            return []
        return [self.loss_scale, self.finite_steps]

    def slots(self):
        """(variable, Adam's first moment, second moment) for every variable
        this optimizer has trained, in a fixed order."""
        return [(var, m, v) for var, (m, v) in zip(
            self._trained, self._moments)]

    def minimize(self, tape, loss, modules, restore=(), unused=False):
        """Takes one step on the gradient of the scalar float32 loss recorded
        on tape, w.r.t. the trainable variables of modules (one or a list).
        restore: a snapshot() to put back if the step is skipped. A
        variable the loss does not reach is an error, unless `unused` says
        some may sit out this step (pruned skill modules): their gradient
        is zero.
        Returns metrics {name}_loss, _grad_norm, _grad_steps and, under
        float16, _loss_scale and _grad_overflow."""
        assert loss.dtype == tf.float32 and loss.shape.rank == 0, loss
        variables = self._variables(modules)
        metrics = {f'{self.name}_loss': loss}
        if self._scaling:
            with tape:
                loss = loss * self.loss_scale
        grads = tape.gradient(loss, variables)
        if unused:
            grads = [tf.zeros_like(v) if g is None else g
                     for v, g in zip(variables, grads)]
        for var, grad in zip(variables, grads):
            if grad is None:
                raise RuntimeError(
                    f'{self.name}: no gradient for {var.name} {var.shape}.')
        grads = replicas.mean(grads)
        norm = tf.linalg.global_norm(grads)
        if self._scaling:
            scale = self.loss_scale.read_value()
            grads = [grad / scale for grad in grads]
            norm /= scale
            finite = tf.math.is_finite(norm)
            diverged = scale <= self.MIN_SCALE
            metrics[f'{self.name}_loss_scale'] = self._update_scale(finite)
            metrics[f'{self.name}_grad_overflow'] = 1 - tf.cast(
                finite, tf.float32)
            metrics[f'{self.name}_grad_norm'] = tf.where(
                finite | diverged, norm, 0.0)
        else:
            finite = tf.constant(True)
            metrics[f'{self.name}_grad_norm'] = norm
        if self._clip:
            grads, _ = tf.clip_by_global_norm(grads, self._clip, norm)
        self._apply(variables, grads, finite)
        for var, value in restore:
            var.assign(tf.where(finite, var, value))
        metrics[f'{self.name}_grad_steps'] = self.steps.read_value()
        return metrics

    def _variables(self, modules):
        modules = modules if isinstance(modules, (list, tuple)) else [modules]
        unique = {}
        for module in modules:
            for var in module.trainable_variables:
                unique.setdefault(var.ref(), var)
        variables = list(unique.values())
        if not self._moments:
            self._trained.extend(variables)
            # Appending (not reassigning) lets a checkpoint restored before
            # the first step fill these variables when they are created.
            with tf.init_scope():
                for var in variables:
                    self._moments.append((
                        replicas.variable(
                            tf.zeros_like(var), trainable=False),
                        replicas.variable(
                            tf.zeros_like(var), trainable=False)))
        assert len(variables) == len(self._moments), (
            f'{self.name}: the set of variables changed.')
        return variables

    def _update_scale(self, finite):
        grow = finite & (self.finite_steps >= self.GROW_AFTER)
        factor = tf.where(finite, tf.where(grow, 2.0, 1.0), 0.5)
        self.loss_scale.assign(tf.clip_by_value(
            self.loss_scale * factor, self.MIN_SCALE, self.MAX_SCALE))
        count = tf.where(finite & ~grow, self.finite_steps + 1, 0)
        self.finite_steps.assign(count)
        return self.loss_scale.read_value()

    def _apply(self, variables, grads, finite):
        keep_if_overflow = lambda new, old: tf.where(finite, new, old)
        steps = self.steps + tf.cast(finite, tf.int64)
        self.steps.assign(steps)
        t = tf.cast(tf.maximum(steps, 1), tf.float32)
        b1, b2 = self._beta1, self._beta2
        lr = self._lr * tf.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        for var, grad, (m, v) in zip(variables, grads, self._moments):
            new_m = b1 * m + (1 - b1) * grad
            new_v = b2 * v + (1 - b2) * grad ** 2
            new_var = var * self._decay_factor(var)
            new_var -= lr * new_m / (tf.sqrt(new_v) + self._eps)
            m.assign(keep_if_overflow(new_m, m))
            v.assign(keep_if_overflow(new_v, v))
            var.assign(keep_if_overflow(new_var, var))

    def _decay_factor(self, var):
        if self._wd and re.search(self._wd_pattern, var.name):
            return np.float32(1 - self._wd * self._lr)
        return np.float32(1.0)
