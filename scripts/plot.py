"""Learning curves over seeds and choice stream graphs from run logdirs:

    python scripts/plot.py logdir/table1/* [plots/runs.json] --out plots \
        [--metric eval_episode/mean_score|episode/score] [--bins 50] \
        [--label REGEX] [--streams group|run] [--root logdir] \
        [--until STEP] [--scale FACTOR --ylabel TEXT]

Runs are grouped by task (config.yaml: task) and preset. The preset is the
first group (or the whole match) of --label searched in the logdir path,
else derived from the config: mrs, director, director_upstream (Director
at upstream's train_every), single_<l>, no_inf, vanilla_expl,
explore_only, random (--agent random), with '_finetuned' for runs started
from another run's weights. Per task, one figure (PNG and PDF) shows each
preset's mean over seeds with a band of one sample standard deviation
(ddof=1) over seeds, binned by environment step.
The stream graph (paper Fig. 7) stacks the share of steps on which each
resolution was chosen in training episodes (episode/mean_log_choice_<i>),
averaged per group or drawn per run. The final score of every task and
preset (mean and sample standard deviation, ddof=1, over seeds of each
run's mean over its last --final fraction of steps) is printed and written
as JSON.

--until drops every record past a frame budget. --scale shows the metric
in other units in the curves and final scores (Pin Pad: --scale 0.1
--ylabel 'sequences completed per episode'); runs.json keeps it unscaled.

Where a run's steps fall back (a restarted run logging steps again), the
earlier records at or past the step it restarted from are dropped.

Every call also writes runs.json to --out: for each run its name (its
path below --root or the folder shared by the logdirs), task, preset,
resolutions and the metrics the plots use. Given in place of a logdir, a
runs.json brings those runs back, so results of runs whose logdirs are
gone (other machines, other sessions) plot beside new ones.
"""

import argparse
import pathlib
import re
import sys

import numpy as np

from mrs_tf.analysis.curves import (
    bin_edges, bin_mean, choice_shares, group_runs, has_choices,
    pruning_steps, series)
from mrs_tf.analysis.runs import (
    RUNS_FILE, cut_at, load_runs, scaled, slug, write_final_scores,
    write_runs)
from mrs_tf.analysis.statistics import mean_std_over_runs

FORMATS = ('png', 'pdf')


def main(argv=None):
    args = parse_args(argv)
    try:
        runs = load_runs(args.logdirs, args.label, args.root)
    except ValueError as e:
        sys.exit(f'error: {e}')
    if args.until is not None:
        runs = cut_at(runs, args.until)
    args.out.mkdir(parents=True, exist_ok=True)
    y_label = args.ylabel or axis_label(args.metric, args.scale)
    written = plot_curves(
        scaled(runs, args.metric, args.scale), args.metric, y_label,
        args.bins, args.out)
    written += plot_streams(runs, args.bins, args.streams, args.out)
    written += write_final_scores(
        runs, args.metric, args.final, args.out, args.scale)
    written += write_runs(runs, args.metric, args.out)
    for path in written:
        print(path)
    if not written:
        print('Nothing to plot: no run has the requested metrics.',
              file=sys.stderr)
    return written


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        'logdirs', nargs='+', type=pathlib.Path,
        help=f'run logdirs, or {RUNS_FILE} files an earlier call wrote')
    parser.add_argument('--out', required=True, type=pathlib.Path)
    parser.add_argument('--metric', default='eval_episode/mean_score')
    parser.add_argument('--bins', type=int, default=50)
    parser.add_argument(
        '--root', type=pathlib.Path, default=None,
        help='name runs by their path below this folder (default: the '
             'deepest folder holding all logdirs)')
    parser.add_argument(
        '--label', type=re.compile, default=None,
        help='regex on the logdir path naming the preset (first group)')
    parser.add_argument(
        '--streams', choices=('group', 'run'), default='group',
        help='one stream graph per task and preset, or per logdir')
    parser.add_argument(
        '--final', type=float, default=0.1,
        help='final score of a run: mean over this last fraction of its '
             'steps')
    parser.add_argument(
        '--until', type=int, default=None,
        help='drop the records past this environment step (a budget)')
    parser.add_argument(
        '--scale', type=float, default=1.0,
        help='multiply the metric by this in curves and final scores')
    parser.add_argument(
        '--ylabel', default=None,
        help='the curves\' y axis (default: the metric, and the scale)')
    return parser.parse_args(argv)


def axis_label(metric, scale):
    return metric if scale == 1 else f'{metric} x {scale:g}'


def plot_curves(runs, metric, y_label, bins, out):
    plt = _pyplot()
    written = []
    by_task = group_runs(runs, lambda r: r['task'])
    for task, task_runs in sorted(by_task.items()):
        task_runs = [r for r in task_runs if metric in r['keys']]
        if not task_runs:
            print(f'{task}: no run logged {metric}; no curve.',
                  file=sys.stderr)
            continue
        edges = bin_edges(task_runs, [metric], bins)
        centers = (edges[:-1] + edges[1:]) / 2
        fig, ax = plt.subplots(figsize=(5, 3.5))
        by_label = group_runs(task_runs, lambda r: r['label'])
        for label, group in sorted(by_label.items()):
            binned = [bin_mean(*series(r['metrics'], metric), edges)
                      for r in group]
            mean, std = mean_std_over_runs(binned)
            valid = ~np.isnan(mean)
            seeds = f"{len(group)} seed{'s' if len(group) > 1 else ''}"
            # A marker keeps a curve of one or two points visible.
            marker = '.' if valid.sum() < 3 else None
            line, = ax.plot(
                centers[valid], mean[valid], marker=marker,
                label=f'{label} ({seeds})')
            ax.fill_between(
                centers[valid], (mean - std)[valid], (mean + std)[valid],
                color=line.get_color(), alpha=0.2, linewidth=0)
        ax.set_title(f'{task} (band: sample std over seeds, ddof=1)',
                     fontsize='medium')
        ax.set_xlabel('environment step')
        ax.set_ylabel(y_label)
        ax.legend(fontsize='small')
        stem = f'{task}_{slug(metric)}'
        written += _save(fig, out, stem)
        plt.close(fig)
    return written


def plot_streams(runs, bins, mode, out):
    plt = _pyplot()
    if mode == 'run':
        groups = {(r['task'], r['name']): [r] for r in runs}
    else:
        groups = group_runs(runs, lambda r: (r['task'], r['label']))
    written = []
    for (task, name), group in sorted(groups.items()):
        skills = group[0]['skills']
        if len(skills) < 2:
            continue  # One resolution: nothing is chosen.
        matching = [r for r in group if has_choices(r, skills)]
        for run in group:
            if not has_choices(run, skills):
                print(f"{run['name']}: no choice among the resolutions "
                      f'{list(skills)} logged; not in the stream graph.',
                      file=sys.stderr)
        if not matching:
            continue
        ranges, shares = choice_shares(matching, bins)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        # Each bin's shares held over its step range: a single bin of a
        # short run still shows as an area.
        ax.stackplot(
            ranges.ravel(), np.repeat(shares, 2, 0).T,
            labels=[str(s) for s in skills])
        pruned = {}
        for skill, step in pruning_steps(matching, skills):
            pruned.setdefault(step, []).append(str(skill))
        for step, names in sorted(pruned.items()):
            ax.axvline(step, color='k', linestyle='--', linewidth=0.8)
            ax.text(step, 0.98, f"{', '.join(names)} pruned ", rotation=90,
                    ha='right', va='top', fontsize='x-small')
        ax.margins(x=0)
        ax.set_ylim(0, 1)
        ax.set_title(f'{task} {name}: chosen resolution')
        ax.set_xlabel('environment step')
        ax.set_ylabel('share of steps')
        ax.legend(title='resolution', fontsize='small', loc='upper left',
                  bbox_to_anchor=(1, 1))
        fig.tight_layout()
        written += _save(fig, out, f'choices_{task}_{slug(name)}')
        plt.close(fig)
    return written


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, out, stem):
    paths = [out / f'{stem}.{fmt}' for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches='tight')
    return paths


if __name__ == '__main__':
    main()
