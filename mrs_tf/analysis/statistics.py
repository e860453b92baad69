"""Statistics of the analyses: cluster purity, mutual information and a
nearest-neighbour choice classifier against permutation baselines that
shuffle whole manager decisions (paper Sec. 5, App. G), and the sample
standard deviation over runs of the learning curves. Every std is the
sample standard deviation (ddof=1)."""

import numpy as np


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


def normalized_mutual_information(clusters, labels):
    from sklearn.metrics import normalized_mutual_info_score
    return float(normalized_mutual_info_score(labels, clusters))


def sample_std(values):
    """Sample standard deviation (ddof=1) of `values`; None for fewer
    than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


def mean_std_over_runs(binned):
    """Mean and sample standard deviation (ddof=1) over runs [R, ...],
    ignoring runs without data in a bin; NaN where no run has data (mean)
    or fewer than two (std)."""
    binned = np.asarray(binned)
    present = ~np.isnan(binned)
    counts = present.sum(0)
    filled = np.where(present, binned, 0.0)
    with np.errstate(invalid='ignore', divide='ignore'):
        mean = filled.sum(0) / counts
        squares = np.where(present, (binned - mean) ** 2, 0.0).sum(0)
        var = np.where(counts > 1, squares / (counts - 1), np.nan)
    return mean, np.sqrt(var)
