"""Upstream Director's logdirs as a runs.json that plot.py plots beside ours:

    python scripts/upstream_runs.py ~/up/dmc_cartpole_swingup/seed0 \
        ~/up/dmc_cartpole_swingup/seed1 --out plots/upstream
    python scripts/plot.py logdir/learning_check/*/*/* \
        plots/upstream/runs.json --out plots --metric episode/score

Upstream (danijar/director) logs metrics.jsonl with our `step` unit
(environment frames: agent steps times action repeat) and our episode keys,
but keeps no config this script could read the task from: a run's task is
its logdir's parent folder unless --task names it. Upstream's default
script plays no evaluation episodes, so compare `episode/score`.
"""

import argparse
import pathlib
import sys

import plot


def main(argv=None):
    args = parse_args(argv)
    runs = [upstream_run(d, args.task, args.label) for d in args.logdirs]
    args.out.mkdir(parents=True, exist_ok=True)
    path, = plot.write_runs(runs, 'episode/score', args.out)
    for run in runs:
        episodes = sum('episode/score' in r for r in run['metrics'])
        print(f"{run['name']}: {episodes} episodes")
    print(path)
    return path


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('logdirs', nargs='+', type=pathlib.Path)
    parser.add_argument('--out', type=pathlib.Path, required=True)
    parser.add_argument('--task', help="default: each logdir's parent folder")
    parser.add_argument('--label', default='upstream_director')
    return parser.parse_args(argv)


def upstream_run(logdir, task=None, label='upstream_director'):
    metrics = plot.read_metrics(logdir / 'metrics.jsonl')
    if not any('episode/score' in record for record in metrics):
        sys.exit(f'error: {logdir} has no episode/score in metrics.jsonl; '
                 'is it an upstream Director logdir?')
    task = task or logdir.resolve().parent.name
    return plot.make_run(
        f'{task}/{label}/{logdir.name}', task, label, (), metrics)


if __name__ == '__main__':
    main()
