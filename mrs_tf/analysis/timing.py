"""Timing the agent's train and policy steps on replayed random-policy
episodes (scripts/bench.py, scripts/gpu_check.py). TensorFlow is imported
only inside functions: environment processes are spawned by these
programs and must never load it."""

import statistics
import sys
import time

import numpy as np

import embodied

POLICY_ENVS = 4
POLICY_CALLS = 20
START = time.perf_counter()


def log(message):
    elapsed = time.perf_counter() - START
    print(f'[bench {elapsed:7.1f}s] {message}', file=sys.stderr, flush=True)


def prefilled_replay(config, envs, directory):
    """A replay in `directory` fed by a driver of `envs`, filled with
    random-policy episodes until it can be sampled."""
    replay = embodied.Replay(
        directory, config.replay.size, config.replay.chunk, seed=config.seed,
        log=log)
    driver = embodied.Driver(envs, max_restarts=config.env.restarts, log=log)
    driver.on_step(replay.add)
    agent = embodied.RandomAgent(driver.act_space, seed=config.seed)
    while not replay.stats['sampleable']:
        driver(agent.policy, episodes=1)
    return replay, driver


def time_train(agents, batch, steps):
    """Per agent: the first train call (tracing, XLA and variable creation
    included), then `steps` calls on the same batch, taking turns between
    the agents. Traces of the first call are counted apart from retraces
    during the timed calls."""
    compiles, traces = [], []
    for index, agent in enumerate(agents):
        log(f'compiling train of agent {index + 1} of {len(agents)}')
        compiles.append(timed(agent.train, batch))
        traces.append(agent.traces()['train'])
        log(f'train compiled in {compiles[-1]:.1f}s')
    log(f'timing {steps} train calls per agent')
    durations = [[] for _ in agents]
    for _ in range(steps):
        for agent, times in zip(agents, durations):
            times.append(timed(agent.train, batch))
    return [{
        'compile_s': compile_s, 'train_traces': traced,
        'train_retraces': agent.traces()['train'] - traced,
        'train_median_s': statistics.median(times),
        'train_min_s': min(times), 'train_s': times}
        for agent, compile_s, traced, times in zip(
            agents, compiles, traces, durations)]


def policy_observations(batch):
    """First steps of the batch's sequences for POLICY_ENVS environments."""
    rows = [i % len(batch['is_first']) for i in range(POLICY_ENVS)]
    return {k: v[rows, 0] for k, v in batch.items() if k != 'action'}


def time_policy(agent, batch):
    """The first policy call on the first step of the batch for POLICY_ENVS
    environments, then POLICY_CALLS calls that continue those episodes."""
    obs = policy_observations(batch)
    start = time.perf_counter()
    _, state = agent.policy(obs)
    compile_s = time.perf_counter() - start
    traces = agent.traces()['policy_train']
    obs['is_first'] = np.zeros_like(obs['is_first'])
    durations = []
    for _ in range(POLICY_CALLS):
        start = time.perf_counter()
        _, state = agent.policy(obs, state)
        durations.append(time.perf_counter() - start)
    return {
        'policy_compile_s': compile_s, 'policy_traces': traces,
        'policy_retraces': agent.traces()['policy_train'] - traces,
        'policy_median_s': statistics.median(durations),
        'policy_s': durations}


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def compute_ratios(results, numerator='mrs', denominator='director'):
    """numerator/denominator (two presets) of the median train step, of the
    train step's FLOPs and of the total parameters, for every size that
    has both presets (at each precision: keyed 'size precision' when
    several were measured). The time ratio pairs the presets measured in
    the same round (the machine's speed drifts between minutes by more
    than the difference measured) and is the median over rounds; every
    round's ratio is kept."""
    by_key = {(r['size'], r.get('precision'), r['preset'], r['round']): r
              for r in results}
    precisions = list(dict.fromkeys(r.get('precision') for r in results))
    ratios = {}
    for size in dict.fromkeys(r['size'] for r in results):
        for precision in precisions:
            pairs = [
                (by_key[size, precision, numerator, round_],
                 by_key[size, precision, denominator, round_])
                for round_ in sorted({r['round'] for r in results})
                if (size, precision, numerator, round_) in by_key
                and (size, precision, denominator, round_) in by_key]
            if not pairs:
                continue
            rounds = [
                n['train_median_s'] / d['train_median_s'] for n, d in pairs]
            first, second = pairs[0]
            key = size if len(precisions) == 1 else f'{size} {precision}'
            ratios[key] = {
                'train_median': statistics.median(rounds),
                'train_median_rounds': rounds,
                'parameters_total': (
                    first['parameters']['total']
                    / second['parameters']['total']),
                'train_flops': first['train_gflop'] / second['train_gflop']}
    return ratios


def preset_ratios(presets, results):
    """{'preset/reference': compute_ratios}: every preset measured against
    director if it is among them, else against the first."""
    presets = list(dict.fromkeys(presets))
    reference = 'director' if 'director' in presets else presets[0]
    return {
        f'{preset}/{reference}': compute_ratios(results, preset, reference)
        for preset in presets if preset != reference}


def compute_precision_ratios(results):
    """{'size preset': {'dtype/float32': ...}}: the median train step of
    each reduced precision over float32's, paired within each round like
    compute_ratios (median over rounds, every round's ratio kept)."""
    by_key = {(r['size'], r['preset'], r.get('precision'), r['round']): r
              for r in results}
    ratios = {}
    for size, preset, precision, _ in by_key:
        if precision in (None, 'float32'):
            continue
        rounds = [
            r['train_median_s'] / by_key[size, preset, 'float32', round_][
                'train_median_s']
            for (s, p, q, round_), r in sorted(by_key.items())
            if (s, p, q) == (size, preset, precision)
            and (size, preset, 'float32', round_) in by_key]
        if rounds:
            ratios.setdefault(f'{size} {preset}', {})[
                f'{precision}/float32'] = {
                    'train_median': statistics.median(rounds),
                    'train_median_rounds': rounds}
    return ratios
