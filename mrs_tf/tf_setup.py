"""TensorFlow's process setup for an agent: the device and seeds
(setup_tensorflow), the compute precision (resolve_precision), whether the
agent's functions compile with XLA (use_xla) and its distribution strategy
(make_strategy, multi_worker_strategy)."""

import functools

import numpy as np
import tensorflow as tf

import embodied

from . import cluster


def use_xla(config):
    """tf.jit: 'xla' or 'graph'; 'auto' is XLA where there is a GPU and
    graph mode on CPUs, where TensorFlow's own kernels are faster (measured
    in docs/PERFORMANCE.md). config_rules checks the value."""
    if config.tf.jit == 'auto':
        return bool(tf.config.list_logical_devices('GPU'))
    return config.tf.jit == 'xla'


def make_strategy(config):
    """MultiWorkerMirroredStrategy when TF_CONFIG names several hosts (see
    cluster.py; each host trains on its GPUs, or its CPU); else
    MirroredStrategy over the first tf.devices GPUs, or over as many
    logical CPUs (see setup_tensorflow) without GPUs; the default strategy
    for one device."""
    if cluster.host()[1] > 1:
        return multi_worker_strategy()
    devices = config.tf.devices
    if devices == 1:
        return tf.distribute.get_strategy()
    kind = 'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'
    names = [d.name for d in tf.config.list_logical_devices(kind)][:devices]
    if len(names) < devices:
        raise embodied.ConfigError(
            f'tf.devices is {devices} but TensorFlow sees {len(names)} '
            f'{kind} devices')
    return tf.distribute.MirroredStrategy(names)


@functools.cache
def multi_worker_strategy():
    """The process's one MultiWorkerMirroredStrategy: it connects to the
    other hosts of TF_CONFIG (waiting for them) and must exist before
    TensorFlow initialises (setup_tensorflow creates it)."""
    return tf.distribute.MultiWorkerMirroredStrategy()


# tf.precision's explicit values and the compute dtype each selects.
PRECISIONS = {'16': 'float16', '32': 'float32', 'bf16': 'bfloat16'}
BF16_CAPABILITY = (8, 0)  # Ampere: the first GPUs with bfloat16 arithmetic


def resolve_precision(config):
    """The compute dtype's name for tf.precision (see module.py): 'auto' is
    mixed float16 where TensorFlow sees a GPU (the paper's; no bfloat16
    before Ampere) and float32 on CPUs (whatever the CPU supports, so that
    results do not depend on it); 16, bf16 or 32 are honoured on any device
    (on a CPU they test the GPU's paths). Variables and losses stay float32
    in every precision; only float16 scales its losses (optimizer.py)."""
    value = str(config.tf.precision)
    if value == 'auto':
        return 'float16' if tf.config.list_logical_devices('GPU') \
            else 'float32'
    if value not in PRECISIONS:
        raise embodied.ConfigError(
            f'tf.precision must be auto, 16, 32 or bf16, got {value!r}')
    return PRECISIONS[value]


def gpu_capabilities(gpus):
    """The CUDA compute capabilities (major, minor) of physical GPUs."""
    details = [tf.config.experimental.get_device_details(g) for g in gpus]
    return [tuple(d['compute_capability']) for d in details
            if 'compute_capability' in d]


def bfloat16_gap(capabilities):
    """Why GPUs of these compute capabilities cannot compute in bfloat16
    (one line), or None when all can."""
    old = [c for c in capabilities if tuple(c) < BF16_CAPABILITY]
    if not old:
        return None
    return (f"compute capability {'.'.join(map(str, min(old)))} has no "
            'bfloat16 arithmetic (Ampere, 8.0, and later have it); float16 '
            'is the precision for this GPU')


def setup_tensorflow(config):
    """Chooses the device (tf.platform auto|cpu|gpu) and the seeds; with
    tf.devices > 1 on the CPU, splits it into that many logical devices;
    on several hosts (TF_CONFIG), connects to the others. Returns the
    platform and the name of the dtype an agent of this config will compute
    in (each Agent applies its own). Must run before anything else initialises
    TensorFlow."""
    gpus = tf.config.list_physical_devices('GPU')
    platform = config.tf.platform
    if platform == 'auto':
        platform = 'gpu' if gpus else 'cpu'
    if platform == 'gpu' and not gpus:
        raise embodied.ConfigError(
            'tf.platform is gpu but TensorFlow sees no GPU; use auto or cpu')
    hosts = cluster.host()[1]
    if platform == 'cpu':
        tf.config.set_visible_devices([], 'GPU')
        if hosts > 1 and config.tf.devices > 1:
            raise embodied.ConfigError(
                'on several hosts each trains on its GPUs or on one CPU: '
                'tf.devices must be 1 without GPUs')
        if config.tf.devices > 1:
            cpu = tf.config.list_physical_devices('CPU')[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()]
                * config.tf.devices)
    if platform == 'gpu' and hosts > 1:
        if len(gpus) < config.tf.devices:
            raise embodied.ConfigError(
                f'tf.devices is {config.tf.devices} but TensorFlow sees '
                f'{len(gpus)} GPUs')
        gpus = gpus[:config.tf.devices]
        tf.config.set_visible_devices(gpus, 'GPU')
    for gpu in gpus if platform == 'gpu' else []:
        tf.config.experimental.set_memory_growth(gpu, True)
    if hosts > 1:
        multi_worker_strategy()
    dtype = resolve_precision(config)
    gap = bfloat16_gap(gpu_capabilities(gpus)) if platform == 'gpu' else None
    if dtype == 'bfloat16' and gap:
        raise embodied.ConfigError(f'tf.precision bf16: {gap}')
    if config.tf.deterministic:
        tf.config.experimental.enable_op_determinism()
    # The policy's samples differ between hosts; the train step's random
    # numbers come from config.seed itself (see Agent._train).
    tf.random.set_seed(cluster.host_seed(config.seed))
    np.random.seed(cluster.host_seed(config.seed))
    return platform, dtype
