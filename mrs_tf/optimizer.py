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
    steps with non-finite gradients are skipped.
    All state lives in tf.Variables, so minimize() runs under
    tf.function(jit_compile=True) and is checkpointable.
    """

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
        self._moments = []
        self._scaling = compute_dtype() == tf.float16
        if self._scaling:
            self.loss_scale = replicas.variable(1e4, trainable=False)
            self._finite_steps = replicas.variable(
                0, trainable=False, dtype=tf.int64)

    def minimize(self, tape, loss, modules):
        """Takes one step on the gradient of the scalar float32 loss recorded
        on tape, w.r.t. the trainable variables of modules (one or a list).
        Returns metrics {name}_loss, _grad_norm, _grad_steps and, under
        float16, _loss_scale and _grad_overflow."""
        assert loss.dtype == tf.float32 and loss.shape.rank == 0, loss
        variables = self._variables(modules)
        metrics = {f'{self.name}_loss': loss}
        if self._scaling:
            with tape:
                loss = loss * self.loss_scale
        grads = tape.gradient(loss, variables)
        for var, grad in zip(variables, grads):
            if grad is None:
                raise RuntimeError(
                    f'{self.name}: no gradient for {var.name} {var.shape}.')
        grads = replicas.mean(grads)
        if self._scaling:
            grads = [grad / self.loss_scale for grad in grads]
            finite = tf.reduce_all(
                [tf.reduce_all(tf.math.is_finite(g)) for g in grads])
            metrics[f'{self.name}_loss_scale'] = self._update_scale(finite)
            metrics[f'{self.name}_grad_overflow'] = 1 - tf.cast(
                finite, tf.float32)
        else:
            finite = tf.constant(True)
        norm = tf.linalg.global_norm(grads)
        if self._clip:
            grads, _ = tf.clip_by_global_norm(grads, self._clip, norm)
        self._apply(variables, grads, finite)
        metrics[f'{self.name}_grad_norm'] = norm
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
        grow = finite & (self._finite_steps >= 1000)
        factor = tf.where(finite, tf.where(grow, 2.0, 1.0), 0.5)
        self.loss_scale.assign(
            tf.clip_by_value(self.loss_scale * factor, 1e-4, 1e4))
        count = tf.where(finite & ~grow, self._finite_steps + 1, 0)
        self._finite_steps.assign(count)
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
