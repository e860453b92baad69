"""Running normaliser for returns and advantages (Director's Normalize)."""

import tensorflow as tf

from . import replicas


class Normalizer(tf.Module):
    """Scales values by moving averages of their first two moments.

    impl: 'off' (identity), 'mean_std' (subtract the mean, divide by the
        std) or 'std' (divide by the std only, keep the mean).
    decay: decay of the exponential moving averages.
    max: largest scale factor; the std is floored at 1 / max. The keyword
        matches the configs, so `Normalizer(**config.retnorm)` works.

    The moving averages start at zero and are bias-corrected by
    1 - decay ** updates, so after the first update they equal that batch's
    moments. The statistics are float64 variables and are tracked even for
    'off'. Call with update=True at least once before update=False: with no
    update yet, the corrected moments are 0 / 0.
    """

    def __init__(self, impl='mean_std', decay=0.99, max=1e8, name=None):
        super().__init__(name=name)
        if impl not in ('off', 'mean_std', 'std'):
            raise NotImplementedError(impl)
        if max <= 0:
            raise ValueError(f'max must be positive, got {max}.')
        self._impl = impl
        self._decay = decay
        self._min_var = 1 / max ** 2
        self.mean_ema = replicas.variable(
            0.0, trainable=False, dtype=tf.float64)
        self.square_ema = replicas.variable(
            0.0, trainable=False, dtype=tf.float64)
        self.updates = replicas.variable(0, trainable=False, dtype=tf.int64)

    def __call__(self, values, update=True):
        if update:
            self.update(values)
        return self.transform(values)

    def update(self, values):
        values = tf.cast(values, tf.float64)
        mean, square = replicas.mean(
            [tf.reduce_mean(values), tf.reduce_mean(values ** 2)])
        decay = self._decay
        self.updates.assign_add(1)
        self.mean_ema.assign(decay * self.mean_ema + (1 - decay) * mean)
        self.square_ema.assign(
            decay * self.square_ema + (1 - decay) * square)

    def transform(self, values):
        if self._impl == 'off':
            return values
        mean, var = self._moments()
        scale = tf.math.rsqrt(tf.maximum(var, self._min_var))
        if self._impl == 'mean_std':
            values = values - tf.cast(mean, values.dtype)
        return values * tf.cast(scale, values.dtype)

    def _moments(self):
        correction = 1 - self._decay ** tf.cast(self.updates, tf.float64)
        mean = self.mean_ema / correction
        var = self.square_ema / correction - mean ** 2
        return mean, var
