"""Evaluation tables (paper Table 3): the eval_scores_<variant>.json files
that eval_only runs with each choice policy wrote, summarised over runs,
with Welch's t-test of the learned choice head against every other
choice policy of a run. An agent without a choice head (random) has no
resolution shares."""

import json

import numpy as np


def collect_evaluations(logdirs):
    """Prints per task and choice policy the mean and sample standard
    deviation (ddof=1) over runs of each run's mean evaluation score and
    the mean share of each resolution, then per run the Welch tests
    (compare_with_learned). Returns the rows printed."""
    results = {}
    per_run = {}
    for logdir in logdirs:
        for path in sorted(logdir.glob('eval_scores_*.json')):
            result = json.loads(path.read_text())
            key = (result['task'], variant(result))
            results.setdefault(key, []).append(result)
            per_run.setdefault(logdir, {})[variant(result)] = result
    rows = []
    for (task, choice), group in sorted(results.items()):
        means = [r['mean'] for r in group]
        std = float(np.std(means, ddof=1)) if len(means) > 1 else None
        rows.append((task, choice, len(group), np.mean(means), std))
        spread = '' if std is None else f' ± {std:.2f}'
        print(f'{task:<28} {choice:<10} {len(group)} runs '
              f'{np.mean(means):10.2f}{spread}{shares_text(group)}')
    print('± is the sample std (ddof=1) over runs of their mean scores')
    for logdir, choices in per_run.items():
        for line in compare_with_learned(choices):
            print(f'{logdir}: {line}')
    return rows


def variant(result):
    """The evaluation variant a scores file is of; files written before
    the runtime named variants give their eval_choice."""
    return result['variant'] if 'variant' in result else result['eval_choice']


def shares_text(group):
    """The mean share of each resolution over the runs' files, if their
    agent has a choice head."""
    if any('mean_choice_frequency' not in r for r in group):
        return ''
    shares = np.mean([r['mean_choice_frequency'] for r in group], 0)
    return '  choice shares ' + ' '.join(f'{x:.2f}' for x in shares)


def compare_with_learned(choices):
    """Per choice policy of one run beside `learned`: the difference of
    the mean episode scores and Welch's t-test on the episode scores
    (unequal variances, two-sided). Lines of text."""
    from scipy import stats
    if 'learned' not in choices:
        return []
    learned = choices['learned']['scores']
    lines = []
    for choice, result in sorted(choices.items()):
        scores = result['scores']
        if choice == 'learned' or min(len(scores), len(learned)) < 2:
            continue
        test = stats.ttest_ind(learned, scores, equal_var=False)
        lines.append(
            f'learned - {choice}: {np.mean(learned) - np.mean(scores):+.1f}'
            f' ({len(learned)} and {len(scores)} episodes), Welch '
            f't = {test.statistic:.2f}, df = {test.df:.1f}, '
            f'p = {test.pvalue:.2g}')
    return lines
