"""Run records for plots and tables: a run's task, preset label,
resolutions and metrics.jsonl records, read from its logdir or from a
runs.json an earlier call wrote (so results of runs whose logdirs are
gone plot beside new ones), upstream Director's logdirs, and the final
scores over seeds (paper tables)."""

import json
import os
import pathlib
import re

import numpy as np

import embodied
from mrs_tf import configs

from .curves import group_runs, series
from .statistics import sample_std

CURVE_KEY = re.compile(
    r'^(episode/(score|length|mean_log_choice_\d+)|eval_episode/mean_score'
    r'|eval_only_.*|train/adaptive_active_.*)$')
RUNS_FILE = 'runs.json'


def load_runs(paths, label_regex=None, root=None):
    """Runs from logdirs and from runs.json files; a run named twice is a
    ValueError."""
    logdirs = [p for p in paths if not is_runs_file(p)]
    names = run_names(logdirs, root) if logdirs else {}
    runs = [load_run(d, names[d], label_regex) for d in logdirs]
    for path in paths:
        if is_runs_file(path):
            runs += read_runs(path)
    seen = set()
    for run in runs:
        if run['name'] in seen:
            raise ValueError(
                f"run {run['name']} is given twice (as a logdir or in a "
                f'{RUNS_FILE})')
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


def cut_at(runs, step):
    """The runs without their records past `step` (a frame budget)."""
    return [
        make_run(r['name'], r['task'], r['label'], r['skills'],
                 [m for m in r['metrics'] if m['step'] <= step])
        for r in runs]


def scaled(runs, metric, factor):
    """The runs with `metric` multiplied by `factor` (a score in other
    units, e.g. Pin Pad's sequences completed = score / 10)."""
    return [{**r, 'metrics': [
        {**m, metric: m[metric] * factor} if metric in m else m
        for m in r['metrics']]} for r in runs]


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


def upstream_run(logdir, task=None, label='upstream_director'):
    """A run of upstream Director (danijar/director) from its logdir: its
    metrics.jsonl has our `step` unit and episode keys but no config, so
    the task is the logdir's parent folder unless `task` names it. A
    logdir without episode scores is a ValueError."""
    metrics = read_metrics(logdir / 'metrics.jsonl')
    if not any('episode/score' in record for record in metrics):
        raise ValueError(
            f'{logdir} has no episode/score in metrics.jsonl; is it an '
            'upstream Director logdir?')
    task = task or logdir.resolve().parent.name
    return make_run(
        f'{task}/{label}/{logdir.name}', task, label, (), metrics)


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
    """The configs.yaml agent preset a resolved config corresponds to;
    'random' for the random policy (--agent random), whatever the preset."""
    skills = tuple(config.mrs.skills)
    if config.agent == 'random':
        return 'random'
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


def run_names(logdirs, root=None):
    """Names runs by their paths below `root`, by default the deepest folder
    holding all of them (one run: its folder name), so that the written
    scores carry no machine paths and read the same however the logdirs
    were given."""
    resolved = {d: pathlib.Path(d).resolve() for d in logdirs}
    base = pathlib.Path(root).resolve() if root else os.path.commonpath(
        [path.parent for path in resolved.values()])
    return {d: str(path.relative_to(base)) for d, path in resolved.items()}


def final_score(run, metric, fraction):
    """Mean of the metric over the last `fraction` of the run's steps."""
    steps, values = series(run['metrics'], metric)
    return float(values[steps >= steps.max() * (1 - fraction)].mean())


def write_final_scores(runs, metric, fraction, out, scale=1.0):
    """Prints and writes per task and preset the mean and sample standard
    deviation (ddof=1; null for one seed) over seeds of the runs' final
    scores (paper tables), in units of the metric times `scale`."""
    runs = scaled(runs, metric, scale)
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
    path = out / f'final_{slug(metric)}.json'
    path.write_text(json.dumps(
        {'metric': metric, 'scale': scale, 'last_fraction': fraction,
         'rows': rows},
        indent=2) + '\n')
    return [path]


def slug(text):
    """`text` as a file name part."""
    return re.sub(r'[^A-Za-z0-9_-]+', '_', text).strip('_')
