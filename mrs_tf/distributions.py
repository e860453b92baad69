"""Output distributions of the networks, all with float32 parameters.

The builders at the bottom take the raw network outputs reshaped to
batch shape + event shape and the number of event axes (`dims`).
"""

import numpy as np
import tensorflow as tf
from tensorflow_probability import distributions as tfd

from . import replicas
from .symlog import symexp, symlog


class OneHotDist(tfd.OneHotCategorical):
    """Categorical over the last axis whose samples are one-hot vectors that
    pass straight-through gradients to the class probabilities.

    unimix: mixes this fraction of the uniform distribution into the
        probabilities, which bounds the log-probability of every class.
    Samples are Gumbel-max draws from replicas.uniform (any seed is
    ignored), so they are the same on one device or several.
    """

    def __init__(self, logits=None, probs=None, unimix=0.0):
        if unimix:
            if probs is None:
                probs = tf.nn.softmax(logits, -1)
            uniform = tf.ones_like(probs) / probs.shape[-1]
            probs = (1 - unimix) * probs + unimix * uniform
            logits = None
        super().__init__(logits=logits, probs=probs, dtype=tf.float32)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        return super()._parameter_properties(dtype)

    def _sample_n(self, n, seed=None):
        logits = self.logits_parameter()
        shape = _sample_shape(n, logits)
        tiny = np.finfo(np.float32).tiny
        gumbel = -tf.math.log(-tf.math.log(
            replicas.uniform(shape, sample_dims=1, minval=tiny)))
        indices = tf.argmax(logits + gumbel, -1)
        sample = tf.one_hot(indices, logits.shape[-1], dtype=self.dtype)
        probs = self.probs_parameter()
        return tf.stop_gradient(sample) + probs - tf.stop_gradient(probs)


class Normal(tfd.Normal):
    """Normal whose samples come from replicas.normal (any seed is
    ignored), so they are the same on one device or several."""

    def _sample_n(self, n, seed=None):
        loc = self.loc + tf.zeros_like(self.scale)
        return loc + self.scale * replicas.normal(
            _sample_shape(n, loc), sample_dims=1)


class MSEDist:
    """Deterministic prediction scored by negative squared error.

    log_prob sums the squared error over the last `dims` axes, the event of
    this distribution (Director's 'mse').
    """

    def __init__(self, pred, dims):
        self.pred = tf.cast(pred, tf.float32)
        rank = self.pred.shape.rank
        self._axes = tuple(range(rank - dims, rank))
        self.batch_shape = self.pred.shape[:rank - dims]
        self.event_shape = self.pred.shape[rank - dims:]

    def mean(self):
        return self.pred

    def mode(self):
        return self.pred

    def log_prob(self, value):
        value = tf.cast(value, tf.float32)
        assert value.shape.rank == self.pred.shape.rank, (
            value.shape, self.pred.shape)
        return -tf.reduce_sum((self.pred - value) ** 2, self._axes)


class SymlogDist(MSEDist):
    """MSEDist in symlog space: the network predicts symlog(target) and the
    mean and mode are mapped back with symexp."""

    def mean(self):
        return symexp(self.pred)

    def mode(self):
        return symexp(self.pred)

    def log_prob(self, value):
        return super().log_prob(symlog(tf.cast(value, tf.float32)))


def independent(dist, dims):
    """Reinterprets the last `dims` batch axes as event axes."""
    return tfd.Independent(dist, dims) if dims else dist


def binary(logits, dims):
    """Independent Bernoulli variables (float32 samples, mean = probs)."""
    logits = tf.cast(logits, tf.float32)
    return independent(tfd.Bernoulli(logits=logits, dtype=tf.float32), dims)


def bounded_normal(mean, std, dims, minstd, maxstd):
    """Normal with mean tanh(mean) and std squashed into [minstd, maxstd].

    Carries minent and maxent, the entropies at std = minstd and maxstd, to
    normalise the entropy bonus; `.distribution.entropy()` is per dimension.
    """
    mean = tf.tanh(tf.cast(mean, tf.float32))
    std = (maxstd - minstd) * tf.sigmoid(tf.cast(std, tf.float32)) + minstd
    dist = independent(Normal(mean, std), dims)
    size = _event_size(mean, dims)
    dist.minent = size * tfd.Normal(0.0, minstd).entropy()
    dist.maxent = size * tfd.Normal(0.0, maxstd).entropy()
    return dist


def onehot(logits, dims, unimix=0.0):
    """OneHotDist over the last axis, independent over the other event axes.

    Carries minent = 0 and maxent = the entropy of the uniform distribution.
    """
    dist = OneHotDist(tf.cast(logits, tf.float32), unimix=unimix)
    dist = independent(dist, dims - 1)
    classes = int(logits.shape[-1])
    dist.minent = 0.0
    dist.maxent = _event_size(logits, dims) / classes * np.log(classes)
    return dist


def _sample_shape(n, tensor):
    if tensor.shape.is_fully_defined():
        return [n] + tensor.shape.as_list()
    return tf.concat([[n], tf.shape(tensor)], 0)


def _event_size(tensor, dims):
    rank = tensor.shape.rank
    return int(np.prod(tensor.shape[rank - dims:]))


def normalized_entropy(dist):
    """Entropy mapped so that 0 is the least and 1 the most entropy the
    distribution can have: per dimension of an Independent distribution,
    one value for a single categorical."""
    if isinstance(dist, tfd.Independent):
        entropy = dist.distribution.entropy()
        size = entropy.shape[-1]
    else:
        entropy, size = dist.entropy(), 1
    low, high = dist.minent / size, dist.maxent / size
    return (entropy - low) / (high - low)
