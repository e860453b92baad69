"""How close Pin Pad runs came to completing the sequence, from the
training episodes in their replay:

    python scripts/pinpad_progress.py logdir/pinpad/* [--until 30000] \
        [--out progress.json]

Per run: the episodes, the sequences they completed (reward / 10), and how
many episodes reached each highest progress, the most pads of the order
1, 2, ... entered in a row at any step (embodied.envs.pinpad.
sequence_progress; the pad count is a completion). An episode counts if it
finished at or before --until frames (the step its replay file records).
Reads no TensorFlow.
"""

import argparse
import json
import pathlib
import sys

import numpy as np

import embodied
from embodied.envs import pinpad
from mrs_tf.analysis import runs as run_records


def main(argv=None):
    args = parse_args(argv)
    rows = []
    for logdir in args.logdirs:
        try:
            rows.append(run_progress(logdir, args.until))
        except ValueError as e:
            sys.exit(f'error: {e}')
    for row in rows:
        print(format_row(row))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(
            {'until': args.until, 'runs': rows}, indent=1) + '\n')
        print(args.out)
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('logdirs', nargs='+', type=pathlib.Path)
    parser.add_argument(
        '--until', type=int, default=None,
        help='count the episodes finished at or before this frame')
    parser.add_argument('--out', type=pathlib.Path, default=None)
    return parser.parse_args(argv)


def run_progress(logdir, until=None):
    """The run's name, preset, task and per-episode highest progress and
    completions."""
    if not (logdir / 'config.yaml').exists():
        raise ValueError(f'{logdir}: no config.yaml, not a run\'s logdir')
    config = embodied.Config.load(logdir / 'config.yaml')
    if not config.task.startswith('pinpad_'):
        raise ValueError(f'{logdir}: task {config.task} is not Pin Pad')
    files = sorted(
        path for path in (logdir / 'replay').glob('*.npz')
        if until is None or embodied.replay.finished_at(path.name, -1) <= until)
    highest, completed = [], []
    for path in files:
        with np.load(path) as episode:
            highest.append(int(pinpad.sequence_progress(
                episode['sequence']).max()))
            completed.append(int(
                episode['reward'].sum() // pinpad.SUCCESS_REWARD))
    return {
        'run': logdir.name, 'preset': run_records.run_label(logdir, config),
        'task': config.task, 'episodes': len(files),
        'completed': sum(completed), 'highest_progress': highest,
    }


def format_row(row):
    counts = np.bincount(row['highest_progress'], minlength=1)
    spread = ', '.join(f'{k}: {n}' for k, n in enumerate(counts) if n)
    return (f"{row['run']:<20} {row['preset']:<10} {row['episodes']:3d} "
            f"episodes, {row['completed']} sequences completed; episodes by "
            f'highest progress {{{spread}}}')


if __name__ == '__main__':
    main()
