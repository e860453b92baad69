"""The programs of scripts/, each run as users run it in a subprocess
(slow tier), mostly on a tiny vision run trained once for this module;
and eval_only's choice override. The library they stand on,
mrs_tf.analysis, is tested in test_analysis.py; check_distribute.py and
diff_director.py run in test_distribute.py and test_golden.py."""

import json
import pathlib
import re
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import embodied
from mrs_tf import configs
from mrs_tf.analysis import controllability, evaluations, trained
from test_analysis import write_fake_run, write_upstream_run

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
    # Environment processes are spawned from these scripts (a spawned
    # process imports its parent's main file) and must stay free of
    # TensorFlow; so must the library modules they import.
    code = (
        'import sys; import analyze, bench, check_distribute, '
        'controllability, count_parameters, gpu_check, pinpad_progress, '
        'plot, sweep, subgoal_distance, upstream_runs; '
        'from mrs_tf.analysis import choices, controllability, curves, '
        'evaluations, op_profile, runs, statistics, timing, trained; '
        'assert "tensorflow" not in sys.modules, "tensorflow imported"')
    run_python('-c', code, cwd=ROOT / 'scripts')


@pytest.mark.parametrize('script, purpose', [
    ('analyze.py', "analyze.py's choice analyses"),
    ('controllability.py', 'controllability probes')])
def test_manager_analyses_of_a_flat_run_stop_before_loading_it(
        tmp_path, script, purpose):
    logdir = tmp_path / 'flat'
    logdir.mkdir()
    configs.parse(['--configs', 'dmc_proprio', 'flat']).save(
        logdir / 'config.yaml')  # No checkpoint, replay or environment.
    out = tmp_path / 'figures'
    result = subprocess.run(
        [sys.executable, f'scripts/{script}', '--logdir', logdir,
         '--out', out / 'out.json'], cwd=ROOT, capture_output=True,
        text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        f'error: {purpose} need a manager; mrs.manager is False (flat)\n')
    assert not out.exists()


def pinpad_episode(path, visits, rewards):
    """A replay episode of pinpad_four whose sequence observation shows the
    pads in `visits`, one more per step."""
    sequence = np.zeros((len(visits) + 1, 4, 4), np.float32)
    for step in range(1, len(visits) + 1):
        shown = visits[max(0, step - 4):step]
        for slot, pad in enumerate(shown):
            sequence[step, slot, pad - 1] = 1
    reward = np.zeros(len(visits) + 1, np.float32)
    reward[-1] = 10.0 * rewards
    np.savez(path, sequence=sequence.reshape(-1, 16), reward=reward)


def test_pinpad_progress_counts_each_episodes_best_order(tmp_path):
    logdir = tmp_path / 'pinpad' / 'director-seed0'
    (logdir / 'replay').mkdir(parents=True)
    configs.parse(['--configs', 'director', 'cpu_small', 'pinpad_proprio',
                   '--task', 'pinpad_four']).save(logdir / 'config.yaml')
    pinpad_episode(logdir / 'replay' / 'a-2001-step4001.npz', [2, 1, 2], 0)
    pinpad_episode(
        logdir / 'replay' / 'b-2001-step8001.npz', [1, 2, 3, 4, 1], 1)
    pinpad_episode(logdir / 'replay' / 'c-2001-step9001.npz', [4, 1, 2], 0)
    out = tmp_path / 'progress.json'
    output = run_python(
        'scripts/pinpad_progress.py', logdir, '--until', 8001, '--out', out)
    assert ('2 episodes, 1 sequences completed; episodes by highest '
            'progress {2: 1, 4: 1}') in output
    [row] = json.loads(out.read_text())['runs']
    assert (row['run'], row['preset'], row['task']) == (
        'director-seed0', 'director', 'pinpad_four')
    assert row['highest_progress'] == [2, 4] and row['completed'] == 1
    result = subprocess.run(
        [sys.executable, 'scripts/pinpad_progress.py', tmp_path],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr == (
        f"error: {tmp_path}: no config.yaml, not a run's logdir\n")


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


@pytest.mark.slow
def test_controllability_finds_a_module_that_ignores_its_skill(
        tiny_logdir, tmp_path):
    out = tmp_path / 'controllability.json'
    output = run_python(
        'scripts/controllability.py', '--logdir', tiny_logdir, '--starts',
        16, '--samples', 4, '--out', out)
    rows = json.loads(out.read_text())['heads']
    assert 'goal_spread' in output and str(out) in output
    assert [row['head'] for row in rows] == ['2', '4', '8', 'inf']
    assert sum(row['choice_prob'] for row in rows) == pytest.approx(1)
    for row in rows:
        assert 0 < row['entropy'] <= 1
        assert row['return_std'] > 0 and row['state_spread'] > 0
    # Zero the skill's weights in the decoder's input layer of l = 4: its
    # goals no longer depend on z, and the probe must say so.
    import tensorflow as tf
    agent, _ = trained.load_run_agent(
        embodied.Config.load(tiny_logdir / 'config.yaml'), tiny_logdir)
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


def sweep_commands(*flags):
    """The train.py commands scripts/sweep.py prints, as argument lists."""
    output = run_python('scripts/sweep.py', *flags)
    commands = [shlex.split(line) for line in output.splitlines()]
    assert all(command[0] == 'python' for command in commands)
    return [command[1:] for command in commands]


@pytest.mark.slow
def test_sweep_commands_are_valid_train_commands():
    commands = sweep_commands(
        '--table', 'ablations', '--tasks', 'dmc_cartpole_swingup',
        'gymr_fetch_push', '--seeds', '0', '1', '--steps', '5000')
    assert len(commands) == 2 * 2 * 7  # tasks x seeds x runs per seed
    for command in commands:
        assert command[0] == 'train.py'
        config = configs.parse(command[1:])
        assert config.run.steps == 5000
    finetune = commands[6]
    assert finetune[finetune.index('--from_checkpoint') + 1] == (
        commands[5][commands[5].index('--logdir') + 1])
    table1 = sweep_commands('--table', '1', '--seeds', '0')
    assert len(table1) == 8 * 4  # DMC tasks x presets
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
    rows = evaluations.collect_evaluations([tiny_logdir])
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
    ratios = report['ratios']['mrs/director']['debug']
    # MRS's extra skill modules and heads are extra arithmetic.
    assert ratios['train_flops'] > 1
    assert ratios['train_median'] == pytest.approx(
        results['mrs']['train_median_s']
        / results['director']['train_median_s'])
    assert ratios['parameters_total'] > 1
    assert 'mrs/director' in table
    assert 'name scope' in table


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


@pytest.mark.slow
def test_gpu_check_without_a_gpu_fails_with_one_line():
    result = subprocess.run(
        [sys.executable, 'scripts/gpu_check.py', '--size', 'debug'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert 'error: tf.platform is gpu but TensorFlow sees no GPU' in (
        result.stderr)


@pytest.mark.slow
def test_subgoal_distance_simulation_shows_the_tradeoff(tmp_path):
    """Paper Fig. 1: near subgoals jitter, far ones cut corners."""
    run_python(
        'scripts/subgoal_distance.py', '--out', tmp_path, '--paths', 4)
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


@pytest.mark.slow
def test_upstream_runs_plot_beside_ours(tmp_path):
    ours = tmp_path / 'check' / 'director' / 'seed0'
    write_fake_run(ours, 'director', [5.0, 5.0, 7.0, 9.0])
    upstream = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed3'
    write_upstream_run(upstream, [1.0, 2.0, 30.0, 50.0])
    output = run_python(
        'scripts/upstream_runs.py', upstream, '--out', tmp_path / 'up')
    runs_file = tmp_path / 'up' / 'runs.json'
    assert 'dmc_reacher_easy/upstream_director/seed3: 4 episodes' in output
    run_python(
        'scripts/plot.py', ours, runs_file, '--out', tmp_path / 'plots',
        '--metric', 'episode/score', '--final', 0.25)
    scores = json.loads(
        (tmp_path / 'plots' / 'final_episode_score.json').read_text())
    assert {(r['task'], r['preset']) for r in scores['rows']} == {
        ('dmc_reacher_easy', 'director'),
        ('dmc_reacher_easy', 'upstream_director')}
    # A folder of ours without episode scores: one error line.
    empty = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed4'
    empty.mkdir()
    (empty / 'metrics.jsonl').write_text(
        json.dumps({'step': 2500, 'train/model_loss': 3.0}) + '\n')
    result = subprocess.run(
        [sys.executable, 'scripts/upstream_runs.py', empty, '--out',
         tmp_path / 'empty'], cwd=ROOT, capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith('error: ') and (
        'no episode/score' in result.stderr)


@pytest.mark.slow
def test_count_parameters_prints_every_module():
    counts = json.loads(run_python(
        'scripts/count_parameters.py', '--configs', 'dmc_proprio', 'debug'))
    assert counts['total'] > 0 and counts['wm/rssm'] > 0
