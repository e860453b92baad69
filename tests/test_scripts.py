"""The experiment scripts (plot, analyze, sweep) and eval_only's choice
override, on a tiny vision run trained once for this module."""

import json
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import analyze
import bench
import controllability
import embodied
import plot
import sweep
import upstream_runs
from mrs_tf import configs

ROOT = pathlib.Path(__file__).resolve().parent.parent

TINY_RUN = [
    '--configs', 'dmc_vision', 'debug', '--task', 'dmc_cartpole_swingup',
    '--run.steps', '300', '--run.save_every', '100',
    # No training report: tracing it would lengthen the fixture.
    '--run.log_every', '0']
RESOLUTIONS = 4  # The debug preset's mrs.skills: [2, 4, 8, inf].
# absl's notice before TensorFlow's first log line at import (where it turns
# oneDNN on, an info line that no log level hides); it warns of nothing.
ABSL_PREAMBLE = (
    'WARNING: All log messages before absl::InitializeLog() is called are '
    'written to STDERR')


def run_python(*args, timeout=300, cwd=ROOT, stderr=False):
    """The program's stdout (and its stderr after it, with stderr=True);
    fails the test if it fails."""
    result = subprocess.run(
        [sys.executable, *map(str, args)], cwd=cwd, capture_output=True,
        text=True, timeout=timeout)
    assert result.returncode == 0, (
        f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result.stdout + (result.stderr if stderr else '')


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    """The logdir of a tiny vision run and everything it printed."""
    logdir = tmp_path_factory.mktemp('scripts') / 'run'
    output = run_python(
        'train.py', *TINY_RUN, '--logdir', logdir, timeout=600, stderr=True)
    return logdir, output


@pytest.fixture(scope='module')
def tiny_logdir(tiny_run):
    return tiny_run[0]


@pytest.mark.slow
def test_a_run_prints_no_tensorflow_error_or_warning_line(tiny_run):
    """TensorFlow's C++ log lines start with their level and date
    (E1203, W0000); a grappler failure or a CUDA probe on a machine
    without a GPU shows up here. Python warnings too."""
    _, output = tiny_run
    noise = [
        line for line in output.splitlines()
        if re.match(r'[EWF]\d{4} |WARNING:|\S+Warning: ', line)
        and line != ABSL_PREAMBLE]
    assert not noise, '\n'.join(noise[:10])


def open_image(path):
    assert path.stat().st_size > 0, path
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        return image.size


def test_scripts_import_without_tensorflow():
    # Environment processes are spawned from these scripts and must stay
    # free of TensorFlow.
    code = (
        'import sys; import analyze, bench, check_distribute, '
        'controllability, count_parameters, gpu_check, plot, sweep, '
        'subgoal_distance, upstream_runs; '
        'assert "tensorflow" not in sys.modules, "tensorflow imported"')
    run_python('-c', code, cwd=ROOT / 'scripts')


@pytest.mark.parametrize('clusters, labels, purity', [
    ([0, 0, 1, 1, 2, 2], ['a', 'a', 'b', 'b', 'c', 'c'], 1.0),
    ([5, 5, 3, 3], [1, 1, 0, 0], 1.0),
    ([0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 0], 0.75),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.25),
    ([0, 1, 2, 3], [0, 0, 0, 0], 1.0),
])
def test_cluster_purity_known_values(clusters, labels, purity):
    assert analyze.cluster_purity(clusters, labels) == pytest.approx(purity)


def test_cluster_purity_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        analyze.cluster_purity([0, 1, 2], [0, 1])
    with pytest.raises(ValueError):
        analyze.cluster_purity([], [])


def test_shuffled_purity_is_near_chance_for_a_perfect_clustering():
    labels = np.repeat(np.arange(4), 100)
    rng = np.random.default_rng(0)
    mean, std = analyze.shuffled_purity(labels, labels, 10, rng)
    assert analyze.cluster_purity(labels, labels) == 1.0
    assert 0.25 <= mean < 0.35 and std < 0.05


def test_choice_accuracy_finds_a_choice_that_follows_the_state():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(400, 2))
    labels = (states[:, 0] > 0) * 2 + (states[:, 1] > 0)
    episodes = np.repeat(np.arange(20), 20)
    assert analyze.choice_accuracy(states, labels, episodes) > 0.9
    mean, _ = analyze.shuffled(
        lambda s, l: analyze.choice_accuracy(s, l, episodes),
        states, labels, 5, rng)
    assert mean < 0.4


def test_choice_accuracy_does_not_credit_episodes_to_the_state():
    # Each episode stays near its own point and keeps one random choice: a
    # classifier that saw other states of the episode would score 1.
    rng = np.random.default_rng(0)
    episodes = np.repeat(np.arange(40), 10)
    centres = rng.normal(size=(40, 8)) * 10
    states = centres[episodes] + rng.normal(size=(400, 8)) * 0.1
    labels = rng.integers(4, size=40)[episodes]
    assert analyze.choice_accuracy(states, labels, episodes) < 0.45


@pytest.mark.parametrize('preset', [
    'mrs', 'director', 'director_upstream', 'single_8', 'single_16', 'single_32', 'no_inf',
    'vanilla_expl', 'explore_only', 'flat', 'random_choice', 'mrs_adaptive'])
def test_derive_preset_recovers_the_configs_preset(preset):
    config = configs.parse(['--configs', 'dmc_vision', preset])
    assert plot.derive_preset(config) == preset


def test_derive_preset_marks_fine_tuning():
    config = configs.parse(['--from_checkpoint', '/tmp/pretrained'])
    assert plot.derive_preset(config) == 'mrs_finetuned'


def test_mean_std_over_runs_ignores_missing_bins():
    mean, std = plot.mean_std_over_runs(
        [[1.0, np.nan, np.nan], [3.0, 5.0, np.nan]])
    np.testing.assert_allclose(mean[:2], [2.0, 5.0])
    np.testing.assert_allclose(std[0], np.sqrt(2.0))  # ddof=1
    assert np.isnan(std[1])  # One run: no sample std.
    assert np.isnan(mean[2])


def test_run_names_drop_the_shared_root(tmp_path):
    logdirs = [tmp_path / 'check' / task / 'mrs' / 'seed0'
               for task in ('dmc_cartpole_swingup', 'dmc_reacher_easy')]
    relative = pathlib.Path(os.path.relpath(logdirs[0]))
    names = plot.run_names([relative, logdirs[1]])
    assert names == {relative: 'dmc_cartpole_swingup/mrs/seed0',
                     logdirs[1]: 'dmc_reacher_easy/mrs/seed0'}
    assert plot.run_names([logdirs[0]]) == {logdirs[0]: 'seed0'}
    assert plot.run_names([logdirs[0]], tmp_path / 'check') == {
        logdirs[0]: 'dmc_cartpole_swingup/mrs/seed0'}


def write_fake_run(logdir, preset, scores):
    """A logdir with a config.yaml and one episode score per 1k steps."""
    config = configs.parse([
        '--configs', 'dmc_proprio', preset, '--task', 'dmc_reacher_easy'])
    logdir.mkdir(parents=True)
    config.save(logdir / 'config.yaml')
    records = [
        {'step': 1000 * (i + 1), 'episode/score': score,
         'train/model_loss': 1.0}
        for i, score in enumerate(scores)]
    (logdir / 'metrics.jsonl').write_text(
        ''.join(json.dumps(r) + '\n' for r in records))


def test_plot_reads_back_the_runs_it_wrote(tmp_path):
    logdirs = [tmp_path / 'check' / preset / 'seed0'
               for preset in ('mrs', 'director')]
    write_fake_run(logdirs[0], 'mrs', [10.0, 20.0, 30.0, 50.0])
    write_fake_run(logdirs[1], 'director', [5.0, 5.0, 7.0, 9.0])
    flags = ['--metric', 'episode/score', '--final', '0.25']
    plot.main([*map(str, logdirs), '--out', str(tmp_path / 'a'), *flags])
    runs_file = tmp_path / 'a' / 'runs.json'
    kept = json.loads(runs_file.read_text())['runs'][0]['metrics'][0]
    assert set(kept) == {'step', 'episode/score'}
    plot.main([str(runs_file), '--out', str(tmp_path / 'b'), *flags])
    scores = [
        json.loads((tmp_path / d / 'final_episode_score.json').read_text())
        for d in ('a', 'b')]
    assert scores[0] == scores[1]
    assert {r['preset']: r['runs'] for r in scores[0]['rows']} == {
        'director': {'director/seed0': 8.0}, 'mrs': {'mrs/seed0': 40.0}}
    assert (tmp_path / 'b' / 'dmc_reacher_easy_episode_score.png').exists()
    with pytest.raises(SystemExit, match='mrs/seed0 is given twice'):
        plot.main([str(runs_file), *map(str, logdirs),
                   '--out', str(tmp_path / 'c'), *flags])


def test_upstream_runs_plot_beside_ours(tmp_path):
    ours = tmp_path / 'check' / 'director' / 'seed0'
    write_fake_run(ours, 'director', [5.0, 5.0, 7.0, 9.0])
    upstream = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed3'
    upstream.mkdir(parents=True)
    # Upstream's lines: episodes, train reports, and one cut off by a kill.
    lines = [json.dumps({'step': 1000 * (i + 1), 'episode/score': score,
                         'episode/length': 500})
             for i, score in enumerate([1.0, 2.0, 30.0, 50.0])]
    lines.insert(2, json.dumps({'step': 2500, 'train/model_loss': 3.0}))
    lines.append('{"step": 5000, "episode/sc')
    (upstream / 'metrics.jsonl').write_text('\n'.join(lines) + '\n')
    runs_file = upstream_runs.main([str(upstream), '--out', str(tmp_path)])
    plot.main([str(ours), str(runs_file), '--out', str(tmp_path / 'plots'),
               '--metric', 'episode/score', '--final', '0.25'])
    scores = json.loads(
        (tmp_path / 'plots' / 'final_episode_score.json').read_text())
    assert {(r['task'], r['preset']): r['runs'] for r in scores['rows']} == {
        ('dmc_reacher_easy', 'director'): {'seed0': 8.0},
        ('dmc_reacher_easy', 'upstream_director'): {
            'dmc_reacher_easy/upstream_director/seed3': 40.0}}
    empty = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed4'
    empty.mkdir()
    (empty / 'metrics.jsonl').write_text(lines[2] + '\n')
    with pytest.raises(SystemExit, match='no episode/score'):
        upstream_runs.main([str(empty), '--out', str(tmp_path / 'empty')])


@pytest.mark.slow
def test_plot_writes_curves_and_stream_graphs(tiny_logdir, tmp_path):
    output = run_python(
        'scripts/plot.py', tiny_logdir, '--out', tmp_path,
        '--metric', 'episode/score', '--bins', '10')
    for name in ('dmc_cartpole_swingup_episode_score',
                 'choices_dmc_cartpole_swingup_mrs'):
        png, pdf = tmp_path / f'{name}.png', tmp_path / f'{name}.pdf'
        assert str(png) in output and str(pdf) in output
        width, height = open_image(png)
        assert width >= 400 and height >= 300
        assert pdf.read_bytes().startswith(b'%PDF')
    final = json.loads((tmp_path / 'final_episode_score.json').read_text())
    [row] = final['rows']
    assert (row['task'], row['preset'], row['seeds']) == (
        'dmc_cartpole_swingup', 'mrs', 1)
    assert list(row['runs']) == [tiny_logdir.name]
    assert np.isfinite(row['mean'])
    run_python(
        'scripts/plot.py', tiny_logdir, '--out', tmp_path, '--streams', 'run')
    open_image(tmp_path / 'dmc_cartpole_swingup_eval_episode_mean_score.png')
    name = f'choices_dmc_cartpole_swingup_{tiny_logdir.name}.png'
    open_image(tmp_path / name)


@pytest.mark.slow
def test_analyze_writes_figures_and_purity(tiny_logdir, tmp_path):
    output = run_python(
        'scripts/analyze.py', '--logdir', tiny_logdir, '--episodes', 2,
        '--out', tmp_path, '--goal-rows', 3)
    assert 'k-means purity' in output
    purity = json.loads((tmp_path / 'purity.json').read_text())
    assert purity['states'] == 100  # Two episodes of 50 steps.
    assert purity['clusters'] == RESOLUTIONS
    assert purity['resolutions'] == ['2', '4', '8', 'inf']
    assert sum(purity['choice_counts'].values()) == purity['states']
    assert 1 / RESOLUTIONS <= purity['purity'] <= 1
    assert 1 / RESOLUTIONS <= purity['random_purity'] <= 1
    assert 0 <= purity['random_nmi'] <= 1 and 0 <= purity['nmi'] <= 1
    assert 0 <= purity['choice_accuracy'] <= 1
    assert purity['decisions'] < purity['states']
    width, height = open_image(tmp_path / 'tsne.png')
    assert width >= 300 and height >= 300
    # 3 start states x (observed frame + 4 goals), 4 resolutions x 8 frames.
    width, height = open_image(tmp_path / 'goals.png')
    assert width > height >= 150
    width, height = open_image(tmp_path / 'states_by_resolution.png')
    assert width > height >= 200


class LineAgent:
    """Stands in for an agent on a proprio task whose state moves one unit
    per step: the posterior is the position itself, and resolution l's
    decoded goal lies l steps ahead (inf: where the agent is)."""

    def __init__(self, shifts):
        decoder = type('Decoder', (), {'mlp_shapes': {'position': (2,)},
                                       'cnn_shapes': {}})
        self.wm = type('WorldModel', (), {'heads': {'decoder': decoder}})
        self.shifts = np.array(shifts, np.float32)

    def observe(self, data):
        return {'deter': data['position']}

    def goal_observations(self, latent):
        goals = latent['deter'][:, None] + self.shifts[None, :, None] * [1, 0]
        return {'position': goals}, np.zeros(len(goals), int)


def test_proprio_goal_distances_per_resolution(tmp_path):
    time = np.arange(30, dtype=np.float32)
    episode = {'position': np.stack([time, np.zeros(30)], -1),
               'is_first': time == 0}
    args = type('Args', (), {'goal_starts': 40, 'out': tmp_path})
    analyze.goal_vectors(
        LineAgent([2, 4, 0]), [episode], ['2', '4', 'inf'], args,
        np.random.default_rng(0))
    result = json.loads((tmp_path / 'goals.json').read_text())
    four = result['resolutions']['4']
    assert four['goal_to_now'] == pytest.approx(4)
    assert four['later_to_now'] == pytest.approx(4)
    assert four['goal_to_later'] == pytest.approx(0)
    assert four['starts_with_later'] < 40  # Starts near the end have none.
    assert result['resolutions']['inf']['goal_to_now'] == 0
    assert 'goal_to_later' not in result['resolutions']['inf']
    open_image(tmp_path / 'goals.png')


def test_goal_spread_is_the_mean_distance_within_a_start_over_the_norm():
    goals = np.zeros([2, 3, 2])
    goals[0] = [[1, 0], [1, 0], [1, 0]]  # One goal for every z.
    goals[1] = [[0, 1], [0, -1], [0, 1]]  # Pairwise distances 2, 0, 2.
    # Mean pairwise distance (0 + 4/3) / 2 over the mean norm 1.
    assert controllability.goal_spread(goals) == pytest.approx(2 / 3)
    assert controllability.goal_spread(goals[:1]) == 0


@pytest.mark.slow
def test_controllability_finds_a_module_that_ignores_its_skill(
        tiny_logdir, tmp_path):
    out = tmp_path / 'controllability.json'
    argv = ['--logdir', str(tiny_logdir), '--starts', '16', '--samples', '4']
    rows = controllability.main(argv + ['--out', str(out)])
    assert json.loads(out.read_text())['heads'] == rows
    assert [row['head'] for row in rows] == ['2', '4', '8', 'inf']
    assert sum(row['choice_prob'] for row in rows) == pytest.approx(1)
    for row in rows:
        assert 0 < row['entropy'] <= 1
        assert row['return_std'] > 0 and row['state_spread'] > 0
    # Zero the skill's weights in the decoder's input layer of l = 4: its
    # goals no longer depend on z, and the probe must say so.
    import tensorflow as tf
    agent, _ = controllability.load_agent(
        embodied.Config.load(tiny_logdir / 'config.yaml'),
        controllability.parse_args(argv))
    starts = controllability.start_states(
        agent, tiny_logdir / 'replay', 16, np.random.default_rng(0))
    before = [row['goal_spread'] for row in controllability.probe(
        agent, starts, 4)]
    [kernel] = [v for v in agent.hierarchy.skills.decoder_inputs['4']
                .trainable_variables if v.shape.rank == 2]
    skill_size = int(np.prod(agent.config.skill_shape))
    kernel[:skill_size].assign(tf.zeros_like(kernel[:skill_size]))
    after = [row['goal_spread'] for row in controllability.probe(
        agent, starts, 4)]
    assert min(before) > 1e-3, before
    assert after[1] < 1e-6 and after[0] > 1e-3 and after[2] > 1e-3, after


def test_sweep_commands_are_valid_train_commands():
    commands = sweep.main([
        '--table', 'ablations', '--tasks', 'dmc_cartpole_swingup',
        'gymr_fetch_push', '--seeds', '0', '1', '--steps', '5000'])
    assert len(commands) == 2 * 2 * 7  # tasks x seeds x runs per seed
    for command in commands:
        assert command[0] == 'train.py'
        config = configs.parse(command[1:])
        assert config.run.steps == 5000
    finetune = commands[6]
    assert finetune[finetune.index('--from_checkpoint') + 1] == (
        commands[5][commands[5].index('--logdir') + 1])
    table1 = sweep.main(['--table', '1', '--seeds', '0'])
    assert len(table1) == len(sweep.DMC_TASKS) * 4
    presets = {c[c.index('--configs') + 2] for c in table1}
    assert presets == {'mrs', 'director', 'flat', 'random_choice'}


def test_run_config_from_older_code_gets_new_keys_defaults(
        tmp_path, capsys):
    config = configs.parse(
        ['--configs', 'debug', 'single_8', '--logdir', str(tmp_path)])
    old = {k: v for k, v in config.flat().items() if k != 'tf.devices'}
    old['tf.precision'] = 16  # saved so before 'auto'; meant float32 on CPUs
    embodied.Config(old).save(tmp_path / 'config.yaml')
    loaded = configs.load_run(tmp_path)
    # How TensorFlow executes is this machine's default, not the run's.
    execution = {k: v for k, v in configs.parse([]).flat().items()
                 if k.startswith('tf.')}
    assert loaded == config.update(execution)
    assert loaded.tf.precision == 'auto' and loaded.tf.jit == 'auto'
    assert loaded.mrs.skills == config.mrs.skills != configs.parse(
        []).mrs.skills
    assert 'predates tf.devices' in capsys.readouterr().out


@pytest.mark.slow
def test_eval_choice_override_fixes_the_resolution(tiny_logdir):
    output = run_python(
        'scripts/sweep.py', '--table', '3', '--logdirs', tiny_logdir,
        '--configs', 'dmc_vision', 'debug', '--choices', 'fixed:0',
        'fixed:1', '--eval-eps', 2, '--run', timeout=400)
    assert output.count('--run.script eval_only') == 2
    results = {
        index: json.loads(
            (tiny_logdir / f'eval_scores_fixed_{index}.json').read_text())
        for index in (0, 1)}
    for index, result in results.items():
        assert result['eval_choice'] == f'fixed:{index}'
        assert result['episodes'] == len(result['scores']) == 2
        expected = np.eye(RESOLUTIONS)[index]
        for frequencies in result['choice_frequencies']:
            np.testing.assert_allclose(frequencies, expected)
        np.testing.assert_allclose(result['mean_choice_frequency'], expected)
    assert (results[0]['choice_frequencies'] !=
            results[1]['choice_frequencies'])
    rows = sweep.main(
        ['--table', '3', '--logdirs', str(tiny_logdir), '--collect'])
    assert [row[:3] for row in rows] == [
        ('dmc_cartpole_swingup', 'fixed:0', 1),
        ('dmc_cartpole_swingup', 'fixed:1', 1)]


@pytest.mark.slow
def test_bench_reports_steps_loop_and_ratios(tmp_path):
    out = tmp_path / 'bench.json'
    table = run_python(
        'scripts/bench.py', '--sizes', 'debug', '--env', 'dmc_proprio',
        '--task', 'dmc_cartpole_swingup', '--steps', '10', '--loop-trains',
        '2', '--jit', 'graph', '--profile-ops', '1', '--out', out,
        timeout=900)
    report = json.loads(out.read_text())
    results = {r['preset']: r for r in report['results']}
    assert set(results) == {'director', 'mrs'}
    # Each preset in its own child process.
    assert results['director']['pid'] != results['mrs']['pid']
    for result in results.values():
        assert result['mode'] == 'graph'
        assert len(result['train_s']) == 10
        assert result['train_retraces'] == 0
        assert result['policy_retraces'] == 0
        assert result['parameters']['total'] > 0
        # Director trains every 16 steps, MRS every 8: 2 calls each.
        assert result['loop_train_calls'] == 2
        assert result['loop_steps_per_s'] > 0
        assert 0 <= result['data_wait_frac'] < 1
        assert result['train_gflop'] > 0 and result['policy_gflop'] > 0
        assert result['peak_gflops_per_s'] > 1
        assert 0 < result['train_peak_frac'] < 1.5
        profile = result['train_ops']
        compute = [op for op in profile['ops'].values() if op['share']]
        assert sum(op['share'] for op in compute) == pytest.approx(1)
        # MatMul, or _MklMatMul where TensorFlow turns oneDNN on.
        matmuls = [
            op['count'] for kind, op in profile['ops'].items()
            if kind.endswith('MatMul')]
        assert sum(matmuls) > 10
        assert {'world_model', 'imagine', 'worker'} <= set(profile['scopes'])
        assert 0 < profile['compute_ms'] and 0 < profile['wall_ms']
    ratios = report['ratios']['debug']
    # MRS's extra skill modules and heads are extra arithmetic.
    assert ratios['train_flops'] > 1
    assert ratios['train_median'] == pytest.approx(
        results['mrs']['train_median_s']
        / results['director']['train_median_s'])
    assert ratios['parameters_total'] > 1
    assert 'mrs/director' in table
    assert 'name scope' in table


class CountingAgent:
    """Stands in for an agent in bench.time_train: records its train calls
    in a shared log."""

    def __init__(self, name, calls):
        self.name, self.calls = name, calls

    def train(self, batch):
        self.calls.append(self.name)

    def traces(self):
        return {'train': 1}


def test_bench_alternates_the_train_calls_of_interleaved_agents():
    calls = []
    agents = [CountingAgent(name, calls) for name in ('director', 'mrs')]
    timings = bench.time_train(agents, {}, steps=3)
    # One compiling call each, then turns.
    assert calls == ['director', 'mrs'] + ['director', 'mrs'] * 3
    assert [len(t['train_s']) for t in timings] == [3, 3]
    assert all(t['train_retraces'] == 0 for t in timings)


def test_bench_ratios_pair_presets_within_each_round():
    def result(preset, round_, seconds):
        return {
            'size': 'debug', 'preset': preset, 'round': round_,
            'train_median_s': seconds,
            'train_gflop': {'director': 2.0, 'mrs': 3.0}[preset],
            'parameters': {'total': {'director': 4, 'mrs': 5}[preset]}}
    # The machine is twice as slow in round 1: paired within rounds, the
    # ratios are 1.2, 1.1 and 1.5, not a ratio of medians over rounds.
    results = [
        result('director', 0, 1.0), result('mrs', 0, 1.2),
        result('director', 1, 2.0), result('mrs', 1, 2.2),
        result('director', 2, 1.0), result('mrs', 2, 1.5),
        result('mrs', 3, 9.0)]  # No director in round 3: left out.
    ratios = bench.compute_ratios(results)['debug']
    assert ratios['train_median_rounds'] == pytest.approx([1.2, 1.1, 1.5])
    assert ratios['train_median'] == pytest.approx(1.2)
    assert ratios['train_flops'] == pytest.approx(1.5)
    assert ratios['parameters_total'] == pytest.approx(1.25)
    assert bench.compute_ratios(results[:1]) == {}


def test_bench_precision_ratios_pair_precisions_within_each_round():
    def result(preset, precision, round_, seconds):
        return {
            'size': 'cpu_small', 'preset': preset, 'precision': precision,
            'round': round_, 'train_median_s': seconds, 'train_gflop': 2.0,
            'parameters': {'total': 4}}
    results = [
        result('mrs', 'float32', 0, 1.0), result('mrs', 'bfloat16', 0, 0.5),
        result('mrs', 'float32', 1, 2.0), result('mrs', 'bfloat16', 1, 1.2),
        result('mrs', 'bfloat16', 2, 9.0)]  # No float32 in round 2.
    ratios = bench.compute_precision_ratios(results)
    assert list(ratios) == ['cpu_small mrs']
    ratio = ratios['cpu_small mrs']['bfloat16/float32']
    assert ratio['train_median_rounds'] == pytest.approx([0.5, 0.6])
    assert ratio['train_median'] == pytest.approx(0.55)
    # mrs/director is taken within one precision: none here.
    assert bench.compute_ratios(results) == {}
    assert bench.label(results[1], results) == 'mrs bfloat16 r0'


def test_op_self_times_leave_out_nested_ops_and_runtime_events():
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    plane = xplane_pb2.XPlane()
    names = ['loop:While', 'body/MatMul:MatMul', 'ExecutorState::Process',
             'body/Mul:Mul', 'later:Mul']
    for index, name in enumerate(names):
        plane.event_metadata[index].name = name
    line = plane.lines.add()
    # (event, start, duration): MatMul and the first Mul run inside While.
    for index, start, length in [
            (0, 0, 100), (2, 5, 50), (1, 10, 30), (3, 60, 20), (4, 200, 7)]:
        event = line.events.add()
        event.metadata_id, event.offset_ps, event.duration_ps = (
            index, start, length)
    assert sorted(bench.op_self_times(line, plane.event_metadata)) == [
        ('body/MatMul', 'MatMul', 30), ('body/Mul', 'Mul', 20),
        ('later', 'Mul', 7), ('loop', 'While', 50)]
    assert bench.op_scope('gradient_tape/skills/dense/MatMul') == 'skills'
    assert bench.op_scope('MatMul') == '(no scope)'
    assert bench.op_scope(
        'gradient_tape/imagine_1/while/body/rewards/exploration/dense/MatMul'
    ) == 'imagine/rewards/exploration'
    assert bench.op_scope('Grappler/Read/x') == 'Grappler'


@pytest.mark.slow
def test_gpu_check_runs_the_float16_and_bfloat16_paths_on_a_cpu(tmp_path):
    out = tmp_path / 'gpu_check.json'
    output = run_python(
        'scripts/gpu_check.py', '--cpu', '--size', 'debug', '--env',
        'dmc_proprio', '--jit', 'graph', '--presets', 'director',
        '--train-steps', 12, '--out', out, timeout=900)
    assert 'GL vendor:' in output and 'all checks passed' in output
    report = json.loads(out.read_text())
    assert report['setup']['precisions'] == ['float16', 'bfloat16']
    assert not report['failures']
    for precision in ('float16', 'bfloat16'):
        result = report['results'][precision]['director']
        assert result['compile_s'] > 0 and result['train_median_s'] > 0
    half = report['results']['float16']['director']['optimizers']
    for name in ('model', 'skills', 'worker_actor', 'manager_actor'):
        scales = half[name]['scale_changes']
        assert 0 < scales[-1][1] <= 1e4, (name, scales)
    assert report['results']['bfloat16']['director']['optimizers'] == {}
    assert 'director bfloat16: no loss scale' in output


def test_gpu_check_without_a_gpu_fails_with_one_line():
    result = subprocess.run(
        [sys.executable, 'scripts/gpu_check.py', '--size', 'debug'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert 'error: tf.platform is gpu but TensorFlow sees no GPU' in (
        result.stderr)


def test_subgoal_distance_simulation_shows_the_tradeoff(tmp_path):
    """Paper Fig. 1: near subgoals jitter, far ones cut corners."""
    import subgoal_distance
    subgoal_distance.main(['--out', str(tmp_path), '--paths', '4'])
    results = json.loads(
        (tmp_path / 'subgoal_distance.json').read_text())['results']
    error = {k: v['tracking_error'] for k, v in results.items()}
    turning = {k: v['turning_deg_per_step'] for k, v in results.items()}
    assert turning['d=1'] > 3 * turning['d=8']
    assert turning['d=8'] > turning['d=32']
    assert error['d=32'] > 3 * error['d=4']
    assert error['adaptive'] < error['d=16'] and (
        turning['adaptive'] < turning['d=2'])
    assert open_image(tmp_path / 'subgoal_distance.png')[0] > 0
