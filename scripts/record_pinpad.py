"""Records upstream Director's Pin Pad for tests/test_pinpad.py.

    python scripts/record_pinpad.py --mirror /path/to/director.git

Upstream's package is also named `embodied`, so its environment runs in a
child process whose PYTHONPATH holds only the upstream tree (extracted from
the bare git directory with `git archive` into --upstream, outside this
repository). For every task the child replaces the environment's spawn draws
by chosen start positions and, for the respawns after a countdown, draws of
its own (recorded), then steps one whole episode (Director's 2000 steps),
the automatic reset and a few steps of the next episode. The actions come
from a scripted walker: a few fixed moves (into the wall from a pad, stay on
it), then mostly shortest paths to the next pad of the target order that
cross no other pad, 25% random moves. Recorded per step: action, position,
sequence, countdown, reward, episode flags and the CRC32 of the image; some
whole images; the spawn positions; and the layout as cells.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import zlib

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
TASKS = ('three', 'four', 'five', 'six', 'seven', 'eight')
EPISODE = 2000              # upstream's default length for pinpad tasks
NEXT_EPISODE_STEPS = 30     # recorded after the automatic reset
RANDOM_MOVES = 0.25
# Upstream's action order as (dx, dy): stay, down, up, right, left.
ACTIONS = {(0, 0): 0, (0, 1): 1, (0, -1): 2, (1, 0): 3, (-1, 0): 4}
OPENING = (4, 0, 0)         # left into the wall from a pad, stay, stay
SECOND_START = (7, 6)       # a floor cell of every layout


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--mirror', type=pathlib.Path,
                        help='bare git directory of danijar/director')
    parser.add_argument('--upstream', type=pathlib.Path,
                        default=pathlib.Path('/tmp/upstream_director'),
                        help='where the upstream tree is (or is extracted)')
    parser.add_argument('--out', type=pathlib.Path,
                        default=ROOT / 'tests/data/pinpad_director.npz')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--child', action='store_true', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return record(args.upstream, args.out, args.seed)
    commit = extract(args.mirror, args.upstream)
    environ = {**os.environ, 'PYTHONPATH': str(args.upstream),
               'UPSTREAM_COMMIT': commit}
    subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).resolve()), '--child',
         '--upstream', str(args.upstream), '--out', str(args.out.resolve()),
         '--seed', str(args.seed)],
        env=environ, cwd=args.upstream, check=True)
    print(f'{args.out}: {args.out.stat().st_size / 1024:.1f} KiB')


def extract(mirror, upstream):
    """Extracts the upstream tree unless it is there; returns its commit."""
    if mirror is None:
        raise SystemExit('--mirror is required (a bare git directory)')
    if ROOT in upstream.resolve().parents:
        raise SystemExit(f'--upstream {upstream} must be outside {ROOT}')
    if not (upstream / 'embodied' / 'envs' / 'pinpad.py').exists():
        upstream.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ['git', f'--git-dir={mirror}', 'archive', 'HEAD', 'embodied'],
            capture_output=True, check=True).stdout
        subprocess.run(['tar', '-x', '-C', str(upstream)], input=archive,
                       check=True)
    return subprocess.run(
        ['git', f'--git-dir={mirror}', 'rev-parse', 'HEAD'],
        capture_output=True, text=True, check=True).stdout.strip()


class ScriptedSpawns:
    """Stands in for the environment's RandomState: each draw returns the
    index of the next chosen start, or of a cell drawn by its own RNG."""

    def __init__(self, cells, starts, seed):
        self.cells = cells
        self.starts = list(starts)
        self.rng = np.random.default_rng(seed)
        self.drawn = []

    def randint(self, count):
        assert count == len(self.cells), (count, len(self.cells))
        if self.starts:
            index = self.cells.index(self.starts.pop(0))
        else:
            index = int(self.rng.integers(count))
        self.drawn.append(self.cells[index])
        return index


def record(upstream, out, seed):
    import embodied
    assert pathlib.Path(embodied.__file__).is_relative_to(upstream), (
        embodied.__file__)
    from embodied.envs import pinpad
    rng = np.random.default_rng(seed)
    data = {'upstream_commit': np.array(os.environ['UPSTREAM_COMMIT'])}
    for task in TASKS:
        env = pinpad.PinPad(task, EPISODE)
        cells = layout_cells(env)
        first_pad = min(
            (y, x) for (x, y), char in np.ndenumerate(env.layout)
            if char == '1')
        spawns = ScriptedSpawns(
            [tuple(map(int, cell)) for cell in env.spawns],
            [first_pad[::-1], SECOND_START], seed=rng.integers(2 ** 31))
        env.random = spawns
        steps = record_steps(env, cells, rng)
        for key, value in steps.items():
            data[f'{task}_{key}'] = value
        data[f'{task}_spawns'] = np.array(spawns.drawn, np.int8)
        data[f'{task}_cells'] = cells
        rewards = steps['reward']
        print(f'pinpad_{task}: {len(rewards)} steps, {int(rewards.sum())} '
              f'reward, {len(spawns.drawn)} spawns, '
              f"{len(steps['image_steps'])} images")
    np.savez_compressed(out, **data)


def layout_cells(env):
    """[y, x] int8: -1 wall, 0 floor, k pad k."""
    codes = {'#': -1, ' ': 0, **{str(k): k for k in range(1, 9)}}
    return np.array(
        [[codes[char] for char in column] for column in env.layout],
        np.int8).T


def record_steps(env, cells, rng):
    rows = []
    images = {}
    opening = []
    for index in range(1 + EPISODE + 1 + NEXT_EPISODE_STEPS):
        reset = index == 0
        if reset or env.done:
            action, opening = 0, list(OPENING)
        elif opening:
            action = opening.pop(0)
        else:
            action = choose_action(env, cells, rng)
        obs = env.step({'action': action, 'reset': reset})
        image = np.ascontiguousarray(obs['image'])
        rows.append(dict(
            action=action, position=tuple(map(int, env.player)),
            sequence=[int(pad) for pad in env.sequence],
            countdown=env.countdown, reward=obs['reward'],
            is_first=obs['is_first'], is_last=obs['is_last'],
            is_terminal=obs['is_terminal'],
            image_crc=zlib.crc32(image.tobytes())))
        if keep_image(index, rows):
            images[index] = image
    pads = len(env.target)
    sequences = np.zeros((len(rows), pads), np.int8)
    for index, row in enumerate(rows):
        sequences[index, :len(row['sequence'])] = row['sequence']
    column = lambda key, dtype: np.array([row[key] for row in rows], dtype)
    return dict(
        action=column('action', np.int8),
        position=column('position', np.int8),
        sequence=sequences,
        countdown=column('countdown', np.int8),
        reward=column('reward', np.float32),
        is_first=column('is_first', bool),
        is_last=column('is_last', bool),
        is_terminal=column('is_terminal', bool),
        image_crc=column('image_crc', np.uint32),
        image_steps=np.array(sorted(images), np.int32),
        images=np.array([images[i] for i in sorted(images)], np.uint8))


def keep_image(index, rows):
    """The opening, the first reward, its countdown and respawn, the
    episode's end and the next episode's start."""
    if index <= len(OPENING) or rows[-1]['is_first'] or rows[-1]['is_last']:
        return True
    rewarded = [i for i, row in enumerate(rows) if row['reward']]
    return bool(rewarded) and index - rewarded[0] in (0, 1, 9, 10)


def choose_action(env, cells, rng):
    """The first move of a shortest path to the next pad of the target order
    that crosses no other pad; a random move with probability RANDOM_MOVES
    and during the countdown."""
    if rng.random() < RANDOM_MOVES or env.countdown:
        return int(rng.integers(len(ACTIONS)))
    target = [int(pad) for pad in env.target]
    sequence = [int(pad) for pad in env.sequence]
    done = max(k for k in range(len(target) + 1)
               if k <= len(sequence) and sequence[len(sequence) - k:]
               == target[:k])
    goal = target[done % len(target)]
    start = tuple(map(int, env.player))
    if cells[start[1], start[0]] == goal:
        return ACTIONS[(0, 0)]
    first_moves = {start: None}
    frontier = [start]
    while frontier:
        following = []
        for x, y in frontier:
            for dx, dy in list(ACTIONS)[1:]:
                cell = (x + dx, y + dy)
                code = cells[cell[1], cell[0]]
                if cell in first_moves or code < 0 or code not in (0, goal):
                    continue
                first_moves[cell] = first_moves[(x, y)] or (dx, dy)
                if code == goal:
                    return ACTIONS[first_moves[cell]]
                following.append(cell)
        frontier = following
    return int(rng.integers(len(ACTIONS)))

if __name__ == '__main__':
    main()
