"""Symmetric logarithm for targets of unknown scale (rewards, values)."""

import tensorflow as tf


# Written as log(1 + |x|) and exp(|x|) - 1 rather than log1p / expm1 so that
# results equal Director's bit for bit; for large |x| a one-ulp difference in
# symlog becomes a large absolute difference after symexp.
def symlog(x):
    """sign(x) * log(1 + |x|)."""
    return tf.sign(x) * tf.math.log(1 + tf.abs(x))


def symexp(x):
    """sign(x) * (exp(|x|) - 1), the inverse of symlog."""
    return tf.sign(x) * (tf.exp(tf.abs(x)) - 1)
