"""Acceptance run for a GPU host: the path of the Docker image's default
command (mixed float16 with XLA, dmc_vision), and the same in bfloat16,
end to end, in minutes:

    python scripts/gpu_check.py [--precisions 16 bf16]
    python scripts/gpu_check.py --cpu --size debug --env dmc_proprio \
        --jit graph

Prints the devices TensorFlow sees and the OpenGL vendor dm_control renders
with; then, for each precision (tf.precision 16: mixed float16; bf16:
bfloat16) and each agent preset at the given size, with XLA: the compile
time, median train step, policy step and peak device memory, and over
--train-steps train steps on replayed random-policy episodes whether every
loss stayed finite and, in float16, the loss-scale history of every
optimizer and its skipped (overflow) steps. bfloat16 is left out, with a
note, on a GPU older than Ampere (compute capability below 8.0: no
bfloat16 arithmetic). Exits 1 if anything fails. --cpu runs the same on
the CPU (slowly: use --size debug), so CI can check that it starts.

TensorFlow is imported only inside functions: environment processes are
spawned from this file and must never load it.
"""

import argparse
import json
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

import embodied
from mrs_tf import configs, launch
from mrs_tf.analysis import timing
from embodied.envs.check import gl_info, run_in_subprocess

AGENT_PRESETS = {'director': ['director'], 'mrs': []}
SIZE_PRESETS = {'default': [], 'debug': ['debug']}
PRECISIONS = {'16': 'float16', 'bf16': 'bfloat16'}
SKIP_LIMIT = 0.01  # share of skipped steps allowed in the second half:
# the scale doubles after 1000 finite steps and may overflow once then
LEARN_STEPS = 200  # from here on the model loss must fall (noise below)
START = time.perf_counter()


def main(argv=None):
    args = parse_args(argv)
    failures = []
    check_rendering(failures)
    try:
        runs = {(p, b): make_config(args, p, b)
                for b in args.precisions for p in args.presets}
        setup = start_tensorflow(next(iter(runs.values())))
    except launch.USER_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    precisions = supported_precisions(args.precisions, setup)
    setup['precisions'] = [PRECISIONS[b] for b in precisions]
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        config = next(iter(runs.values()))
        obs_space, act_space, replay = collect(config, directory)
        for (preset, bits), config in runs.items():
            if bits not in precisions:
                continue
            name = f'{preset} {PRECISIONS[bits]}'
            results.setdefault(PRECISIONS[bits], {})[preset] = check_agent(
                name, config, obs_space, act_space, replay,
                args.train_steps, failures)
    print_table(results)
    if args.out:
        report = {'setup': setup, 'results': results, 'failures': failures}
        pathlib.Path(args.out).write_text(json.dumps(report, indent=1))
    for failure in failures:
        print(f'FAILED: {failure}')
    print('gpu_check: ' + ('FAILED' if failures else 'all checks passed'))
    return 1 if failures else 0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--presets', nargs='+', choices=list(AGENT_PRESETS),
        default=list(AGENT_PRESETS))
    parser.add_argument(
        '--size', choices=list(SIZE_PRESETS), default='default')
    parser.add_argument(
        '--env', choices=['dmc_vision', 'dmc_proprio'], default='dmc_vision')
    parser.add_argument('--task', default='dmc_cartpole_swingup')
    parser.add_argument(
        '--precisions', nargs='+', choices=list(PRECISIONS),
        default=list(PRECISIONS), help='tf.precision values to check')
    parser.add_argument('--train-steps', type=int, default=2000)
    parser.add_argument(
        '--cpu', action='store_true',
        help='run on the CPU instead of requiring a GPU')
    parser.add_argument(
        '--jit', choices=['xla', 'graph'], default='xla',
        help='graph: skip the slow XLA compile when checking on a CPU')
    parser.add_argument('--out', help='also write the results as JSON')
    args = parser.parse_args(argv)
    if args.train_steps < 10:
        parser.error('--train-steps must be at least 10')
    return args


def log(message):
    elapsed = time.perf_counter() - START
    print(f'[gpu_check {elapsed:6.0f}s] {message}', flush=True)


def check_rendering(failures):
    """dm_control renders one frame in a process without TensorFlow."""
    try:
        info = run_in_subprocess(gl_info)
    except Exception as e:
        failures.append(f'rendering: {type(e).__name__}: {e}')
        return
    print(f"GL vendor: {info['vendor']} | renderer: {info['renderer']} | "
          f"{info['version']} (MUJOCO_GL={info['backend']})")
    if 'llvmpipe' in info['renderer'] or 'Mesa' in info['vendor']:
        print('  note: software rendering on the CPU; on a GPU host the '
              'container needs NVIDIA_DRIVER_CAPABILITIES with graphics')
    if not info['frame_mean'] > 0:
        failures.append('rendering: the rendered frame is black')


def make_config(args, preset, precision):
    names = [args.env] + SIZE_PRESETS[args.size] + AGENT_PRESETS[preset]
    return configs.parse([
        '--configs', *names, '--task', args.task,
        '--tf.platform', 'cpu' if args.cpu else 'gpu',
        '--tf.precision', precision, '--tf.jit', args.jit])


def start_tensorflow(config):
    import tensorflow as tf
    from mrs_tf import tf_setup
    platform, _ = tf_setup.setup_tensorflow(config)
    print(f'TensorFlow {tf.__version__} on {platform}, {config.tf.jit}')
    devices = tf.config.list_physical_devices()
    for device in devices:
        details = tf.config.experimental.get_device_details(device) \
            if device.device_type == 'GPU' else {}
        print(f'  {device.name} {details or ""}')
    gpus = [d for d in devices if d.device_type == 'GPU']
    return {'platform': platform, 'devices': [d.name for d in devices],
            'compute_capabilities': tf_setup.gpu_capabilities(gpus)}


def supported_precisions(precisions, setup):
    """The precisions to check: bfloat16 only on a CPU or on GPUs of compute
    capability 8.0 or later (a note says why it is left out)."""
    from mrs_tf.tf_setup import bfloat16_gap
    gap = bfloat16_gap(setup['compute_capabilities'])
    if setup['platform'] == 'gpu' and gap and 'bf16' in precisions:
        print(f'note: bfloat16 left out: {gap}')
        return [b for b in precisions if b != 'bf16']
    return list(precisions)


def collect(config, directory):
    """The spaces and a replay of random-policy episodes (two envs)."""
    log(f'collecting random-policy episodes of {config.task}')
    envs = launch.make_envs(config, 2, seed=config.seed)
    try:
        replay, _ = timing.prefilled_replay(config, envs, directory)
        return envs[0].obs_space, envs[0].act_space, replay
    finally:
        for env in envs:
            env.close()


def check_agent(name, config, obs_space, act_space, replay, steps,
                failures):
    import tensorflow as tf
    gpu = bool(tf.config.list_logical_devices('GPU'))
    if gpu:
        tf.config.experimental.reset_memory_stats('GPU:0')
    agent = launch.make_agent(config, obs_space, act_space, announce=False)
    log(f'{name}: compiling the train step')
    history, durations = [], []
    for step in range(steps):
        batch = replay.sample(config.batch_size)
        start = time.perf_counter()
        _, metrics = agent.train(batch)
        durations.append(time.perf_counter() - start)
        history.append(metrics)
        if step and step % 250 == 0:
            eta = statistics.median(durations[1:]) * (steps - step)
            log(f'{name}: {step}/{steps} train steps, '
                f"model loss {metrics['model_loss']:.2f}, ETA {eta:.0f}s")
    result = {
        'compile_s': durations[0],
        'train_median_s': statistics.median(durations[1:]),
        **timing.time_policy(agent, replay.sample(timing.POLICY_ENVS)),
        'peak_memory_gb': (tf.config.experimental.get_memory_info(
            'GPU:0')['peak'] / 2 ** 30 if gpu else None),
        **loss_scale_report(history)}
    failures += [f'{name}: {p}' for p in judge(history, result)]
    print_loss_scales(name, result)
    return result


def loss_scale_report(history):
    """Per optimizer: the loss scale after each change (step, value) and the
    steps it skipped (none in bfloat16, which has no loss scale)."""
    names = [k[:-len('_loss_scale')] for k in history[0]
             if k.endswith('_loss_scale')]
    report = {}
    for name in names:
        scales = [float(m[f'{name}_loss_scale']) for m in history]
        changes = [(0, scales[0])] + [
            (i, s) for i, s in enumerate(scales) if i and s != scales[i - 1]]
        skipped = [i for i, m in enumerate(history)
                   if m[f'{name}_grad_overflow'] > 0]
        report[name] = {'scale_changes': changes, 'skipped': skipped}
    return {'optimizers': report}


def judge(history, result):
    problems = []
    for step, metrics in enumerate(history):
        try:
            embodied.run.check_finite(metrics, step)
        except embodied.run.NonFiniteError as e:
            problems.append(str(e).split(';')[0])
            break
    half = len(history) // 2
    for name, report in result['optimizers'].items():
        late = [s for s in report['skipped'] if s >= half]
        if len(late) > max(SKIP_LIMIT * (len(history) - half), 1):
            problems.append(
                f'{name} skipped {len(late)} of the last '
                f'{len(history) - half} steps (overflow)')
    if len(history) < LEARN_STEPS:
        return problems
    tenth = len(history) // 10
    first, last = (np.mean([m['model_loss'] for m in part]) for part in (
        history[:tenth], history[-tenth:]))
    if not last < first:
        problems.append(
            f'the model loss did not fall ({first:.2f} -> {last:.2f})')
    return problems


def print_loss_scales(run, result):
    if not result['optimizers']:
        print(f'  {run}: no loss scale')
    for name, report in result['optimizers'].items():
        changes = ' -> '.join(
            f'{scale:g}@{step}' for step, scale in report['scale_changes'])
        skipped = report['skipped']
        print(f'  {run} {name}: loss scale {changes}; skipped '
              f'{len(skipped)} steps {skipped[:8]}'
              f"{' ...' if len(skipped) > 8 else ''}")


def print_table(results):
    print('| precision | preset | compile s | train step s | policy step ms | '
          'peak memory GB | skipped steps |')
    print('|---|---|---|---|---|---|---|')
    for precision, presets in results.items():
        for preset, r in presets.items():
            memory = f"{r['peak_memory_gb']:.2f}" \
                if r['peak_memory_gb'] is not None else 'n/a (CPU)'
            skipped = sum(
                len(o['skipped']) for o in r['optimizers'].values()) \
                if r['optimizers'] else 'n/a'
            print(f"| {precision} | {preset} | {r['compile_s']:.1f} | "
                  f"{r['train_median_s']:.3f} | "
                  f"{1000 * r['policy_median_s']:.1f} | {memory} | "
                  f'{skipped} |')


if __name__ == '__main__':
    sys.exit(main())
