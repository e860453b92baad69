"""Checks that a train step on several devices or hosts equals the
single-device step:

    python scripts/check_distribute.py --configs dmc_proprio debug \\
        --tf.devices 2
    python scripts/check_distribute.py --configs dmc_proprio debug --hosts 2

Trains a single-device agent one step on a random global batch and a
distributed one on the same batch: under MirroredStrategy with tf.devices
replicas (logical CPUs without GPUs) in this process, or, with --hosts N,
under MultiWorkerMirroredStrategy in N worker processes of this script on
127.0.0.1 (free ports, TF_CONFIG set for each), each fed its host's share of
the batch. Then copies every variable of the single-device agent into the
distributed one, trains both one more step on a second batch and compares
the losses and every variable. Prints the largest differences as JSON;
exits 1 if one exceeds --atol. Takes the same presets and flags as
train.py; --single-jit sets the single-device agent's tf.jit apart (an XLA
step on several devices against the graph-mode reference, without XLA's
long compile twice).
"""

import argparse
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np

import embodied
from mrs_tf import cluster, configs, launch
from mrs_tf.command import command


def random_batch(obs_space, act_space, config, rng):
    shape = (config.batch_size, config.replay.chunk)
    batch = {}
    for key, space in obs_space.items():
        if key.startswith('log_'):
            continue
        if np.issubdtype(space.dtype, np.integer):
            batch[key] = rng.integers(0, 256, shape + space.shape).astype(
                space.dtype)
        else:
            batch[key] = rng.normal(size=shape + space.shape).astype(
                space.dtype)
    batch['is_first'] = np.zeros(shape, bool)
    batch['is_first'][:, 0] = True
    batch['is_last'] = np.zeros(shape, bool)
    batch['is_terminal'] = np.zeros(shape, bool)
    action = act_space['action']
    batch['action'] = rng.uniform(
        action.low, action.high, shape + action.shape).astype(np.float32)
    return batch


def train_step(agent, batch):
    """One train step; its loss metrics and every variable as numpy."""
    _, metrics = agent.train(batch)
    losses = {
        k: np.asarray(v) for k, v in metrics.items()
        if re.search('loss', k) and not k.endswith('_std')}
    return losses, [v.numpy() for v in agent.variables]


def differences(single, multi, names, replicas, atol):
    """The largest differences of two (losses, variables) results."""
    (single_losses, single_vars), (multi_losses, multi_vars) = single, multi
    assert [v.shape for v in single_vars] == [v.shape for v in multi_vars]
    loss_diff = {
        k: float(np.abs(single_losses[k] - multi_losses[k]))
        for k in single_losses}
    weight_diff = {
        f'{i}:{name}{list(a.shape)}':
            float(np.max(np.abs(a - b), initial=0))
        for i, (name, a, b) in enumerate(zip(names, single_vars, multi_vars))}
    worst_loss = max(loss_diff, key=loss_diff.get)
    worst_weight = max(weight_diff, key=weight_diff.get)
    return {
        'replicas': replicas,
        'losses': len(loss_diff), 'variables': len(weight_diff),
        'max_loss_diff': loss_diff[worst_loss], 'worst_loss': worst_loss,
        'max_weight_diff': weight_diff[worst_weight],
        'worst_weight': worst_weight,
        'passed': (
            max(loss_diff[worst_loss], weight_diff[worst_weight]) <= atol),
    }


def copy_weights(source, target):
    for value, variable in zip(source, target.variables):
        variable.assign(value)


def check_devices(config, single_config, spaces, batches, atol):
    # The multi-device agent first: TensorFlow splits the CPU into logical
    # devices only before it initialises.
    multi, single = (
        launch.make_agent(c, *spaces, announce=False)
        for c in (config, single_config))
    _, weights = train_step(single, batches[0])
    multi.train(batches[0])
    copy_weights(weights, multi)
    names = [v.name for v in single.variables]
    return differences(
        train_step(single, batches[1]), train_step(multi, batches[1]), names,
        multi.strategy.num_replicas_in_sync, atol)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(('127.0.0.1', 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def check_hosts(*args):
    with tempfile.TemporaryDirectory(prefix='check_hosts_') as workdir:
        return compare_with_workers(pathlib.Path(workdir), *args)


def compare_with_workers(
        workdir, argv, single_config, spaces, batches, hosts, atol, timeout):
    """Starts the worker processes, trains the single-device agent here
    meanwhile and compares; kills the workers on every way out."""
    np.savez(workdir / 'batches.npz', **{
        f'{i}/{k}': v for i, batch in enumerate(batches)
        for k, v in batch.items()})
    addresses = [f'127.0.0.1:{port}' for port in free_ports(hosts)]
    workers = []
    try:
        for index in range(hosts):
            env = dict(os.environ, TF_CONFIG=json.dumps({
                'cluster': {'worker': addresses},
                'task': {'type': 'worker', 'index': index}}))
            log = (workdir / f'worker{index}.log').open('w')
            workers.append(subprocess.Popen(
                [sys.executable, __file__, *argv, '--worker', str(workdir),
                 '--timeout', str(timeout)],
                env=env, stdout=log, stderr=subprocess.STDOUT))
        single = launch.make_agent(single_config, *spaces, announce=False)
        _, weights = train_step(single, batches[0])
        save_atomic(workdir / 'reference.npz',
                    {str(i): w for i, w in enumerate(weights)})
        reference = train_step(single, batches[1])
        deadline = time.time() + timeout
        for index, worker in enumerate(workers):
            code = worker.wait(timeout=max(deadline - time.time(), 1))
            if code:
                log = (workdir / f'worker{index}.log').read_text()
                raise RuntimeError(
                    f'worker {index} exited with {code}:\n{log[-3000:]}')
    finally:
        for worker in workers:
            worker.kill()
            worker.wait()
    names = [v.name for v in single.variables]
    reports = [
        differences(reference, load_result(workdir / f'result{i}.npz'),
                    names, hosts, atol)
        for i in range(hosts)]
    return max(reports, key=lambda r: max(
        r['max_loss_diff'], r['max_weight_diff']))


def save_atomic(path, arrays):
    """Writes arrays to path.npz so that a reader polling for it never sees
    a partial file."""
    partial = path.with_suffix('.partial.npz')
    np.savez(partial, **arrays)
    partial.rename(path)


def load_result(path):
    with np.load(path) as data:
        losses = {k[5:]: data[k] for k in data.files if k.startswith('loss/')}
        count = sum(k.startswith('var/') for k in data.files)
        weights = [data[f'var/{i}'] for i in range(count)]
    return losses, weights


def run_worker(config, workdir, timeout):
    """One host of check_hosts: trains on its share of both batches, taking
    the single-device agent's weights in between."""
    index, hosts = cluster.host()
    with np.load(workdir / 'batches.npz') as data:
        batches = [{}, {}]
        for key in data.files:
            step, name = key.split('/', 1)
            batches[int(step)][name] = data[key]
    size = config.batch_size // hosts
    shares = [
        {k: v[index * size:(index + 1) * size] for k, v in batch.items()}
        for batch in batches]
    agent = launch.make_agent(config, announce=False)
    agent.train(shares[0])
    reference = workdir / 'reference.npz'
    deadline = time.time() + timeout
    while not reference.exists():
        if time.time() > deadline:
            raise TimeoutError(f'no {reference} after {timeout} s')
        time.sleep(0.5)
    with np.load(reference) as data:
        copy_weights([data[str(i)] for i in range(len(data.files))], agent)
    losses, weights = train_step(agent, shares[1])
    save_atomic(workdir / f'result{index}.npz', {
        **{f'loss/{k}': v for k, v in losses.items()},
        **{f'var/{i}': w for i, w in enumerate(weights)}})


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--atol', type=float, default=1e-5)
    parser.add_argument('--single-jit', choices=('auto', 'xla', 'graph'))
    parser.add_argument('--hosts', type=int, default=1)
    parser.add_argument('--timeout', type=float, default=900)
    parser.add_argument('--worker', type=pathlib.Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args(argv)
    if args.worker:
        run_worker(configs.parse(rest).update(agent='mrs'), args.worker,
                   args.timeout)
        return 0
    os.environ.pop('TF_CONFIG', None)  # This process is the single device.
    config = configs.parse(rest).update(agent='mrs')
    if config.tf.devices < 2 and args.hosts < 2:
        raise embodied.ConfigError(
            'check_distribute needs --tf.devices >= 2 or --hosts >= 2')
    if args.hosts > 1 and config.batch_size % args.hosts:
        raise embodied.ConfigError(
            f'--hosts {args.hosts} must divide batch_size '
            f'({config.batch_size})')
    single_config = config.update({
        'tf.devices': 1, 'tf.jit': args.single_jit or config.tf.jit})
    rng = np.random.default_rng(config.seed)
    spaces = launch.env_spaces(config)
    batches = [random_batch(*spaces, config, rng) for _ in range(2)]
    if args.hosts > 1:
        result = check_hosts(
            rest, single_config, spaces, batches, args.hosts, args.atol,
            args.timeout)
    else:
        result = check_devices(
            config, single_config, spaces, batches, args.atol)
    print(json.dumps(result, indent=1))
    return 0 if result['passed'] else 1


if __name__ == '__main__':
    command(main)
