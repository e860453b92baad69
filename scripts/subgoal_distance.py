"""The paper's motivating simulation (Fig. 1): how far ahead should a
subgoal be?

    python scripts/subgoal_distance.py --out DIR [--paths 50] [--seed 0]

A point agent follows paths of straight segments joined by sharp turns. At
every step it heads, at unit speed, for a subgoal d steps further along the
path, predicted with noise of a fixed size (a manager's goal prediction is
never exact). Near subgoals keep the agent on the path at the turns but the
noise swings its heading (a jittery path); far subgoals average the noise
out but cut the corners. An adaptive rule (short d where a turn is near,
long d on straights) gets the best of both, which is the case for choosing
the resolution per state (paper Sec. 1, Fig. 1).

Writes to --out: subgoal_distance.json (per d and for the adaptive rule:
mean tracking error, i.e. distance to the path, and mean absolute turning
rate in degrees per step, over all paths) and subgoal_distance.png (both
against d, and example trajectories). Deterministic for a seed; seconds on
a CPU.
"""

import argparse
import json
import pathlib

import numpy as np

DISTANCES = (1, 2, 4, 8, 16, 32)
NOISE = 0.5         # std of the predicted subgoal's position, in steps
SEGMENTS = 8
SEGMENT_LENGTH = (20, 60)
TURN_DEGREES = (60, 120)
ADAPTIVE = {'near': 2, 'far': 16, 'lookahead': 16}
RESOLUTION = 4      # path samples per unit of length


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    paths = [make_path(rng) for _ in range(args.paths)]
    policies = {f'd={d}': fixed(d) for d in DISTANCES}
    policies['adaptive'] = adaptive(**ADAPTIVE)
    results, examples = {}, {}
    for name, policy in policies.items():
        runs = [follow(path, policy, rng) for path in paths]
        results[name] = {
            'tracking_error': float(np.mean([r['error'] for r in runs])),
            'turning_deg_per_step': float(
                np.mean([r['turning'] for r in runs]))}
        examples[name] = runs[0]['trajectory']
    report = {
        'seed': args.seed, 'paths': args.paths, 'noise': NOISE,
        'adaptive': ADAPTIVE, 'results': results}
    json_path = args.out / 'subgoal_distance.json'
    json_path.write_text(json.dumps(report, indent=1) + '\n')
    print_table(results)
    print(json_path)
    print(plot(results, paths[0], examples, args.out / 'subgoal_distance.png'))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--out', required=True, type=pathlib.Path)
    parser.add_argument('--paths', type=int, default=50)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.paths < 1:
        parser.error('--paths must be at least 1')
    return args


def make_path(rng):
    """Points [N, 2] every 1 / RESOLUTION along straight segments joined by
    turns of 60-120 degrees to either side, and the indices of the
    corners."""
    heading, point = 0.0, np.zeros(2)
    points, corners = [point[None]], []
    for _ in range(SEGMENTS):
        length = rng.uniform(*SEGMENT_LENGTH)
        steps = np.arange(1, int(length * RESOLUTION) + 1) / RESOLUTION
        direction = np.array([np.cos(heading), np.sin(heading)])
        segment = point + steps[:, None] * direction
        points.append(segment)
        point = segment[-1]
        corners.append(sum(len(p) for p in points) - 1)
        turn = np.radians(rng.uniform(*TURN_DEGREES)) * rng.choice([-1, 1])
        heading += turn
    return {'points': np.concatenate(points), 'corners': np.array(corners)}


def fixed(distance):
    return lambda path, index: distance


def adaptive(near, far, lookahead):
    """Subgoals `near` steps ahead while a corner is within `lookahead`
    steps of path, `far` otherwise."""
    def policy(path, index):
        ahead = path['corners'] - index
        close = ((ahead >= 0) & (ahead <= lookahead * RESOLUTION)).any()
        return near if close else far
    return policy


def follow(path, policy, rng):
    """Unit steps toward a noisy subgoal `policy(path, progress)` steps
    ahead of the agent's progress (the nearest path point ahead of the last
    one, within reach of the subgoal), until the progress reaches the path's
    last step."""
    points = path['points']
    position = points[0].copy()
    progress, trajectory = 0, [position.copy()]
    for _ in range(4 * len(points) // RESOLUTION):
        distance = policy(path, progress)
        window = points[progress:progress + (distance + 8) * RESOLUTION]
        progress += int(np.argmin(np.linalg.norm(window - position, axis=1)))
        if progress >= len(points) - RESOLUTION:
            break
        target = min(progress + distance * RESOLUTION, len(points) - 1)
        offset = points[target] + rng.normal(0, NOISE, 2) - position
        position = position + offset / max(np.linalg.norm(offset), 1e-8)
        trajectory.append(position.copy())
    trajectory = np.array(trajectory)
    return {'error': tracking_error(trajectory, points),
            'turning': turning_rate(trajectory),
            'trajectory': trajectory}


def tracking_error(trajectory, points):
    """Mean distance from each visited position to the path."""
    distances = np.linalg.norm(
        trajectory[:, None] - points[None], axis=-1).min(1)
    return float(distances.mean())


def turning_rate(trajectory):
    """Mean absolute change of heading between steps, in degrees."""
    steps = np.diff(trajectory, axis=0)
    headings = np.arctan2(steps[:, 1], steps[:, 0])
    turns = np.angle(np.exp(1j * np.diff(headings)))
    return float(np.degrees(np.abs(turns)).mean())


def print_table(results):
    print(f"{'subgoal':>9}  {'tracking error':>14}  {'turning deg/step':>16}")
    for name, row in results.items():
        print(f"{name:>9}  {row['tracking_error']:>14.3f}  "
              f"{row['turning_deg_per_step']:>16.2f}")


def plot(results, path, examples, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    fixed_rows = [results[f'd={d}'] for d in DISTANCES]
    for ax, key, label in (
            (axes[0], 'tracking_error', 'tracking error (distance to path)'),
            (axes[1], 'turning_deg_per_step', 'turning (degrees per step)')):
        ax.plot(DISTANCES, [r[key] for r in fixed_rows], 'o-',
                label='fixed subgoal distance d')
        ax.axhline(results['adaptive'][key], color='C3', ls='--',
                   label=f"adaptive (d={ADAPTIVE['near']} near turns, "
                         f"{ADAPTIVE['far']} elsewhere)")
        ax.set_xscale('log', base=2)
        ax.set_xlabel('subgoal distance d (steps)')
        ax.set_ylabel(label)
        ax.legend(fontsize='small')
    ax = axes[2]
    ax.plot(*path['points'].T, color='black', lw=3, alpha=0.3, label='path')
    for name, color in (('d=1', 'C0'), ('d=32', 'C1'), ('adaptive', 'C3')):
        ax.plot(*examples[name].T, color=color, lw=1, label=name)
    ax.set_aspect('equal')
    ax.legend(fontsize='small')
    ax.set_title('one path')
    fig.suptitle('Near subgoals: precise but jittery; far: smooth but cut '
                 'corners (paper Fig. 1)')
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


if __name__ == '__main__':
    main()
