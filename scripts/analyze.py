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

The shuffled baselines permute whole manager decisions: the resolution is
held for a skill's duration (K states), so the states of one decision share
one label and a permutation of single states would treat K dependent states
as K independent ones, making the baseline far narrower than chance. Every
std printed or written is the sample standard deviation (ddof=1) over the
shuffles.

TensorFlow is imported only inside functions: environment processes are
spawned from this file and must never load it.
"""

import argparse
import json
import pathlib

import numpy as np

import embodied
from mrs_tf import configs, launch
from mrs_tf.command import command

IMAGE_KEY = 'image'


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = configs.load_run(args.logdir)
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
        agent, checkpoint = load_agent(
            config, obs_space, envs[0].act_space, args)
        episodes = rollout(agent, envs, args.episodes)
    finally:
        for env in envs:
            env.close()
    steps = step_records(episodes, config.skill_duration)
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


def load_agent(config, obs_space, act_space, args):
    agent = launch.make_agent(config, obs_space, act_space, announce=False)
    checkpoint = embodied.Checkpoint(args.logdir / 'checkpoint')
    checkpoint.register('agent', agent)
    loaded = checkpoint.load(args.checkpoint)
    if loaded is None:
        raise SystemExit(f'no checkpoint in {args.logdir / "checkpoint"}')
    return agent, loaded


def rollout(agent, envs, episodes):
    """Episodes of the evaluation policy; each step also records the
    policy's latent deter state as log_deter."""
    driver = embodied.Driver(envs)

    def policy(obs, state):
        outs, state = agent.policy(obs, state, mode='eval')
        outs['log_deter'] = np.asarray(state[0]['deter'], np.float32)
        return outs, state

    return driver.collect_episodes(policy, episodes)[:episodes]


def step_records(episodes, duration):
    """Per visited state: deter, the resolution in use (index), whether
    the manager chose it there, the episode and the manager decision (a
    number over all episodes) it belongs to; plus the frame where rendered.

    The driver stores a policy's outputs with the observation that follows,
    so log_*[t + 1] belongs to observation t. A new resolution is chosen
    every `duration` steps from the episode start.
    """
    parts = []
    for index, episode in enumerate(episodes):
        count = len(episode['is_first']) - 1
        part = {
            'deter': episode['log_deter'][1:],
            'choice': episode['log_choice'][1:].argmax(-1),
            'decision': np.arange(count) % duration == 0,
            'episode': np.full(count, index),
        }
        if IMAGE_KEY in episode:
            part[IMAGE_KEY] = episode[IMAGE_KEY][:-1]
        parts.append(part)
    steps = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    steps['decision_id'] = np.cumsum(steps['decision']) - 1
    return steps


def cluster_purity(clusters, labels):
    """Fraction of points whose label is the most common label of their
    cluster: 1 when every cluster holds one label only."""
    clusters, labels = np.asarray(clusters), np.asarray(labels)
    if clusters.shape != labels.shape or clusters.ndim != 1:
        raise ValueError('clusters and labels must be vectors of one length')
    if not len(clusters):
        raise ValueError('no points')
    majority = 0
    for cluster in np.unique(clusters):
        _, counts = np.unique(labels[clusters == cluster], return_counts=True)
        majority += counts.max()
    return float(majority / len(clusters))


def shuffled_purity(clusters, labels, shuffles, rng, groups=None):
    """Purity of the same clusters against randomly permuted labels:
    (mean, sample std) over `shuffles` permutations, of whole groups if
    `groups` is given (see permute)."""
    return shuffled(cluster_purity, clusters, labels, shuffles, rng, groups)


def shuffled(score, inputs, labels, shuffles, rng, groups=None):
    """score(inputs, permuted labels): mean and sample standard deviation
    (ddof=1) over `shuffles` permutations (see permute)."""
    values = [
        score(inputs, permute(labels, rng, groups)) for _ in range(shuffles)]
    std = float(np.std(values, ddof=1)) if len(values) > 1 else float('nan')
    return float(np.mean(values)), std


def permute(labels, rng, groups=None):
    """The labels randomly permuted; with `groups` (one id per label, e.g.
    the manager decision a state belongs to), whole groups are permuted:
    each group takes the label of another group's first member for all its
    members. Labels held over a group are then shuffled as the one draw they
    are, not as len(group) independent ones."""
    labels = np.asarray(labels)
    if groups is None:
        return rng.permutation(labels)
    groups = np.asarray(groups)
    if groups.shape != labels.shape:
        raise ValueError('one group id per label')
    _, first, member = np.unique(
        groups, return_index=True, return_inverse=True)
    return rng.permutation(labels[first])[member.reshape(labels.shape)]


def choice_accuracy(states, labels, episodes, neighbours=15, folds=5):
    """Accuracy of a k-nearest-neighbour classifier predicting the label
    of a state, cross-validated with whole episodes held out: the states of
    one episode lie close together and share their choices for a skill's
    duration, so folds that split episodes would credit memorised episodes
    to the state."""
    from sklearn.model_selection import GroupKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier
    folds = min(folds, len(np.unique(episodes)))
    if folds < 2:
        raise ValueError('the choice accuracy needs states of two episodes')
    splits = list(GroupKFold(folds).split(states, labels, episodes))
    smallest = min(len(train) for train, _ in splits)
    classifier = KNeighborsClassifier(min(neighbours, smallest))
    return float(cross_val_score(
        classifier, states, labels, cv=splits).mean())


def write_purity(steps, resolutions, checkpoint, args, rng):
    from sklearn.cluster import KMeans
    deter, labels = steps['deter'], steps['choice']
    groups = steps['decision_id']
    kmeans = KMeans(len(resolutions), n_init=10, random_state=args.seed)
    clusters = kmeans.fit_predict(deter)
    purity = cluster_purity(clusters, labels)
    baseline, baseline_std = shuffled_purity(
        clusters, labels, args.shuffles, rng, groups)
    nmi, nmi_baseline = mutual_information(
        clusters, labels, args, rng, groups)
    counts = np.bincount(labels, minlength=len(resolutions))
    result = {
        'checkpoint': str(checkpoint), 'states': len(labels),
        'clusters': len(resolutions), 'resolutions': resolutions,
        'choice_counts': dict(zip(resolutions, counts.tolist())),
        'purity': purity, 'random_purity': baseline,
        'random_purity_std': baseline_std, 'shuffles': args.shuffles,
        'shuffled_by': 'decision', 'std_ddof': 1,
        'nmi': nmi, 'random_nmi': nmi_baseline[0],
        'random_nmi_std': nmi_baseline[1],
        **choice_predictions(steps, args, rng),
        'per_state': {
            'cluster': clusters.tolist(), 'choice': labels.tolist(),
            'decision_id': groups.tolist(),
            'episode': steps['episode'].tolist()},
    }
    print(f'k-means purity {purity:.3f} vs {baseline:.3f} ± '
          f'{baseline_std:.3f} with shuffled resolutions '
          f'({len(labels)} states, k = {len(resolutions)}); NMI '
          f'{nmi:.3f} vs {nmi_baseline[0]:.3f} ± {nmi_baseline[1]:.3f}; '
          f"choice from state {result['choice_accuracy']:.3f} vs "
          f"{result['random_choice_accuracy']:.3f} ± "
          f"{result['random_choice_accuracy_std']:.3f} shuffled, "
          f"{result['majority_choice_share']:.3f} most common "
          f"({result['decisions']} manager steps); shuffled: mean ± sample "
          f'std (ddof=1) over {args.shuffles} permutations of whole '
          f'decisions')
    path = args.out / 'purity.json'
    path.write_text(json_with_compact_lists(result, 'per_state'))
    return path


def json_with_compact_lists(result, key):
    """JSON text of `result` indented, but with each list of result[key]
    on one line (thousands of per-state entries)."""
    head = json.dumps({k: v for k, v in result.items() if k != key}, indent=2)
    lists = ',\n'.join(
        f'    {json.dumps(name)}: {json.dumps(values)}'
        for name, values in result[key].items())
    return f'{head[:-2]},\n  {json.dumps(key)}: {{\n{lists}\n  }}\n}}\n'


def mutual_information(clusters, labels, args, rng, groups=None):
    """Normalised mutual information of the clusters with the labels, and
    with shuffled labels (mean, sample std): unlike purity, it does not sit
    at the most common label's share when one label dominates every
    cluster."""
    score = normalized_mutual_information
    return score(clusters, labels), shuffled(
        score, clusters, labels, args.shuffles, rng, groups)


def normalized_mutual_information(clusters, labels):
    from sklearn.metrics import normalized_mutual_info_score
    return float(normalized_mutual_info_score(labels, clusters))


def choice_predictions(steps, args, rng):
    """Is the manager's choice a function of the state (Fig. 6)? The
    choice at its decision steps predicted from the state on held-out
    episodes, against the same with shuffled choices (one label per
    decision, so these already permute whole decisions)."""
    decision = steps['decision']
    states = steps['deter'][decision]
    labels = steps['choice'][decision]
    episodes = steps['episode'][decision]
    score = lambda s, l: choice_accuracy(s, l, episodes)
    baseline = shuffled(score, states, labels, args.shuffles, rng)
    return {
        'decisions': int(decision.sum()),
        'choice_accuracy': score(states, labels),
        'random_choice_accuracy': baseline[0],
        'random_choice_accuracy_std': baseline[1],
        'majority_choice_share': float(
            np.bincount(labels).max() / len(labels)),
    }


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
    episodes = replay_episodes(args.logdir / 'replay')
    if not episodes:
        print(f"Skipping goals: no episodes in {args.logdir / 'replay'}.")
        return []
    if IMAGE_KEY in agent.wm.heads['decoder'].cnn_shapes:
        return plot_goal_images(agent, episodes, resolutions, args, rng)
    return goal_vectors(agent, episodes, resolutions, args, rng)


def plot_goal_images(agent, episodes, resolutions, args, rng):
    starts = random_starts(episodes, args.goal_rows, rng)
    frames, goals, chosen = decode_goals(agent, starts)
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
    """Proprio runs: how far each resolution's decoded goal lies from the
    observed state, and from the state l steps later in the replay (for
    finite l), against how far the state really moved in l steps; over
    --goal-starts start states. goals.json and a bar chart goals.png."""
    keys = sorted(agent.wm.heads['decoder'].mlp_shapes)
    starts = random_starts(episodes, args.goal_starts, rng)
    latents = [posterior_at(agent, episode, t) for episode, t in starts]
    latent = {
        k: np.concatenate([l[k] for l in latents], 0) for k in latents[0]}
    goals, chosen = agent.goal_observations(latent)
    flat = lambda parts: np.concatenate(
        [np.reshape(p, p.shape[:1] + (-1,)) for p in parts], -1)
    goal = np.stack([
        flat([goals[k][:, i] for k in keys]) for i in range(len(resolutions))],
        1)
    observed = lambda offset: flat([np.stack([
        episode[k][min(t + offset, len(episode[k]) - 1)]
        for episode, t in starts]) for k in keys])
    now = observed(0)
    summary = {}
    for i, name in enumerate(resolutions):
        entry = {
            'goal_to_now': float(np.linalg.norm(goal[:, i] - now, axis=-1)
                                 .mean()),
            'chosen_share': float((chosen == i).mean())}
        if name != 'inf':
            length = int(name)
            valid = np.array([
                t + length < len(episode['is_first'])
                for episode, t in starts])
            later = observed(length)[valid]
            entry.update(
                goal_to_later=float(np.linalg.norm(
                    goal[valid, i] - later, axis=-1).mean()),
                later_to_now=float(np.linalg.norm(
                    later - now[valid], axis=-1).mean()),
                starts_with_later=int(valid.sum()))
        summary[name] = entry
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


def random_starts(episodes, count, rng):
    """(episode, t) pairs drawn uniformly over episodes, then steps."""
    return [
        (episodes[i], rng.integers(len(episodes[i]['is_first'])))
        for i in rng.integers(len(episodes), size=count)]


def replay_episodes(directory):
    episodes = []
    for path in sorted(directory.glob('*.npz')):
        with np.load(path) as data:
            episodes.append({k: data[k] for k in data.files})
    return episodes


def decode_goals(agent, starts):
    """For (episode, t) pairs: the observed frames [R, H, W, C], the
    decoded candidate goals [R, N, H, W, C] (uint8) from the posterior
    state at t, and the resolution the choice head picks there [R]."""
    latents = [posterior_at(agent, episode, t) for episode, t in starts]
    latent = {
        k: np.concatenate([l[k] for l in latents], 0) for k in latents[0]}
    goals, chosen = agent.goal_observations(latent)
    frames = np.stack([episode[IMAGE_KEY][t] for episode, t in starts])
    return frames, _to_uint8(goals[IMAGE_KEY]), chosen


def posterior_at(agent, episode, t):
    """The world model's posterior state [1, ...] after observing the
    episode up to and including step t."""
    post = agent.observe({k: v[None, :t + 1] for k, v in episode.items()})
    return {k: v[:, -1] for k, v in post.items()}


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


def _to_uint8(images):
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    return (images * 255).astype(np.uint8)


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
