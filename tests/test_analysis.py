"""mrs_tf.analysis, the library of the programs in scripts/, on synthetic
data, stand-in agents and the session's proprio agent: fast. The
programs themselves run in subprocesses in test_scripts.py (slow tier)."""

import json
import os
import pathlib

import numpy as np
import pytest

from mrs_tf import configs
from mrs_tf.analysis import (
    choices, controllability, evaluations, op_profile, statistics, timing,
    trained)
from mrs_tf.analysis import runs as run_records

DURATION = 8  # States per manager decision, as the skill duration K.


def held_labels(decisions, rng, classes=4):
    """One random label per decision, held for DURATION states, and each
    state's decision id."""
    ids = np.repeat(np.arange(decisions), DURATION)
    return rng.integers(classes, size=decisions)[ids], ids


def test_permute_by_group_keeps_one_label_per_group():
    rng = np.random.default_rng(0)
    labels, groups = held_labels(50, rng)
    permuted = statistics.permute(labels, rng, groups)
    per_group = permuted.reshape(-1, DURATION)
    assert (per_group == per_group[:, :1]).all()
    assert sorted(per_group[:, 0]) == sorted(labels[::DURATION])
    with pytest.raises(ValueError, match='one group id per label'):
        statistics.permute(labels, rng, groups[:-1])


def test_decision_null_is_wider_than_the_per_state_null():
    # Clusters that follow the state slowly (blocks of 40 states) and
    # labels held for 8 states, independent of each other: the per-state
    # permutation sees 4,000 independent labels where there are 500.
    rng = np.random.default_rng(0)
    labels, groups = held_labels(500, rng)
    clusters = np.repeat(rng.integers(4, size=100), 40)
    score = statistics.normalized_mutual_information
    per_state = statistics.shuffled(score, clusters, labels, 20, rng)
    per_decision = statistics.shuffled(
        score, clusters, labels, 20, rng, groups)
    assert per_decision[0] > 4 * per_state[0]
    assert per_decision[1] > 4 * per_state[1]
    # The real NMI of such unrelated labels is a draw from the wider null.
    real = score(clusters, labels)
    assert real > per_state[0] + 3 * per_state[1]
    assert abs(real - per_decision[0]) < 4 * per_decision[1]


def test_shuffled_std_is_the_sample_std():
    values = iter([1.0, 2.0, 3.0])
    mean, std = statistics.shuffled(
        lambda inputs, labels: next(values), None, np.arange(4), 3,
        np.random.default_rng(0))
    assert mean == 2.0 and std == pytest.approx(1.0)  # ddof=0 gives 0.816.


def test_step_records_number_decisions_across_episodes():
    def episode(count):
        choice = np.zeros((count + 1, 4))
        choice[:, 1] = 1
        return {'is_first': np.zeros(count + 1),
                'log_deter': np.zeros((count + 1, 3)),
                'log_choice': choice}
    steps = choices.step_records([episode(20), episode(12)], DURATION)
    assert steps['decision_id'].tolist() == (
        [0] * 8 + [1] * 8 + [2] * 4 + [3] * 8 + [4] * 4)
    assert steps['episode'].tolist() == [0] * 20 + [1] * 12


def test_purity_json_keeps_the_per_state_data():
    rng = np.random.default_rng(0)
    labels, groups = held_labels(40, rng)
    steps = {
        'deter': rng.normal(size=(len(labels), 3)) + labels[:, None],
        'choice': labels, 'decision': np.arange(len(labels)) % DURATION == 0,
        'decision_id': groups, 'episode': groups // 10}
    report = choices.purity_report(
        steps, ['8', '16', '32', 'inf'], shuffles=5, seed=0, rng=rng)
    result = json.loads(choices.json_with_compact_lists(report, 'per_state'))
    assert result == json.loads(json.dumps(report))
    assert result['shuffled_by'] == 'decision' and result['std_ddof'] == 1
    assert result['per_state']['choice'] == labels.tolist()
    assert result['per_state']['decision_id'] == groups.tolist()
    assert len(result['per_state']['cluster']) == len(labels)
    # The baselines can be recomputed from the file alone.
    kept = result['per_state']
    assert statistics.cluster_purity(kept['cluster'], kept['choice']) == (
        result['purity'])


def test_runs_drop_the_steps_a_restart_logged_again(tmp_path):
    # A run killed before its first checkpoint logged four prefill
    # episodes; its restart began again at step 0 and logged those steps
    # anew (seed 2 of docs/results/mechanism). Two records of one step with
    # other keys (evaluations at the final step) are no restart.
    steps = [2002, 2004, 4006, 4008, 1992, 2002, 2004, 50000, 50000]
    records = [{'step': step, 'episode/score': float(i)}
               for i, step in enumerate(steps)]
    kept = run_records.drop_relogged(records)
    assert [r['step'] for r in kept] == [1992, 2002, 2004, 50000, 50000]
    assert [r['episode/score'] for r in kept] == [4.0, 5.0, 6.0, 7.0, 8.0]
    runs_file = tmp_path / 'runs.json'
    runs_file.write_text(json.dumps({'runs': [{
        'name': 'seed2', 'task': 'dmc_cartpole_swingup', 'label': 'mrs',
        'skills': [8, 16, 32, 'inf'], 'metrics': records}]}))
    loaded = run_records.load_runs([runs_file])
    path, = run_records.write_runs(loaded, 'episode/score', tmp_path)
    assert path == tmp_path / 'runs.json'
    written = json.loads(path.read_text())
    assert written['runs'][0]['metrics'] == kept


def test_final_scores_give_the_sample_std_over_seeds(tmp_path, capsys):
    runs = [run_records.make_run(
        f'seed{i}', 'task', 'mrs', (8, 'inf'),
        [{'step': 10, 'episode/score': score}])
        for i, score in enumerate([1.0, 2.0, 3.0])]
    run_records.write_final_scores(runs, 'episode/score', 0.1, tmp_path)
    row = json.loads(
        (tmp_path / 'final_episode_score.json').read_text())['rows'][0]
    assert row['std'] == pytest.approx(1.0) and row['std_ddof'] == 1
    assert '± 1.00 (sample std, ddof=1)' in capsys.readouterr().out


def test_a_budget_cuts_runs_and_a_scale_changes_only_the_scores(tmp_path):
    # Pin Pad: a run stopped past its 30,000-frame budget, its scores in
    # points (10 per sequence) reported as sequences per episode.
    records = [{'step': step, 'eval_episode/mean_score': score}
               for step, score in ((9002, 0.0), (29002, 20.0), (34002, 90.0))]
    runs = [run_records.make_run('seed0', 'pinpad_four', 'mrs', (8, 'inf'),
                                 records)]
    cut = run_records.cut_at(runs, 30000)
    assert [r['step'] for r in cut[0]['metrics']] == [9002, 29002]
    assert runs[0]['metrics'] == records  # The input is left as it was.
    path, = run_records.write_final_scores(
        cut, 'eval_episode/mean_score', 0.1, tmp_path, scale=0.1)
    final = json.loads(path.read_text())
    assert final['scale'] == 0.1
    assert final['rows'][0]['runs'] == {'seed0': pytest.approx(2.0)}
    assert cut[0]['metrics'][1]['eval_episode/mean_score'] == 20.0
    written, = run_records.write_runs(
        cut, 'eval_episode/mean_score', tmp_path)
    kept = json.loads(written.read_text())['runs'][0]['metrics']
    assert [r['eval_episode/mean_score'] for r in kept] == [0.0, 20.0]


def test_evaluations_give_sample_stds_and_welch_tests(tmp_path, capsys):
    scores = {'learned': [[10.0, 12.0], [20.0, 22.0]],
              'fixed:0': [[0.0, 2.0], [30.0, 34.0]]}
    logdirs = [tmp_path / f'seed{i}' for i in range(2)]
    for index, logdir in enumerate(logdirs):
        logdir.mkdir()
        for choice, runs in scores.items():
            # Seed 0's files name the variant as eval_only writes it now,
            # seed 1's as it did before the runtime named variants.
            name = 'variant' if index == 0 else 'eval_choice'
            (logdir / f"eval_scores_{choice.replace(':', '_')}.json"
             ).write_text(json.dumps({
                 'task': 'task', name: choice,
                 'scores': runs[index], 'mean': float(np.mean(runs[index])),
                 'mean_choice_frequency': [1.0, 0.0]}))
    # An agent without a choice head (--agent random): no shares.
    (logdirs[0] / 'eval_scores_random.json').write_text(json.dumps({
        'task': 'task', 'variant': 'random', 'scores': [1.0, 3.0],
        'mean': 2.0}))
    rows = evaluations.collect_evaluations(logdirs)
    assert rows[1][:4] == ('task', 'learned', 2, 16.0)
    assert rows[2][:4] == ('task', 'random', 1, 2.0)
    assert rows[1][4] == pytest.approx(np.std([11.0, 21.0], ddof=1))
    output = capsys.readouterr().out
    assert 'sample std (ddof=1)' in output
    # Welch's t on [10, 12] against [0, 2]: t = 10 / sqrt(2 / 2 + 2 / 2).
    assert 'learned - fixed:0: +10.0 (2 and 2 episodes), Welch t = 7.07' in (
        output)


def test_eval_only_writes_the_sample_std_over_episodes():
    import importlib
    # embodied.run.eval_only names the function; the module holds summarize.
    eval_only = importlib.import_module('embodied.run.eval_only')
    metrics = [{'score': 1.0}, {'score': 3.0}]
    result = eval_only.summarize(metrics, 'task', 'learned', 'ckpt')
    assert result['std'] == pytest.approx(np.sqrt(2.0))
    assert result['std_ddof'] == 1
    assert eval_only.summarize(metrics[:1], 'task', 'learned', 'ckpt')[
        'std'] is None


def test_choice_frequencies_come_in_resolution_order():
    from mrs_tf import choice_policy
    metrics = {'score': 1.0, 'mean_log_choice_1': 0.75,
               'mean_log_choice_0': 0.25, 'mean_log_other_0': 9.0}
    assert choice_policy.frequencies(metrics) == [0.25, 0.75]
    assert choice_policy.frequencies({'score': 1.0}) == []


@pytest.mark.parametrize('clusters, labels, purity', [
    ([0, 0, 1, 1, 2, 2], ['a', 'a', 'b', 'b', 'c', 'c'], 1.0),
    ([5, 5, 3, 3], [1, 1, 0, 0], 1.0),
    ([0, 0, 0, 0, 1, 1, 1, 1], [0, 0, 0, 1, 1, 1, 1, 0], 0.75),
    ([0, 0, 0, 0], [0, 1, 2, 3], 0.25),
    ([0, 1, 2, 3], [0, 0, 0, 0], 1.0),
])
def test_cluster_purity_known_values(clusters, labels, purity):
    assert statistics.cluster_purity(clusters, labels) == pytest.approx(purity)


def test_cluster_purity_rejects_mismatched_inputs():
    with pytest.raises(ValueError):
        statistics.cluster_purity([0, 1, 2], [0, 1])
    with pytest.raises(ValueError):
        statistics.cluster_purity([], [])


def test_shuffled_purity_is_near_chance_for_a_perfect_clustering():
    labels = np.repeat(np.arange(4), 100)
    rng = np.random.default_rng(0)
    mean, std = statistics.shuffled_purity(labels, labels, 10, rng)
    assert statistics.cluster_purity(labels, labels) == 1.0
    assert 0.25 <= mean < 0.35 and std < 0.05


def test_choice_accuracy_finds_a_choice_that_follows_the_state():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(400, 2))
    labels = (states[:, 0] > 0) * 2 + (states[:, 1] > 0)
    episodes = np.repeat(np.arange(20), 20)
    assert statistics.choice_accuracy(states, labels, episodes) > 0.9
    mean, _ = statistics.shuffled(
        lambda s, l: statistics.choice_accuracy(s, l, episodes),
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
    assert statistics.choice_accuracy(states, labels, episodes) < 0.45


@pytest.mark.parametrize('preset', [
    'mrs', 'director', 'director_upstream', 'single_8', 'single_16',
    'single_32', 'no_inf', 'vanilla_expl', 'explore_only', 'flat',
    'random_choice', 'mrs_adaptive'])
def test_derive_preset_recovers_the_configs_preset(preset):
    config = configs.parse(['--configs', 'dmc_vision', preset])
    assert run_records.derive_preset(config) == preset


def test_derive_preset_marks_fine_tuning():
    config = configs.parse(['--from_checkpoint', '/tmp/pretrained'])
    assert run_records.derive_preset(config) == 'mrs_finetuned'


def test_derive_preset_names_the_random_policy_whatever_the_preset():
    config = configs.parse(['--configs', 'flat', '--agent', 'random'])
    assert run_records.derive_preset(config) == 'random'


def test_mean_std_over_runs_ignores_missing_bins():
    mean, std = statistics.mean_std_over_runs(
        [[1.0, np.nan, np.nan], [3.0, 5.0, np.nan]])
    np.testing.assert_allclose(mean[:2], [2.0, 5.0])
    np.testing.assert_allclose(std[0], np.sqrt(2.0))  # ddof=1
    assert np.isnan(std[1])  # One run: no sample std.
    assert np.isnan(mean[2])


def test_run_names_drop_the_shared_root(tmp_path):
    logdirs = [tmp_path / 'check' / task / 'mrs' / 'seed0'
               for task in ('dmc_cartpole_swingup', 'dmc_reacher_easy')]
    relative = pathlib.Path(os.path.relpath(logdirs[0]))
    names = run_records.run_names([relative, logdirs[1]])
    assert names == {relative: 'dmc_cartpole_swingup/mrs/seed0',
                     logdirs[1]: 'dmc_reacher_easy/mrs/seed0'}
    assert run_records.run_names([logdirs[0]]) == {logdirs[0]: 'seed0'}
    assert run_records.run_names([logdirs[0]], tmp_path / 'check') == {
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


def test_runs_read_back_the_runs_they_wrote(tmp_path):
    logdirs = [tmp_path / 'check' / preset / 'seed0'
               for preset in ('mrs', 'director')]
    write_fake_run(logdirs[0], 'mrs', [10.0, 20.0, 30.0, 50.0])
    write_fake_run(logdirs[1], 'director', [5.0, 5.0, 7.0, 9.0])
    loaded = run_records.load_runs(logdirs)
    runs_file, = run_records.write_runs(loaded, 'episode/score', tmp_path)
    kept = json.loads(runs_file.read_text())['runs'][0]['metrics'][0]
    assert set(kept) == {'step', 'episode/score'}
    scores = []
    for name, runs in (('a', loaded), ('b', run_records.load_runs(
            [runs_file]))):
        (tmp_path / name).mkdir()
        path, = run_records.write_final_scores(
            runs, 'episode/score', 0.25, tmp_path / name)
        scores.append(json.loads(path.read_text()))
    assert scores[0] == scores[1]
    assert {r['preset']: r['runs'] for r in scores[0]['rows']} == {
        'director': {'director/seed0': 8.0}, 'mrs': {'mrs/seed0': 40.0}}
    with pytest.raises(ValueError, match='mrs/seed0 is given twice'):
        run_records.load_runs([runs_file, *logdirs])


def write_upstream_run(logdir, scores):
    """An upstream Director logdir: episodes, a train report, and a line
    cut off by a kill in its metrics.jsonl."""
    logdir.mkdir(parents=True)
    lines = [json.dumps({'step': 1000 * (i + 1), 'episode/score': score,
                         'episode/length': 500})
             for i, score in enumerate(scores)]
    lines.insert(2, json.dumps({'step': 2500, 'train/model_loss': 3.0}))
    lines.append('{"step": 5000, "episode/sc')
    (logdir / 'metrics.jsonl').write_text('\n'.join(lines) + '\n')


def test_upstream_runs_plot_beside_ours(tmp_path):
    ours = tmp_path / 'check' / 'director' / 'seed0'
    write_fake_run(ours, 'director', [5.0, 5.0, 7.0, 9.0])
    upstream = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed3'
    write_upstream_run(upstream, [1.0, 2.0, 30.0, 50.0])
    runs_file, = run_records.write_runs(
        [run_records.upstream_run(upstream)], 'episode/score', tmp_path)
    runs = run_records.load_runs([ours, runs_file])
    path, = run_records.write_final_scores(
        runs, 'episode/score', 0.25, tmp_path)
    scores = json.loads(path.read_text())
    assert {(r['task'], r['preset']): r['runs'] for r in scores['rows']} == {
        ('dmc_reacher_easy', 'director'): {'seed0': 8.0},
        ('dmc_reacher_easy', 'upstream_director'): {
            'dmc_reacher_easy/upstream_director/seed3': 40.0}}
    empty = tmp_path / 'up' / 'dmc_reacher_easy' / 'seed4'
    empty.mkdir()
    (empty / 'metrics.jsonl').write_text(
        json.dumps({'step': 2500, 'train/model_loss': 3.0}) + '\n')
    with pytest.raises(ValueError, match='no episode/score'):
        run_records.upstream_run(empty)


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


def test_proprio_goal_distances_per_resolution():
    time = np.arange(30, dtype=np.float32)
    episode = {'position': np.stack([time, np.zeros(30)], -1),
               'is_first': time == 0}
    starts = trained.random_starts([episode], 40, np.random.default_rng(0))
    keys, result = trained.goal_distances(
        LineAgent([2, 4, 0]), starts, ['2', '4', 'inf'])
    assert keys == ['position']
    four = result['4']
    assert four['goal_to_now'] == pytest.approx(4)
    assert four['later_to_now'] == pytest.approx(4)
    assert four['goal_to_later'] == pytest.approx(0)
    assert four['starts_with_later'] < 40  # Starts near the end have none.
    assert result['inf']['goal_to_now'] == 0
    assert 'goal_to_later' not in result['inf']


def test_goal_spread_is_the_mean_distance_within_a_start_over_the_norm():
    goals = np.zeros([2, 3, 2])
    goals[0] = [[1, 0], [1, 0], [1, 0]]  # One goal for every z.
    goals[1] = [[0, 1], [0, -1], [0, 1]]  # Pairwise distances 2, 0, 2.
    # Mean pairwise distance (0 + 4/3) / 2 over the mean norm 1.
    assert controllability.goal_spread(goals) == pytest.approx(2 / 3)
    assert controllability.goal_spread(goals[:1]) == 0


def goal_changes(traj):
    """The imagined steps whose goal differs from the step before's."""
    goal = traj['goal'].numpy()
    return [t for t in range(1, len(goal)) if (goal[t] != goal[t - 1]).any()]


def test_controllability_probes_decide_where_the_hierarchy_does(
        proprio_agent, proprio_data):
    """The probe's policies (one head fixed; its z shared by the samples of
    a start) take new goals on the hierarchy's own decision steps, every K
    imagined steps (Hierarchy.pursue)."""
    import tensorflow as tf
    replay, samples = proprio_data[2], 3
    agent, hierarchy = proprio_agent, proprio_agent.hierarchy
    with agent.scope():
        post = agent.observe(replay.sample(1))
        start = {k: tf.repeat(v[0, :2], samples, 0) for k, v in post.items()}
        start['is_terminal'] = tf.zeros([2 * samples])
        own = hierarchy.imagine(start)
        fixed, shared = [controllability.imagine(agent, start, policy) for
                         policy in (
                             controllability.fixed_head_policy(hierarchy, 1),
                             controllability.shared_z_policy(
                                 hierarchy, 1, samples))]
    decisions = list(range(
        hierarchy.duration, agent.config.imag_horizon + 1, hierarchy.duration))
    assert decisions and goal_changes(own) == decisions
    assert goal_changes(fixed) == goal_changes(shared) == decisions
    # From one start state, one z decodes to one goal; sampled z do not.
    first = {name: traj['goal'][0].numpy().reshape(2, samples, -1)
             for name, traj in (('fixed', fixed), ('shared', shared))}
    assert (first['shared'] == first['shared'][:, :1]).all()
    assert not (first['fixed'] == first['fixed'][:, :1]).all()


class CountingAgent:
    """Stands in for an agent in timing.time_train: records its train calls
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
    timings = timing.time_train(agents, {}, steps=3)
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
    ratios = timing.compute_ratios(results)['debug']
    assert ratios['train_median_rounds'] == pytest.approx([1.2, 1.1, 1.5])
    assert ratios['train_median'] == pytest.approx(1.2)
    assert ratios['train_flops'] == pytest.approx(1.5)
    assert ratios['parameters_total'] == pytest.approx(1.25)
    assert timing.compute_ratios(results[:1]) == {}
    # Any two presets, and every preset against director or the first.
    inverse = timing.compute_ratios(results, 'director', 'mrs')['debug']
    assert inverse['train_median'] == pytest.approx(1 / 1.2)
    both = timing.preset_ratios(['mrs', 'director'], results)
    assert list(both) == ['mrs/director']
    assert both['mrs/director']['debug'] == ratios
    assert list(timing.preset_ratios(['mrs', 'flat'], results)) == [
        'flat/mrs']


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
    ratios = timing.compute_precision_ratios(results)
    assert list(ratios) == ['cpu_small mrs']
    ratio = ratios['cpu_small mrs']['bfloat16/float32']
    assert ratio['train_median_rounds'] == pytest.approx([0.5, 0.6])
    assert ratio['train_median'] == pytest.approx(0.55)
    # mrs/director is taken within one precision: none here.
    assert timing.compute_ratios(results) == {}


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
    assert sorted(op_profile.op_self_times(line, plane.event_metadata)) == [
        ('body/MatMul', 'MatMul', 30), ('body/Mul', 'Mul', 20),
        ('later', 'Mul', 7), ('loop', 'While', 50)]
    assert op_profile.op_scope('gradient_tape/skills/dense/MatMul') == 'skills'
    assert op_profile.op_scope('MatMul') == '(no scope)'
    assert op_profile.op_scope(
        'gradient_tape/imagine_1/while/body/rewards/exploration/dense/MatMul'
    ) == 'imagine/rewards/exploration'
    assert op_profile.op_scope('Grappler/Read/x') == 'Grappler'
