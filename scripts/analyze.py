"""Analyses a trained run from its newest checkpoint (paper Sec. 5, App. G
and H):

    python scripts/analyze.py --logdir LOGDIR --episodes 10 --out DIR \
        [--checkpoint CKPT_DIR] [--render] [--seed 0]

It rolls out episodes with the learned choice head (environments in their
own processes) and writes to --out:

  tsne.png                   t-SNE of the visited latent states (deter),
                             coloured by the resolution in use at each step
  purity.json                purity of a k-means clustering of those states
                             (k = number of resolutions) against the
                             resolution in use, and the same clustering's
                             purity against shuffled resolutions (baseline);
                             the same for the clustering's normalised mutual
                             information with the resolution, and how well a
                             nearest-neighbour classifier predicts the
                             manager's choice from the state on episodes it
                             did not see (against shuffled choices and the
                             most common choice's share); also per state the
                             cluster, the resolution in use, the manager
                             decision and the episode it belongs to, so the
                             baselines can be recomputed without the run
  goals.png                  rows: start states from the replay; columns:
                             the observed frame, then the decoded candidate
                             goal of every resolution (the chosen one framed);
                             for proprio runs: per resolution, the distance
                             of the decoded goal vector to the state now and
                             to the state l steps later (also goals.json)
  states_by_resolution.png   observed frames at which the manager chose each
                             resolution, one row per resolution

states_by_resolution.png needs images in the rollouts (vision runs, or
--render for proprio runs).

The shuffled baselines permute whole manager decisions (see
mrs_tf/analysis/choices.py). Every std printed or written is the sample
standard deviation (ddof=1) over the shuffles.

TensorFlow is imported only inside functions: environment processes are
spawned from this file and must never load it.
"""

import argparse
import json
import pathlib

import numpy as np

from mrs_tf import config_rules, configs, launch
from mrs_tf.analysis import choices, trained
from mrs_tf.analysis.trained import IMAGE_KEY
from mrs_tf.command import command


def main(argv=None):
    args = parse_args(argv)
    config = configs.load_run(args.logdir)
    config_rules.require_manager(config, "analyze.py's choice analyses")
    args.out.mkdir(parents=True, exist_ok=True)
    # The run's config.yaml may come from an eval_only run with another
    # choice policy; the analysis is of the learned choice head.
    config = config.update(
        {'eval_choice': 'learned', 'env.parallel': 'process'})
    envs = launch.make_envs(
        config.update({'env.render': config.env.render or args.render}),
        min(args.episodes, config.env.amount), seed=args.seed)
    try:
        obs_space = {
            k: v for k, v in envs[0].obs_space.items()
            if k != IMAGE_KEY or config.env.render}
        agent, checkpoint = trained.load_agent(
            config, obs_space, envs[0].act_space, args.logdir,
            args.checkpoint)
        episodes = trained.rollout(agent, envs, args.episodes)
    finally:
        for env in envs:
            env.close()
    steps = choices.step_records(episodes, config.skill_duration)
    resolutions = [str(s) for s in config.mrs.skills]
    rng = np.random.default_rng(args.seed)
    written = [plot_tsne(steps, resolutions, args, rng)]
    written.append(write_purity(steps, resolutions, checkpoint, args, rng))
    written += plot_goals(agent, resolutions, args, rng)
    written += plot_states(steps, resolutions, args, rng)
    for path in written:
        print(path)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--logdir', required=True, type=pathlib.Path)
    parser.add_argument('--episodes', type=int, default=10)
    parser.add_argument('--out', required=True, type=pathlib.Path)
    parser.add_argument(
        '--checkpoint', type=pathlib.Path, default=None,
        help='a ckpt-* directory (default: the newest of the logdir)')
    parser.add_argument(
        '--render', action='store_true',
        help='render images in the environments even if the run did not')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--tsne-states', type=int, default=5000,
        help='at most this many states, drawn uniformly, go into t-SNE')
    parser.add_argument('--shuffles', type=int, default=10)
    parser.add_argument('--goal-rows', type=int, default=6)
    parser.add_argument(
        '--goal-starts', type=int, default=64,
        help='start states for the decoded goal distances of proprio runs')
    parser.add_argument('--images-per-resolution', type=int, default=8)
    return parser.parse_args(argv)


def write_purity(steps, resolutions, checkpoint, args, rng):
    result = {
        'checkpoint': str(checkpoint), **choices.purity_report(
            steps, resolutions, args.shuffles, args.seed, rng)}
    print(f"k-means purity {result['purity']:.3f} vs "
          f"{result['random_purity']:.3f} ± "
          f"{result['random_purity_std']:.3f} with shuffled resolutions "
          f"({result['states']} states, k = {len(resolutions)}); NMI "
          f"{result['nmi']:.3f} vs {result['random_nmi']:.3f} ± "
          f"{result['random_nmi_std']:.3f}; "
          f"choice from state {result['choice_accuracy']:.3f} vs "
          f"{result['random_choice_accuracy']:.3f} ± "
          f"{result['random_choice_accuracy_std']:.3f} shuffled, "
          f"{result['majority_choice_share']:.3f} most common "
          f"({result['decisions']} manager steps); shuffled: mean ± sample "
          f'std (ddof=1) over {args.shuffles} permutations of whole '
          f'decisions')
    path = args.out / 'purity.json'
    path.write_text(choices.json_with_compact_lists(result, 'per_state'))
    return path


def plot_tsne(steps, resolutions, args, rng):
    from sklearn.manifold import TSNE
    plt = _pyplot()
    count = len(steps['choice'])
    keep = np.sort(rng.choice(
        count, min(count, args.tsne_states), replace=False))
    deter, labels = steps['deter'][keep], steps['choice'][keep]
    perplexity = min(30.0, (len(keep) - 1) / 3)
    points = TSNE(
        2, perplexity=perplexity, init='pca',
        random_state=args.seed).fit_transform(deter)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for index, name in enumerate(resolutions):
        mask = labels == index
        ax.scatter(*points[mask].T, s=4, label=f'{name} ({mask.sum()})')
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title('latent states by resolution in use (t-SNE)')
    ax.legend(title='resolution', fontsize='small', markerscale=3)
    path = args.out / 'tsne.png'
    fig.savefig(path, dpi=150, bbox_inches='tight')
    plt.close(fig)
    return path


def plot_goals(agent, resolutions, args, rng):
    if not agent.hierarchy.manager:
        print('Skipping goals: a flat run has no manager.')
        return []
    episodes = trained.replay_episodes(args.logdir / 'replay')
    if not episodes:
        print(f"Skipping goals: no episodes in {args.logdir / 'replay'}.")
        return []
    if IMAGE_KEY in agent.wm.heads['decoder'].cnn_shapes:
        return plot_goal_images(agent, episodes, resolutions, args, rng)
    return goal_vectors(agent, episodes, resolutions, args, rng)


def plot_goal_images(agent, episodes, resolutions, args, rng):
    starts = trained.random_starts(episodes, args.goal_rows, rng)
    frames, goals, chosen = trained.decode_goals(agent, starts)
    plt = _pyplot()
    columns = ['observed'] + resolutions
    fig, axes = plt.subplots(
        len(starts), len(columns), squeeze=False,
        figsize=(1.3 * len(columns), 1.3 * len(starts)))
    for row, frame in enumerate(frames):
        images = [frame] + list(goals[row])
        for column, image in enumerate(images):
            ax = axes[row, column]
            _show(ax, image)
            if column - 1 == chosen[row]:
                _frame(ax, 'red')
    for column, name in enumerate(columns):
        axes[0, column].set_title(name, fontsize='small')
    return [_save(fig, 'decoded goals per resolution (red: chosen)',
                  args.out / 'goals.png')]


def goal_vectors(agent, episodes, resolutions, args, rng):
    """Proprio runs: the decoded goals' distances (trained.goal_distances)
    over --goal-starts start states; goals.json and a bar chart
    goals.png."""
    starts = trained.random_starts(episodes, args.goal_starts, rng)
    keys, summary = trained.goal_distances(agent, starts, resolutions)
    result = {'keys': keys, 'starts': len(starts), 'resolutions': summary}
    (args.out / 'goals.json').write_text(json.dumps(result, indent=1) + '\n')
    print(json.dumps(summary))
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 * len(resolutions) + 2, 3))
    positions = np.arange(len(resolutions))
    bars = (('goal_to_now', 'decoded goal - state now'),
            ('goal_to_later', 'decoded goal - state l steps later'),
            ('later_to_now', 'state l steps later - state now'))
    for offset, (field, label) in enumerate(bars):
        values = [summary[name].get(field, np.nan) for name in resolutions]
        ax.bar(positions + (offset - 1) * 0.27, values, 0.27, label=label)
    ax.set_xticks(positions, [str(name) for name in resolutions])
    ax.set_xlabel('resolution l')
    ax.set_ylabel(f"distance ({', '.join(keys)})")
    ax.legend(fontsize='x-small')
    return [args.out / 'goals.json', _save(
        fig, f'decoded goals per resolution ({len(starts)} start states)',
        args.out / 'goals.png')]


def plot_states(steps, resolutions, args, rng):
    if IMAGE_KEY not in steps:
        print('Skipping states_by_resolution.png: the rollouts have no '
              'images (pass --render for a proprio run).')
        return []
    decisions = np.flatnonzero(steps['decision'])
    per_row = args.images_per_resolution
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(resolutions), per_row, squeeze=False,
        figsize=(1.1 * per_row, 1.2 * len(resolutions)))
    for row, name in enumerate(resolutions):
        chosen = decisions[steps['choice'][decisions] == row]
        picks = np.sort(rng.choice(
            chosen, min(len(chosen), per_row), replace=False))
        for column in range(per_row):
            ax = axes[row, column]
            if column < len(picks):
                _show(ax, steps[IMAGE_KEY][picks[column]])
            else:
                _blank(ax)
        axes[row, 0].set_ylabel(
            f'{name}\n({len(chosen)}x)', fontsize='small', rotation=0,
            ha='right', va='center')
    return [_save(fig, 'frames at which each resolution was chosen',
                  args.out / 'states_by_resolution.png')]


def _save(fig, title, path):
    fig.suptitle(title, fontsize='small')
    fig.savefig(path, dpi=100, bbox_inches='tight')
    _pyplot().close(fig)
    return path


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _show(ax, image):
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])


def _blank(ax):
    """An empty cell that still shows its axis label."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _frame(ax, color):
    for spine in ax.spines.values():
        spine.set_edgecolor(color)
        spine.set_linewidth(3)


if __name__ == '__main__':
    command(main)
