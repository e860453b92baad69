"""Checks that a train step on several devices equals the single-device step:

    python scripts/check_distribute.py --configs dmc_proprio debug \\
        --tf.devices 2

Builds the agent once on one device and once under MirroredStrategy with
tf.devices replicas (logical CPUs without GPUs), trains both one step on a
random batch, copies every variable of the first into the second, then
trains both one more step on a second batch and compares the losses and
every variable. Prints the largest differences as JSON; exits 1 if one
exceeds --atol. Takes the same presets and flags as train.py.
"""

import argparse
import json
import re

import numpy as np

import embodied
from mrs_tf import configs, launch


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


def compare(single, multi, batch, atol):
    """Trains both agents one step on the same batch; their largest
    differences in losses and variables."""
    _, single_metrics = single.train(batch)
    _, multi_metrics = multi.train(batch)
    losses = [
        k for k in single_metrics
        if re.search('loss', k) and not k.endswith('_std')]
    loss_diff = {
        k: float(np.abs(single_metrics[k] - multi_metrics[k])) for k in losses}
    weight_diff = {
        f'{i}:{a.name}{list(a.shape)}':
            float(np.max(np.abs(a.numpy() - b.numpy()), initial=0))
        for i, (a, b) in enumerate(zip(single.variables, multi.variables))}
    worst_loss = max(loss_diff, key=loss_diff.get)
    worst_weight = max(weight_diff, key=weight_diff.get)
    return {
        'replicas': multi.strategy.num_replicas_in_sync,
        'losses': len(losses), 'variables': len(weight_diff),
        'max_loss_diff': loss_diff[worst_loss], 'worst_loss': worst_loss,
        'max_weight_diff': weight_diff[worst_weight],
        'worst_weight': worst_weight,
        'passed': (
            max(loss_diff[worst_loss], weight_diff[worst_weight]) <= atol),
    }


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('--atol', type=float, default=1e-5)
    args, argv = parser.parse_known_args(argv)
    config = configs.parse(argv).update(agent='mrs')
    if config.tf.devices < 2:
        raise embodied.ConfigError('check_distribute needs --tf.devices >= 2')
    obs_space, act_space = launch.env_spaces(config)
    rng = np.random.default_rng(config.seed)
    first, second = (
        random_batch(obs_space, act_space, config, rng) for _ in range(2))
    # The multi-device agent first: TensorFlow splits the CPU into logical
    # devices only before it initialises.
    multi, single = (
        launch.make_agent(config.update({'tf.devices': devices}),
                          obs_space, act_space, announce=False)
        for devices in (config.tf.devices, 1))
    single.train(first)
    multi.train(first)
    assert [v.shape for v in single.variables] == [
        v.shape for v in multi.variables]
    for source, target in zip(single.variables, multi.variables):
        target.assign(source)
    result = compare(single, multi, second, args.atol)
    print(json.dumps(result, indent=1))
    return 0 if result['passed'] else 1


if __name__ == '__main__':
    launch.command(main)
