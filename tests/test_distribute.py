"""Training under tf.distribute.MirroredStrategy equals one device.

The comparison runs in a subprocess: splitting the CPU into logical devices
must happen before TensorFlow initialises, and this session's TensorFlow
is already running.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT
from mrs_tf import replicas


@pytest.fixture(scope='module')
def distributed_check():
    result = subprocess.run(
        [sys.executable, ROOT / 'scripts' / 'check_distribute.py', '--configs',
         'dmc_proprio', 'debug', '--tf.devices', '2', '--env.render',
         'False', '--env.parallel', 'none', '--atol', '1e-5'],
        cwd=ROOT, capture_output=True, text=True, timeout=900)
    output = result.stdout[result.stdout.index('{'):]
    return result.returncode, json.loads(output)


def test_two_replicas_match_one_device_in_losses_and_weights(
        distributed_check):
    returncode, result = distributed_check
    assert returncode == 0, result
    assert result['replicas'] == 2
    # Every variable of the agent: networks, Adam moments, normalisers.
    assert result['variables'] > 300
    assert result['losses'] >= 10
    assert result['max_loss_diff'] <= 1e-5
    assert result['max_weight_diff'] <= 1e-5


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
