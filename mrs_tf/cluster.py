"""Several hosts: which one this process is, from the TF_CONFIG environment
variable that tf.distribute.MultiWorkerMirroredStrategy reads (a cluster
of `worker` tasks, optionally a `chief` first, and this process's `task`).
Read without TensorFlow, so environment processes and config checks can
use it. Each host trains on its share of the global batch_size, sampled
from its own replay, and its environments get their own seeds."""

import json
import os

import embodied

# Spaces the hosts' environment and replay seeds apart (evaluation seeds
# sit launch.EVAL_SEED_OFFSET above a host's training seeds).
HOST_SEED_OFFSET = 100_000


def host():
    """(this host's index, number of hosts); (0, 1) without TF_CONFIG.
    Indices count the chief first, then the workers, as TensorFlow's
    replica ids do."""
    text = os.environ.get('TF_CONFIG', '').strip()
    if not text:
        return 0, 1
    try:
        spec = json.loads(text)
        tasks = spec['cluster']
        kind, index = spec['task']['type'], int(spec['task']['index'])
        order = [*tasks.get('chief', []), *tasks.get('worker', [])]
    except (ValueError, KeyError, TypeError) as error:
        raise embodied.ConfigError(
            'TF_CONFIG must be JSON with cluster.worker (a list of '
            'host:port) and task.type and task.index; '
            f'{type(error).__name__}: {error}') from None
    if kind not in ('chief', 'worker'):
        raise embodied.ConfigError(
            f"TF_CONFIG task.type is {kind!r}; only 'chief' and 'worker' "
            'tasks train')
    offset = len(tasks.get('chief', [])) if kind == 'worker' else 0
    if not 0 <= offset + index < len(order):
        raise embodied.ConfigError(
            f'TF_CONFIG task.index {index} names no {kind} of the cluster')
    return offset + index, len(order)


def host_batch_size(config):
    """Rows of the global batch this host samples from its replay."""
    return config.batch_size // host()[1]


def host_seed(seed):
    """This host's seed for its environments and replay."""
    return seed + host()[0] * HOST_SEED_OFFSET
