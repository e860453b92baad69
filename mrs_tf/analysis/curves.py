"""Learning curves over runs: a run's scalar series binned by environment
step, the choice shares of the stream graph (paper Fig. 7) and the steps
at which adaptive runs pruned a resolution."""

import re

import numpy as np

from .statistics import mean_std_over_runs

CHOICE_KEY = re.compile(r'^episode/mean_log_choice_(\d+)$')
ACTIVE_KEY = 'train/adaptive_active_{}'


def series(records, key):
    """(steps, values) of one scalar over a run."""
    pairs = [(r['step'], r[key]) for r in records if key in r]
    if not pairs:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*pairs)
    return np.asarray(steps, np.float64), np.asarray(values, np.float64)


def bin_edges(runs, keys, bins):
    """Shared edges from step 0 to the last step at which any run logged
    one of `keys`."""
    last = max(
        (series(run['metrics'], key)[0].max(initial=0)
         for run in runs for key in keys), default=0)
    return np.linspace(0, max(last, 1), bins + 1)


def bin_mean(steps, values, edges):
    """Mean of `values` in each step bin; NaN where a bin is empty."""
    count = len(edges) - 1
    index = np.clip(np.digitize(steps, edges[1:-1]), 0, count - 1)
    sums = np.bincount(index, values, minlength=count)
    counts = np.bincount(index, minlength=count)
    means = np.full(count, np.nan)
    means[counts > 0] = sums[counts > 0] / counts[counts > 0]
    return means


def group_runs(runs, key):
    groups = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return groups


def choice_keys(run):
    """episode/mean_log_choice_<i> keys of a run, in resolution order."""
    keys = [k for k in run['keys'] if CHOICE_KEY.match(k)]
    return sorted(keys, key=lambda k: int(CHOICE_KEY.match(k).group(1)))


def has_choices(run, skills):
    """Whether the run chose among `skills` and logged the share of
    each."""
    return (run['skills'] == skills and
            len(choice_keys(run)) == len(skills))


def choice_shares(runs, bins):
    """Step ranges of the bins with data [T, 2] and the mean share of each
    resolution in them [T, N] over the runs, normalised to sum to one per
    bin."""
    keys = choice_keys(runs[0])
    edges = bin_edges(runs, keys, bins)
    per_run = np.stack([
        np.stack([bin_mean(*series(r['metrics'], k), edges) for k in keys], 1)
        for r in runs])
    shares, _ = mean_std_over_runs(per_run)
    valid = ~np.isnan(shares).any(1)
    shares = shares[valid] / shares[valid].sum(1, keepdims=True)
    ranges = np.stack([edges[:-1], edges[1:]], 1)[valid]
    return ranges, shares


def pruning_steps(runs, skills):
    """(resolution, step) where an adaptive run (mrs.adaptive) first logged
    a resolution as pruned, for each run and resolution."""
    marks = []
    for run in runs:
        for skill in skills:
            steps, active = series(run['metrics'], ACTIVE_KEY.format(skill))
            pruned = np.flatnonzero(active < 1)
            if pruned.size:
                marks.append((skill, steps[pruned[0]]))
    return marks
