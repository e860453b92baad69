"""Lazily built modules and the one switch for compute precision.

Variables are always float32. Layers cast their inputs and weights to the
compute dtype (float16 or bfloat16 under mixed precision) and
distributions convert their parameters back to float32, so losses are
always float32.
"""

import contextlib

import tensorflow as tf

from . import replicas

# The compute dtypes an agent may run in (tf_setup.resolve_precision maps
# tf.precision onto them).
COMPUTE_DTYPES = ('float32', 'float16', 'bfloat16')
_compute_dtype = tf.float32


def set_precision(name):
    """Selects the compute dtype by its name, one of COMPUTE_DTYPES."""
    global _compute_dtype
    if name not in COMPUTE_DTYPES:
        raise ValueError(
            f'compute dtype {name!r} is not one of {COMPUTE_DTYPES}')
    _compute_dtype = tf.as_dtype(name)


@contextlib.contextmanager
def precision(name):
    """Computes in the dtype `name` (one of COMPUTE_DTYPES) inside the
    block: an agent wraps its calls in it, so its functions trace at its
    own precision whatever another agent in the process set."""
    global _compute_dtype
    previous = _compute_dtype
    set_precision(name)
    try:
        yield
    finally:
        _compute_dtype = previous


def compute_dtype():
    return _compute_dtype


def to_compute(x):
    """Casts a tensor (or a nest of tensors) to the compute dtype."""
    return tf.nest.map_structure(lambda v: tf.cast(v, _compute_dtype), x)


class Module(tf.Module):
    """A tf.Module whose sub-layers and variables are created on first use.

    Shapes of weights come from the first inputs a layer sees, so networks
    need no size bookkeeping. Creation happens eagerly (init_scope) even
    when the first call is traced inside tf.function(jit_compile=True).
    """

    def get(self, name, ctor, *args, **kwargs):
        """Returns the sub-module `name`, built by ctor on first use."""
        if not hasattr(self, '_children'):
            self._children = {}
        if name not in self._children:
            self._children[name] = ctor(*args, **kwargs)
        return self._children[name]

    def variable(self, name, initializer, shape):
        """Returns the float32 variable `name`, created once from
        initializer(shape)."""
        if not hasattr(self, '_own_variables'):
            self._own_variables = {}
        if name not in self._own_variables:
            with tf.init_scope():
                value = initializer([int(x) for x in shape])
                self._own_variables[name] = replicas.variable(
                    tf.cast(value, tf.float32), name=name)
        return self._own_variables[name]
