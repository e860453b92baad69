"""Benchmarks the agent's train and policy steps for agent presets and sizes:

    python scripts/bench.py --presets director mrs --sizes debug default \
        --env dmc_vision [--task dmc_walker_walk] [--steps 10] \
        [--prune 12 24 48] \
        [--loop-trains 10] [--out FILE.json] [--jit auto|xla|graph] \
        [--precisions auto|16|32|bf16 ...] [--same-process] \
        [--profile-ops 3] [--interleave] [--rounds 3]

A preset is an agent preset of configs.yaml, optionally followed by
train.py flags in the same argument ('mrs --mrs.skills [8,16,inf]'); the
ratios take every preset against director if it is measured, else against
the first preset. --prune SKILL... prunes those resolutions of every
mrs.adaptive agent before timing it, as its training would have.

For every (size, preset, precision) it builds the agent as train.py does,
trains it on one replay batch of random-policy episodes and reports
parameter counts, the compile time of the first train call, the median and
minimum time of the following train calls and the policy time for 4
environments, the FLOPs of both steps counted by TensorFlow's profiler on
their traced graphs, the GFLOP/s they reach and the fraction of the float32
matmul peak measured in the same process. Then it runs the whole loop of
train.py (env.amount environments in their processes, replay, prefetched
batches, one train call every run.train_every steps) for --loop-trains
train calls and reports environment steps per second and the fraction of
the learner's time spent waiting for a batch. --profile-ops N traces N more
train calls with TensorFlow's profiler and reports the time per op type and
per name scope of the step (self time, summed over threads), the op-level
view of where a step goes. Progress goes to stderr, the tables to stdout
and, with --out, every number to that JSON file (rewritten after every
benchmark; no file without --out).

Every (size, preset, precision) is measured in a fresh child process, one
after the other, and this process prints them side by side: in one process
a second default-size agent trains ~30% slower than the first (the first
one's memory is not given back), which biased the mrs/director ratio toward
the preset measured first. --same-process measures them all here.

A shared virtual machine's speed can drift by 30% over minutes (ours did),
more than the mrs/director difference. --interleave builds the presets (and
precisions) of a size side by side in one child and alternates their train
calls, so all see the same machine; --rounds N repeats everything N times
and takes the ratios (mrs/director, and each precision against float32)
within each round, reporting the median and every round's value.

TensorFlow is imported only inside functions: environment processes are
spawned from this file and must never load it.
"""

import argparse
import gc
import json
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import time

from mrs_tf import configs, launch
from mrs_tf.analysis.op_profile import op_profile
from mrs_tf.analysis.timing import (
    compute_precision_ratios, log, policy_observations, prefilled_replay,
    preset_ratios, time_policy, time_train, timed)
from mrs_tf.command import command

SIZE_PRESETS = {
    'debug': ['debug'], 'cpu_small': ['cpu_small'], 'default': []}
PROFILE_TOP = 15
MIN_COLLECT_LENGTH = 100


def main(argv=None):
    args = parse_args(argv)
    results, setup = [], None
    data_cache = {}
    variants = [(preset, precision) for preset in args.presets
                for precision in args.precisions]
    groups = [variants] if args.interleave else [
        [variant] for variant in variants]
    for round_ in range(args.rounds):
        for size in args.sizes:
            for group_variants in groups:
                if args.isolate:
                    group_setup, group = run_child(
                        args, size, group_variants)
                else:
                    group_setup, group = run_here(
                        args, size, group_variants, data_cache, setup)
                setup = setup or group_setup
                results += [{**result, 'round': round_} for result in group]
                write_report(args, setup, results)
    print_table(results)
    print_arithmetic(results)
    print_ratios(preset_ratios(args.presets, results))
    print_precision_ratios(compute_precision_ratios(results))
    print_op_profiles(results)


def run_here(args, size, variants, data_cache, setup):
    """Benchmarks the (preset, precision) `variants` at one size in this
    process, setting up TensorFlow unless `setup` says it is. Returns
    (setup, results)."""
    configs_ = [build_config(args, size, *variant) for variant in variants]
    setup = setup or setup_tensorflow(configs_[0])
    key = data_key(configs_[0])
    if key not in data_cache:
        data_cache[key] = prepare_data(configs_[0])
    results = benchmark(
        configs_, *data_cache[key], args.steps, args.loop_trains,
        args.profile_ops, args.prune)
    gc.collect()
    return setup, [
        {'size': size, 'preset': preset, **result}
        for (preset, _), result in zip(variants, results)]


def run_child(args, size, variants):
    """Benchmarks the (preset, precision) `variants` at one size (all
    presets with all precisions of them) in a new process of this script;
    its progress goes to our stderr. Returns (setup, results)."""
    presets = list(dict.fromkeys(preset for preset, _ in variants))
    precisions = list(dict.fromkeys(precision for _, precision in variants))
    log(f"{size} {' '.join(presets)} {' '.join(precisions)}: in a child "
        'process')
    with tempfile.TemporaryDirectory() as directory:
        out = pathlib.Path(directory) / 'bench.json'
        argv = [
            sys.executable, __file__, '--same-process', '--sizes', size,
            '--presets', *presets, '--precisions', *precisions,
            '--env', args.env, '--steps',
            str(args.steps), '--loop-trains', str(args.loop_trains),
            '--profile-ops', str(args.profile_ops), '--out', str(out)]
        argv += ['--task', args.task] if args.task else []
        argv += ['--prune', *args.prune] if args.prune else []
        argv += ['--jit', args.jit]
        argv += ['--interleave'] if args.interleave else []
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        report = json.loads(out.read_text())
    setup = {k: report[k] for k in ('platform', 'precision')}
    return setup, report['results']


def write_report(args, setup, results):
    """Rewritten after every benchmark so a late failure keeps the rest;
    nothing without --out."""
    if not args.out:
        return
    report = {
        'argv': sys.argv[1:], 'env': args.env, 'task': args.task,
        'jit': args.jit, 'steps': args.steps, **setup,
        'results': results, 'ratios': preset_ratios(args.presets, results),
        'precision_ratios': compute_precision_ratios(results)}
    pathlib.Path(args.out).write_text(json.dumps(report, indent=1) + '\n')
    log(f'wrote {len(results)} result(s) to {args.out}')


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument(
        '--presets', nargs='+', default=['director', 'mrs'],
        help="agent presets of configs.yaml, each optionally with train.py "
             "flags: 'mrs --mrs.skills [8,16,inf]'")
    parser.add_argument(
        '--sizes', nargs='+', choices=list(SIZE_PRESETS),
        default=['debug', 'default'])
    parser.add_argument('--env', default='dmc_vision')
    parser.add_argument('--task', help="default: the env preset's task")
    parser.add_argument(
        '--steps', type=int, default=10,
        help='timed train calls after the first (at least 10)')
    parser.add_argument(
        '--loop-trains', type=int, default=10,
        help='train calls timed in the whole loop (0: skip the loop)')
    parser.add_argument(
        '--jit', choices=['auto', 'xla', 'graph'], default='auto',
        help="tf.jit (auto: XLA on GPUs, graph mode on CPUs)")
    parser.add_argument(
        '--precisions', nargs='+', choices=['auto', '16', '32', 'bf16'],
        default=['auto'],
        help='tf.precision of each agent (auto: float16 on GPUs, float32 on '
             'CPUs); with several, each precision is compared with 32')
    parser.add_argument(
        '--profile-ops', type=int, default=0,
        help='train calls to profile op by op (0: no profile)')
    parser.add_argument(
        '--same-process', dest='isolate', action='store_false',
        help='measure every (size, preset) in this process')
    parser.add_argument(
        '--interleave', action='store_true',
        help='build the presets of a size in one process and alternate '
             'their train calls, so that both see the same machine speed')
    parser.add_argument(
        '--rounds', type=int, default=1,
        help='measure every (size, preset) this many times, alternating; '
             'the mrs/director ratio is taken within each round')
    parser.add_argument(
        '--prune', nargs='+', default=[], metavar='SKILL',
        help='resolutions to prune in every mrs.adaptive agent before '
             'timing it')
    parser.add_argument(
        '--out', help='write every number to this JSON file (default: none)')
    args = parser.parse_args(argv)
    if args.steps < 10:
        parser.error('--steps must be at least 10')
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    return args


def build_config(args, size, preset, precision='auto'):
    """The config of `preset` ('NAME [--flag value ...]') at `size`."""
    name, *flags = shlex.split(preset)
    names = [args.env] + SIZE_PRESETS[size] + [name]
    argv = ['--configs', *names, '--tf.jit', args.jit,
            '--tf.precision', precision]
    if args.task:
        argv += ['--task', args.task]
    return configs.parse(argv + flags)


def setup_tensorflow(config):
    from mrs_tf.tf_setup import setup_tensorflow
    platform, precision = setup_tensorflow(config)
    log(f'TensorFlow on {platform}, {precision}')
    return {'platform': platform, 'precision': precision}


def data_key(config):
    """The settings that decide the spaces and the replay batch; the agent
    presets leave them alone, so presets of one size share the data."""
    keys = ('task', 'seed', 'batch_size', 'env', 'replay.chunk')
    return tuple(sorted(
        (k, str(v)) for k, v in config.flat().items()
        if any(k == key or k.startswith(key + '.') for key in keys)))


def prepare_data(config):
    """Observation and action spaces of one real environment, and a replay
    batch of random-policy episodes from two more."""
    log(f'spawning one {config.task} environment for the spaces')
    obs_space, act_space = launch.env_spaces(config)
    return obs_space, act_space, sample_batch(config)


def sample_batch(config):
    chunk = config.replay.chunk
    cap = max(chunk + 1, MIN_COLLECT_LENGTH)
    length = min(config.env.length, cap) if config.env.length else cap
    log(f'collecting random episodes of {length} steps from 2 environments')
    envs = launch.make_envs(
        config.update({'env.length': length}), 2, seed=config.seed)
    try:
        with tempfile.TemporaryDirectory() as directory:
            replay, _ = prefilled_replay(config, envs, directory)
            return replay.sample(config.batch_size)
    finally:
        for env in envs:
            env.close()


def benchmark(configs_, obs_space, act_space, batch, steps, loop_trains,
              profile_calls=0, prune=()):
    """One result per config. With several configs their agents live side
    by side and their timed train calls alternate (time_train). The
    resolutions in `prune` are pruned in every mrs.adaptive agent."""
    from mrs_tf import parameter_counts
    from mrs_tf.tf_setup import resolve_precision, use_xla
    agents, results = [], []
    for config in configs_:
        agents.append(
            launch.make_agent(config, obs_space, act_space, announce=False))
        if prune and config.mrs.adaptive:
            agents[-1].hierarchy.pruner.prune(prune)
        batch_size, chunk = batch['is_first'].shape
        results.append({
            'batch_size': batch_size, 'chunk': chunk, 'pid': os.getpid(),
            'mode': 'xla' if use_xla(config) else 'graph',
            'precision': resolve_precision(config),
            'skills': [str(s) for s in config.mrs.skills],
            'pruned': [str(s) for s in prune] if config.mrs.adaptive else []})
        log(f"built agent with skills {results[-1]['skills']} (batch "
            f"{batch_size} x {chunk} steps, {results[-1]['mode']}, "
            f"{results[-1]['precision']})")
    for result, timing in zip(results, time_train(agents, batch, steps)):
        result.update(timing)
        log(f"{' '.join(result['skills'])} {result['precision']}: train "
            f"median {result['train_median_s']:.3f}s")
    for agent, config, result in zip(agents, configs_, results):
        log(f"timing policy of skills {result['skills']} "
            f"{result['precision']}")
        result.update(time_policy(agent, batch))
        log('counting FLOPs of the traced train and policy steps')
        result.update(arithmetic(agent, batch, result))
        result['parameters'] = parameter_counts.count(agent)
        if profile_calls:
            log(f'profiling {profile_calls} train calls op by op')
            result['train_ops'] = op_profile(agent, batch, profile_calls)
        if loop_trains:
            result.update(time_loop(agent, config, loop_trains))
    return results


def arithmetic(agent, batch, timings):
    """FLOPs of a train and a policy step (TensorFlow's profiler on the
    traced graphs), the GFLOP/s they reach at their median times, and the
    fraction of this process's float32 matmul peak (matmul_peak) that is."""
    from mrs_tf import profiling
    flops = profiling.step_flops(agent, batch, policy_observations(batch))
    peak = matmul_peak()
    result = {'peak_gflops_per_s': peak}
    for name in ('train', 'policy'):
        rate = flops[name] / timings[f'{name}_median_s'] / 1e9
        result.update({
            f'{name}_gflop': flops[name] / 1e9,
            f'{name}_gflops_per_s': rate,
            f'{name}_peak_frac': rate / peak})
    return result


def matmul_peak(size=2048, repeats=10):
    """GFLOP/s of a float32 [size, size] matmul, the best of `repeats`
    after a warm-up, with the threads TensorFlow uses for the agent."""
    import tensorflow as tf
    a = tf.random.normal([size, size])
    matmul = tf.function(lambda x: tf.matmul(x, x))
    matmul(a).numpy()
    best = min(timed(lambda: matmul(a).numpy()) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def time_loop(agent, config, trains):
    """train.py's loop with this agent: after a random prefill and one
    warm-up train period, `trains` periods of run.train_every steps."""
    amount, every = config.env.amount, config.run.train_every
    log(f'whole loop: {amount} environments, a train call every {every} '
        f'steps, {trains} train calls')
    envs = launch.make_envs(config, amount, seed=config.seed + 1)
    try:
        with tempfile.TemporaryDirectory() as directory:
            replay, driver = prefilled_replay(config, envs, directory)
            batches = agent.dataset(
                lambda: replay.dataset(config.batch_size))
            times = {'steps': 0, 'wait': [], 'train': []}
            driver.on_step(lambda tran, worker: train_period(
                agent, batches, every, times))
            policy = lambda obs, state: agent.policy(obs, state, mode='train')
            driver(policy, steps=every)
            times.update(steps=0, wait=[], train=[])
            start = time.perf_counter()
            driver(policy, steps=trains * every)
            elapsed = time.perf_counter() - start
    finally:
        for env in envs:
            env.close()
    wait, learn = sum(times['wait']), sum(times['train'])
    return {
        'loop_steps': times['steps'], 'loop_s': elapsed,
        'loop_steps_per_s': times['steps'] / elapsed,
        'loop_frames_per_s': times['steps'] * config.env.repeat / elapsed,
        'loop_train_calls': len(times['train']),
        'data_wait_frac': wait / max(wait + learn, 1e-9)}


def train_period(agent, batches, every, times):
    """One environment step of the loop: a train call every `every`."""
    times['steps'] += 1
    if times['steps'] % every:
        return
    start = time.perf_counter()
    batch = next(batches)
    fetched = time.perf_counter()
    agent.train(batch)
    times['wait'].append(fetched - start)
    times['train'].append(time.perf_counter() - fetched)


def label(result, results):
    """The preset's name, with its precision when there are several and
    its round when there are several."""
    text = result['preset']
    if len({r.get('precision') for r in results}) > 1:
        text += f" {result['precision']}"
    if any(r['round'] for r in results):
        text += f" r{result['round']}"
    return text


def label_width(results):
    return max([11] + [len(label(r, results)) for r in results])


def print_arithmetic(results):
    width = label_width(results)
    header = (
        f"{'size':<8} {'preset':<{width}} {'train GFLOP':>11} {'GFLOP/s':>8} "
        f"{'of peak':>8} {'policy MFLOP':>12} {'GFLOP/s':>8} {'of peak':>8} "
        f"{'peak GFLOP/s':>12}")
    print(header)
    print('-' * len(header))
    for r in results:
        print(
            f"{r['size']:<8} {label(r, results):<{width}} "
            f"{r['train_gflop']:>11.2f} "
            f"{r['train_gflops_per_s']:>8.1f} {r['train_peak_frac']:>8.1%} "
            f"{1000 * r['policy_gflop']:>12.2f} "
            f"{r['policy_gflops_per_s']:>8.2f} {r['policy_peak_frac']:>8.1%} "
            f"{r['peak_gflops_per_s']:>12.1f}")


def print_table(results):
    width = label_width(results)
    header = (
        f"{'size':<8} {'preset':<{width}} {'params':>10} {'compile s':>10} "
        f"{'train med s':>12} {'train min s':>12} {'policy med ms':>14} "
        f"{'retraces t/p':>12} {'loop steps/s':>12} {'data wait':>9}")
    print(header)
    print('-' * len(header))
    for r in results:
        params = r['parameters']['total']
        retraces = f"{r['train_retraces']}/{r['policy_retraces']}"
        loop = (f"{r['loop_steps_per_s']:>12.2f} {r['data_wait_frac']:>9.3f}"
                if 'loop_s' in r else f"{'n/a':>12} {'n/a':>9}")
        print(
            f"{r['size']:<8} {label(r, results):<{width}} {params:>10} "
            f"{r['compile_s']:>10.1f} {r['train_median_s']:>12.3f} "
            f"{r['train_min_s']:>12.3f} {1000 * r['policy_median_s']:>14.2f} "
            f"{retraces:>12} {loop}")


def print_op_profiles(results, top=PROFILE_TOP):
    for r in results:
        if 'train_ops' not in r:
            continue
        profile = r['train_ops']
        print(f"\n{r['size']} {label(r, results)}: train step "
              f"{profile['wall_ms']:.0f} ms wall, {profile['compute_ms']:.0f} "
              'ms of op time (summed over threads)')
        for table, title in (('ops', 'op type'), ('scopes', 'name scope')):
            print(f"{title:<28} {'ms/step':>9} {'share':>7} {'count':>8}")
            for key, op in list(profile[table].items())[:top]:
                share = ('(ctrl)' if op['share'] is None
                         else f"{op['share']:.1%}")
                print(f"{key[:28]:<28} {op['ms']:>9.1f} {share:>7} "
                      f"{op['count']:>8.0f}")


def print_ratios(ratios):
    for name, by_size in ratios.items():
        for size, ratio in by_size.items():
            text = (f"{size}: {name} train-step median "
                    f"{ratio['train_median']:.2f}x")
            rounds = ratio['train_median_rounds']
            if len(rounds) > 1:
                text += (f' (median of {len(rounds)} rounds: '
                         + ' '.join(f'{r:.2f}' for r in rounds) + ')')
            text += f", train-step FLOPs {ratio['train_flops']:.2f}x"
            text += f", total parameters {ratio['parameters_total']:.2f}x"
            print(text)


def print_precision_ratios(ratios):
    for key, by_precision in ratios.items():
        for name, ratio in by_precision.items():
            rounds = ratio['train_median_rounds']
            text = (f'{key}: {name} train-step median '
                    f"{ratio['train_median']:.2f}x")
            if len(rounds) > 1:
                text += (f' (median of {len(rounds)} rounds: '
                         + ' '.join(f'{r:.2f}' for r in rounds) + ')')
            print(text)


if __name__ == '__main__':
    command(main)
