"""Learning curves over seeds and choice stream graphs from run logdirs:

    python scripts/plot.py logdir/table1/* [plots/runs.json] --out plots \
        [--metric eval_episode/mean_score|episode/score] [--bins 50] \
        [--label REGEX] [--streams group|run] [--root logdir]

Runs are grouped by task (config.yaml: task) and preset. The preset is the
first group (or the whole match) of --label searched in the logdir path,
else derived from the config: mrs, director, director_upstream (Director
at upstream's train_every), single_<l>, no_inf,
vanilla_expl, explore_only, with '_finetuned' for runs started from another
run's weights. Per task, one figure (PNG and PDF) shows each preset's mean
over seeds with a band of one sample standard deviation (ddof=1) over
seeds, binned by environment step.
The stream graph (paper Fig. 7) stacks the share of steps on which each
resolution was chosen in training episodes (episode/mean_log_choice_<i>),
averaged per group or drawn per run. The final score of every task and
preset (mean and sample standard deviation, ddof=1, over seeds of each
run's mean over its last --final fraction of steps) is printed and written
as JSON.

Where a run's steps fall back (a restarted run logging steps again), the
earlier records at or past the step it restarted from are dropped.

Every call also writes runs.json to --out: for each run its name (its
path below --root or the folder shared by the logdirs), task, preset,
resolutions and the metrics the plots use. Given in place of a logdir, a
runs.json brings those runs back, so results of runs whose logdirs are
gone (other machines, other sessions) plot beside new ones.
"""

import argparse
import json
import os
import pathlib
import re
import sys

import numpy as np

import embodied
from mrs_tf import configs

CHOICE_KEY = re.compile(r'^episode/mean_log_choice_(\d+)$')
CURVE_KEY = re.compile(
    r'^(episode/(score|length|mean_log_choice_\d+)|eval_episode/mean_score'
    r'|eval_only_.*|train/adaptive_active_.*)$')
ACTIVE_KEY = 'train/adaptive_active_{}'
RUNS_FILE = 'runs.json'
FORMATS = ('png', 'pdf')


def main(argv=None):
    args = parse_args(argv)
    runs = load_runs(args.logdirs, args.label, args.root)
    args.out.mkdir(parents=True, exist_ok=True)
    written = plot_curves(runs, args.metric, args.bins, args.out)
    written += plot_streams(runs, args.bins, args.streams, args.out)
    written += write_final_scores(runs, args.metric, args.final, args.out)
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
    return parser.parse_args(argv)


def load_runs(paths, label_regex=None, root=None):
    """Runs from logdirs and from runs.json files; a run named twice is an
    error."""
    logdirs = [p for p in paths if not is_runs_file(p)]
    names = run_names(logdirs, root) if logdirs else {}
    runs = [load_run(d, names[d], label_regex) for d in logdirs]
    for path in paths:
        if is_runs_file(path):
            runs += read_runs(path)
    seen = set()
    for run in runs:
        if run['name'] in seen:
            sys.exit(f"error: run {run['name']} is given twice (as a logdir "
                     f'or in a {RUNS_FILE})')
        seen.add(run['name'])
    return runs


def is_runs_file(path):
    return pathlib.Path(path).suffix == '.json'


def load_run(logdir, name, label_regex=None):
    logdir = pathlib.Path(logdir)
    config = embodied.Config.load(logdir / 'config.yaml')
    metrics = read_metrics(logdir / 'metrics.jsonl')
    # The random policy chooses among no resolutions.
    skills = () if config.agent == 'random' else config.mrs.skills
    return make_run(
        name, config.task, run_label(logdir, config, label_regex), skills,
        metrics)


def make_run(name, task, label, skills, metrics):
    metrics = drop_relogged(metrics)
    return {
        'name': name, 'task': task, 'label': label, 'skills': tuple(skills),
        'metrics': metrics,
        'keys': {key for record in metrics for key in record},
    }


def read_runs(path):
    """The runs of a runs.json that write_runs wrote."""
    data = json.loads(pathlib.Path(path).read_text())
    return [
        make_run(r['name'], r['task'], r['label'], r['skills'], r['metrics'])
        for r in data['runs']]


def write_runs(runs, metric, out):
    """runs.json: every run's records of the metrics the plots use."""
    wanted = lambda key: key == metric or CURVE_KEY.match(key)
    data = []
    for run in runs:
        records = []
        for record in run['metrics']:
            kept = {k: v for k, v in record.items() if wanted(k)}
            if kept:
                records.append({'step': record['step'], **kept})
        data.append({
            'name': run['name'], 'task': run['task'], 'label': run['label'],
            'skills': list(run['skills']), 'metrics': records})
    path = out / RUNS_FILE
    path.write_text(json.dumps({'runs': data}) + '\n')
    return [path]


def drop_relogged(records):
    """The records without those a restart logged again: where the step
    falls back, the records before it at or past that step are dropped
    (the later ones belong to the run that went on). train.py does the
    same on resume from a checkpoint, but a run killed before its first
    checkpoint restarts from step 0 and keeps the killed run's lines."""
    kept = []
    for record in records:
        if kept and record['step'] < kept[-1]['step']:
            kept = [r for r in kept if r['step'] < record['step']]
        kept.append(record)
    return kept


def read_metrics(path):
    """The records of a metrics.jsonl; a line cut off by a killed run is
    skipped."""
    records = []
    if not path.exists():
        return records
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def run_label(logdir, config, label_regex=None):
    if label_regex:
        match = label_regex.search(str(logdir))
        if match:
            return match.group(1) if match.groups() else match.group(0)
    return derive_preset(config)


def upstream_train_every():
    """The update interval of upstream Director, as its preset sets it."""
    return embodied.load_config(
        configs.PATH, ['--configs', 'director_upstream']).run.train_every


def derive_preset(config):
    """The configs.yaml agent preset a resolved config corresponds to."""
    skills = tuple(config.mrs.skills)
    if not config.mrs.manager:
        preset = 'flat'
    elif config.mrs.choice == 'random':
        preset = 'random_choice'
    elif config.mrs.adaptive:
        preset = 'mrs_adaptive'
    elif config.manager_rews.extr == 0:
        preset = 'explore_only'
    elif skills == ('inf',):
        upstream = config.run.train_every == upstream_train_every()
        preset = 'director_upstream' if upstream else 'director'
    elif len(skills) == 1:
        preset = f'single_{skills[0]}'
    elif 'inf' not in skills:
        preset = 'no_inf'
    elif config.mrs.expl_reward == 'vanilla':
        preset = 'vanilla_expl'
    else:
        preset = 'mrs'
    if config.from_checkpoint:
        preset += '_finetuned'
    return preset


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


def group_runs(runs, key):
    groups = {}
    for run in runs:
        groups.setdefault(key(run), []).append(run)
    return groups


def plot_curves(runs, metric, bins, out):
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
        ax.set_ylabel(metric)
        ax.legend(fontsize='small')
        stem = f'{task}_{_slug(metric)}'
        written += _save(fig, out, stem)
        plt.close(fig)
    return written


def final_score(run, metric, fraction):
    """Mean of the metric over the last `fraction` of the run's steps."""
    steps, values = series(run['metrics'], metric)
    return float(values[steps >= steps.max() * (1 - fraction)].mean())


def run_names(logdirs, root=None):
    """Names runs by their paths below `root`, by default the deepest folder
    holding all of them (one run: its folder name), so that the written
    scores carry no machine paths and read the same however the logdirs
    were given."""
    resolved = {d: pathlib.Path(d).resolve() for d in logdirs}
    base = pathlib.Path(root).resolve() if root else os.path.commonpath(
        [path.parent for path in resolved.values()])
    return {d: str(path.relative_to(base)) for d, path in resolved.items()}


def write_final_scores(runs, metric, fraction, out):
    """Prints and writes per task and preset the mean and sample standard
    deviation (ddof=1; null for one seed) over seeds of the runs' final
    scores (paper tables)."""
    rows = []
    groups = group_runs(runs, lambda r: (r['task'], r['label']))
    for (task, label), group in sorted(groups.items()):
        scores = {
            r['name']: final_score(r, metric, fraction)
            for r in group if metric in r['keys']}
        if not scores:
            continue
        values = list(scores.values())
        std = sample_std(values)
        rows.append({
            'task': task, 'preset': label, 'seeds': len(values),
            'mean': float(np.mean(values)), 'std': std, 'std_ddof': 1,
            'runs': scores})
        spread = '' if std is None else f' ± {std:.2f} (sample std, ddof=1)'
        print(f'{task:<28} {label:<20} {len(values)} seeds '
              f'{np.mean(values):10.2f}{spread}')
    if not rows:
        return []
    path = out / f'final_{_slug(metric)}.json'
    path.write_text(json.dumps(
        {'metric': metric, 'last_fraction': fraction, 'rows': rows},
        indent=2) + '\n')
    return [path]


def sample_std(values):
    """Sample standard deviation (ddof=1) of `values`; None for fewer
    than two."""
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


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
        written += _save(fig, out, f'choices_{task}_{_slug(name)}')
        plt.close(fig)
    return written


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


def has_choices(run, skills):
    """Whether the run chose among `skills` and logged the share of
    each."""
    return (run['skills'] == skills and
            len(choice_keys(run)) == len(skills))


def choice_keys(run):
    """episode/mean_log_choice_<i> keys of a run, in resolution order."""
    keys = [k for k in run['keys'] if CHOICE_KEY.match(k)]
    return sorted(keys, key=lambda k: int(CHOICE_KEY.match(k).group(1)))


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


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _slug(text):
    return re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_')


def _save(fig, out, stem):
    paths = [out / f'{stem}.{fmt}' for fmt in FORMATS]
    for path in paths:
        fig.savefig(path, dpi=150, bbox_inches='tight')
    return paths


if __name__ == '__main__':
    main()
