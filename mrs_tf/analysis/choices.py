"""Is the resolution the manager chooses a function of the latent state
(paper Sec. 5, Fig. 6, App. G)? The states a rollout visited, numbered by
manager decision, and purity.json's statistics of them.

The shuffled baselines permute whole manager decisions: the resolution is
held for a skill's duration (K states), so the states of one decision
share one label and a permutation of single states would treat K
dependent states as K independent ones, making the baseline far narrower
than chance."""

import json

import numpy as np

from . import statistics
from .trained import IMAGE_KEY


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


def purity_report(steps, resolutions, shuffles, seed, rng):
    """purity.json's content: the purity of a k-means clustering of the
    visited states (k = number of resolutions) against the resolution in
    use, its normalised mutual information with it and how well the
    manager's choice is predicted from the state, each beside its shuffled
    baseline (mean and sample std over `shuffles` permutations of whole
    decisions); also per state the cluster, the resolution in use, the
    decision and the episode, so the baselines can be recomputed without
    the run."""
    from sklearn.cluster import KMeans
    deter, labels = steps['deter'], steps['choice']
    groups = steps['decision_id']
    kmeans = KMeans(len(resolutions), n_init=10, random_state=seed)
    clusters = kmeans.fit_predict(deter)
    purity = statistics.cluster_purity(clusters, labels)
    baseline, baseline_std = statistics.shuffled_purity(
        clusters, labels, shuffles, rng, groups)
    nmi, nmi_baseline = mutual_information(
        clusters, labels, shuffles, rng, groups)
    counts = np.bincount(labels, minlength=len(resolutions))
    return {
        'states': len(labels), 'clusters': len(resolutions),
        'resolutions': resolutions,
        'choice_counts': dict(zip(resolutions, counts.tolist())),
        'purity': purity, 'random_purity': baseline,
        'random_purity_std': baseline_std, 'shuffles': shuffles,
        'shuffled_by': 'decision', 'std_ddof': 1,
        'nmi': nmi, 'random_nmi': nmi_baseline[0],
        'random_nmi_std': nmi_baseline[1],
        **choice_predictions(steps, shuffles, rng),
        'per_state': {
            'cluster': clusters.tolist(), 'choice': labels.tolist(),
            'decision_id': groups.tolist(),
            'episode': steps['episode'].tolist()},
    }


def json_with_compact_lists(result, key):
    """JSON text of `result` indented, but with each list of result[key]
    on one line (thousands of per-state entries)."""
    head = json.dumps({k: v for k, v in result.items() if k != key}, indent=2)
    lists = ',\n'.join(
        f'    {json.dumps(name)}: {json.dumps(values)}'
        for name, values in result[key].items())
    return f'{head[:-2]},\n  {json.dumps(key)}: {{\n{lists}\n  }}\n}}\n'


def mutual_information(clusters, labels, shuffles, rng, groups=None):
    """Normalised mutual information of the clusters with the labels, and
    with shuffled labels (mean, sample std): unlike purity, it does not sit
    at the most common label's share when one label dominates every
    cluster."""
    score = statistics.normalized_mutual_information
    return score(clusters, labels), statistics.shuffled(
        score, clusters, labels, shuffles, rng, groups)


def choice_predictions(steps, shuffles, rng):
    """Is the manager's choice a function of the state (Fig. 6)? The
    choice at its decision steps predicted from the state on held-out
    episodes, against the same with shuffled choices (one label per
    decision, so these already permute whole decisions)."""
    decision = steps['decision']
    states = steps['deter'][decision]
    labels = steps['choice'][decision]
    episodes = steps['episode'][decision]
    score = lambda s, l: statistics.choice_accuracy(s, l, episodes)
    baseline = statistics.shuffled(score, states, labels, shuffles, rng)
    return {
        'decisions': int(decision.sum()),
        'choice_accuracy': score(states, labels),
        'random_choice_accuracy': baseline[0],
        'random_choice_accuracy_std': baseline[1],
        'majority_choice_share': float(
            np.bincount(labels).max() / len(labels)),
    }
