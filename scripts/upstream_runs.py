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

from mrs_tf.analysis import runs as run_records


def main(argv=None):
    args = parse_args(argv)
    try:
        runs = [run_records.upstream_run(d, args.task, args.label)
                for d in args.logdirs]
    except ValueError as e:
        sys.exit(f'error: {e}')
    args.out.mkdir(parents=True, exist_ok=True)
    path, = run_records.write_runs(runs, 'episode/score', args.out)
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


if __name__ == '__main__':
    main()
