"""Training under tf.distribute strategies equals one device: MirroredStrategy
over 2 logical CPUs (graph mode), and MultiWorkerMirroredStrategy over 2
worker processes on 127.0.0.1 (XLA).

Each comparison runs scripts/check_distribute.py in a subprocess: splitting
the CPU into logical devices, or joining a cluster, must happen before
TensorFlow initialises, and this session's TensorFlow is already running.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
import embodied
from mrs_tf import cluster, configs, replicas

XLA_RAN = 'Compiled cluster using XLA'


def check_distribute(*flags):
    """The check's JSON result and its stderr; TensorFlow's info lines on,
    so stderr says whether XLA compiled anything."""
    result = subprocess.run(
        [sys.executable, ROOT / 'scripts' / 'check_distribute.py', '--configs',
         'dmc_proprio', 'debug', '--env.render', 'False', '--env.parallel',
         'none', '--atol', '1e-5', *flags],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='0'))
    assert '{' in result.stdout, result.stderr[-3000:]
    output = result.stdout[result.stdout.index('{'):]
    return result.returncode, json.loads(output), result.stderr


def assert_equal_to_one_device(check, replicas_in_sync=2):
    returncode, result, _ = check
    assert returncode == 0, result
    assert result['replicas'] == replicas_in_sync
    # Every variable of the agent: networks, Adam moments, normalisers.
    assert result['variables'] > 300
    assert result['losses'] >= 10
    assert result['max_loss_diff'] <= 1e-5
    assert result['max_weight_diff'] <= 1e-5


@pytest.mark.slow
def test_two_replicas_match_one_device_in_losses_and_weights():
    check = check_distribute('--tf.devices', '2', '--tf.jit', 'graph')
    assert_equal_to_one_device(check)
    assert XLA_RAN not in check[2]


@pytest.mark.slow
def test_two_hosts_with_xla_match_one_device():
    """Two worker processes under MultiWorkerMirroredStrategy, each fed its
    half of the global batch, their steps compiled by XLA in clusters,
    against one XLA-compiled device on the whole batch. XLA draws other
    random numbers than TensorFlow's kernels, so a worker step left in
    graph mode would differ by far more than 1e-5."""
    check = check_distribute(
        '--hosts', '2', '--tf.jit', 'xla', '--timeout', '1200')
    assert_equal_to_one_device(check)


def test_keyed_draws_are_reproducible_and_fresh_per_call():
    key = tf.constant([3, 7], tf.int64)
    with replicas.keyed(key):
        first = [replicas.uniform([4, 3]) for _ in range(2)]
    with replicas.keyed(key):
        again = replicas.uniform([4, 3])
    np.testing.assert_array_equal(first[0], again)
    assert not np.allclose(first[0], first[1])


def test_loop_iterations_get_their_own_draws():
    def body(total, index):
        with replicas.iteration(index):
            return replicas.normal([5])
    with replicas.keyed(tf.constant([0, 1], tf.int64)):
        draws = tf.scan(body, tf.range(3), tf.zeros([5]))
    assert not np.allclose(draws[0], draws[1])
    assert not np.allclose(draws[1], draws[2])


def test_samples_come_from_the_keyed_stream():
    from mrs_tf import distributions as dists
    logits = tf.random.normal([64, 4, 5])
    dist = dists.onehot(logits, 2)
    key = tf.constant([5, 0], tf.int64)
    with replicas.keyed(key):
        first = dist.sample()
    with replicas.keyed(key):
        second = dist.sample()
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(tf.reduce_sum(first, -1), 1.0, rtol=1e-6)


def tf_config(monkeypatch, cluster_spec, kind, index):
    monkeypatch.setenv('TF_CONFIG', json.dumps(
        {'cluster': cluster_spec, 'task': {'type': kind, 'index': index}}))


def test_hosts_count_the_chief_first(monkeypatch):
    spec = {'chief': ['a:1'], 'worker': ['b:1', 'c:1']}
    tf_config(monkeypatch, spec, 'worker', 1)
    assert cluster.host() == (2, 3)
    tf_config(monkeypatch, spec, 'chief', 0)
    assert cluster.host() == (0, 3)
    monkeypatch.delenv('TF_CONFIG')
    assert cluster.host() == (0, 1)


def test_each_host_samples_its_share_with_its_own_seeds(monkeypatch):
    tf_config(monkeypatch, {'worker': ['a:1', 'b:1']}, 'worker', 1)
    config = configs.parse(['--configs', 'debug', '--batch_size', '16'])
    assert cluster.host_batch_size(config) == 8
    assert cluster.host_seed(0) != 0


@pytest.mark.parametrize('spec, kind, index, message', [
    ({'worker': ['a:1']}, 'worker', 1, 'names no worker'),
    ({'worker': ['a:1']}, 'ps', 0, "only 'chief' and 'worker'"),
    ({'hosts': ['a:1']}, 'worker', 0, 'names no worker'),
])
def test_bad_tf_config_is_a_config_error(monkeypatch, spec, kind, index,
                                         message):
    tf_config(monkeypatch, spec, kind, index)
    with pytest.raises(embodied.ConfigError, match=message):
        cluster.host()


def test_unreadable_tf_config_is_a_config_error(monkeypatch):
    monkeypatch.setenv('TF_CONFIG', '{"cluster": ')
    with pytest.raises(embodied.ConfigError, match='TF_CONFIG must be JSON'):
        cluster.host()


def test_hosts_times_devices_must_divide_the_batch(monkeypatch):
    tf_config(monkeypatch, {'worker': ['a:1', 'b:1', 'c:1']}, 'worker', 0)
    with pytest.raises(embodied.ConfigError, match='hosts of TF_CONFIG'):
        configs.parse(['--configs', 'debug', '--batch_size', '16'])
