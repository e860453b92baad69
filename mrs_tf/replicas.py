"""What makes a train step give the same result on one device or on several
replicas of tf.distribute.MirroredStrategy, each with a slice of the batch.

Three rules, followed throughout the agent:
- Every variable is created by variable(): its aggregation is
  ONLY_FIRST_REPLICA, because every replica computes the same update.
- Updates depend on the data only through mean(): gradients and batch
  statistics are averaged over the replicas (equal slices, so the mean of
  the replicas' means is the mean over the global batch).
- Train-step randomness comes from uniform() and normal() inside keyed():
  each call draws the numbers for the global batch from a stateless key
  and returns this replica's rows, so the samples of a row do not depend
  on how the batch is split. Outside keyed() (the policy) they fall back
  to TensorFlow's stateful generators. Code that samples from time-major
  tensors says so with batch_axis(1).
"""

import contextlib
import threading

import numpy as np
import tensorflow as tf

_local = threading.local()  # MirroredStrategy traces replicas in threads.


def variable(initial, **kwargs):
    return tf.Variable(
        initial, aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
        **kwargs)


def _context():
    """(replica id, number of replicas); (0, 1) outside a strategy."""
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def mean(values):
    """A tensor or a list of tensors averaged over the replicas."""
    if _context()[1] == 1:
        return values
    return tf.distribute.get_replica_context().all_reduce('MEAN', values)


@contextlib.contextmanager
def keyed(seed):
    """Makes uniform() and normal() draw from the stateless key `seed` (a
    [2] integer tensor), one new key per call in the order of the calls."""
    previous = getattr(_local, 'stream', None)
    _local.stream = {'key': tf.cast(seed, tf.int64), 'calls': 0}
    try:
        yield
    finally:
        _local.stream = previous


@contextlib.contextmanager
def iteration(index):
    """Gives the body of a symbolic loop its own keys for every iteration
    (the body is traced once, so the call counter alone repeats them)."""
    stream = getattr(_local, 'stream', None)
    if stream is None:
        yield
        return
    key = stream['key']
    stream['key'] = tf.random.experimental.stateless_fold_in(key, index)
    try:
        yield
    finally:
        stream['key'] = key


@contextlib.contextmanager
def batch_axis(axis):
    """Inside, the tensors being sampled hold the batch on `axis` (0 by
    default; 1 for time-major sequences)."""
    previous = getattr(_local, 'batch_axis', 0)
    _local.batch_axis = axis
    try:
        yield
    finally:
        _local.batch_axis = previous


def uniform(shape, sample_dims=0, minval=0.0):
    """Uniform numbers in [minval, 1) of `shape`: `sample_dims` leading
    sample axes, then the sampled tensor's shape, whose batch axis (see
    batch_axis()) is this replica's slice of the batch."""
    return _draw(tf.random.stateless_uniform, tf.random.uniform, shape,
                 sample_dims, minval=minval, maxval=1.0)


def normal(shape, sample_dims=0):
    """Standard normal numbers, shaped and sliced like uniform()."""
    return _draw(tf.random.stateless_normal, tf.random.normal, shape,
                 sample_dims)


def _draw(stateless, stateful, shape, sample_dims, **kwargs):
    stream = getattr(_local, 'stream', None)
    if stream is None:
        return stateful(shape, **kwargs)
    shape = [int(d) for d in shape]
    batch_axis = sample_dims + getattr(_local, 'batch_axis', 0)
    key = tf.random.experimental.stateless_fold_in(
        stream['key'], stream['calls'])
    stream['calls'] += 1
    replica, count = _context()
    size = shape[batch_axis]
    full = list(shape)
    full[batch_axis] = size * count
    values = stateless(full, seed=key, **kwargs)
    if count == 1:
        return values
    begin = np.zeros(len(shape), np.int32).tolist()
    begin[batch_axis] = replica * size
    return tf.slice(values, begin, shape)
