"""Loss scale of a regulariser, adapted to hold it near a target."""

import tensorflow as tf

from . import replicas


class AutoAdapt(tf.Module):
    """Scales a regulariser and adapts the scale toward a target value.

    shape: shape of the scale. () gives one scale; the trailing dimensions
        of the regulariser give one scale per dimension (e.g. per action
        dimension for the actor entropy). The regulariser is averaged over
        all other (leading) axes before it is compared with the target.
    impl: 'mult' or 'fixed'.
        'mult': the scale starts at 1 (like Director, which ignores `scale`
        here). Before each loss it is multiplied by 1 + vel when the mean
        regulariser exceeds (1 + thres) * target, divided by 1 + vel when it
        is below target / (1 + thres), then clipped to [min, max].
        'fixed': the scale is the constant `scale` and never changes.
    inverse: the loss is -scale * reg and the directions swap, so a bonus
        (entropy) is pushed up toward the target instead of down.

    Keywords match the configs: `AutoAdapt(shape, **config.actent,
    inverse=True)`.
    """

    def __init__(
            self, shape=(), *, impl='mult', scale=1.0, target, min, max,
            vel=0.1, thres=0.1, inverse=False, name=None):
        super().__init__(name=name)
        self._shape = tuple(shape)
        self._impl = impl
        self._target = target
        self._min = min
        self._max = max
        self._vel = vel
        self._thres = thres
        self._inverse = inverse
        if impl == 'fixed':
            self._scale = tf.constant(scale, tf.float32)
        elif impl == 'mult':
            self._scale = replicas.variable(
                tf.ones(self._shape, tf.float32), trainable=False)
        else:
            raise NotImplementedError(impl)

    def __call__(self, reg, update=True):
        """Returns (scaled loss, metrics); adapts the scale first."""
        if update:
            self.update(reg)
        scale = self.scale()
        loss = scale * (-reg if self._inverse else reg)
        metrics = {
            'mean': tf.reduce_mean(reg),
            'std': tf.math.reduce_std(reg),
            'scale_mean': tf.reduce_mean(scale),
            'scale_std': tf.math.reduce_std(scale),
        }
        return loss, metrics

    def scale(self):
        return tf.stop_gradient(tf.convert_to_tensor(self._scale))

    def update(self, reg):
        if self._impl == 'fixed':
            return
        leading_axes = list(range(len(reg.shape) - len(self._shape)))
        avg = replicas.mean(tf.reduce_mean(reg, leading_axes))
        too_high = avg > (1 + self._thres) * self._target
        too_low = avg < self._target / (1 + self._thres)
        if self._inverse:
            too_high, too_low = too_low, too_high
        factor = 1 + self._vel
        scale = self._scale
        adapted = tf.where(
            too_high, scale * factor, tf.where(too_low, scale / factor, scale))
        self._scale.assign(tf.clip_by_value(adapted, self._min, self._max))
