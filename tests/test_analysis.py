"""analyze.py's shuffled baselines and plot.py's curve collection, on
synthetic data: fast, no agent."""

import json

import numpy as np
import pytest

import analyze
import plot
import sweep

DURATION = 8  # States per manager decision, as the skill duration K.


def held_labels(decisions, rng, classes=4):
    """One random label per decision, held for DURATION states, and each
    state's decision id."""
    ids = np.repeat(np.arange(decisions), DURATION)
    return rng.integers(classes, size=decisions)[ids], ids


def test_permute_by_group_keeps_one_label_per_group():
    rng = np.random.default_rng(0)
    labels, groups = held_labels(50, rng)
    permuted = analyze.permute(labels, rng, groups)
    per_group = permuted.reshape(-1, DURATION)
    assert (per_group == per_group[:, :1]).all()
    assert sorted(per_group[:, 0]) == sorted(labels[::DURATION])
    with pytest.raises(ValueError, match='one group id per label'):
        analyze.permute(labels, rng, groups[:-1])


def test_decision_null_is_wider_than_the_per_state_null():
    # Clusters that follow the state slowly (blocks of 40 states) and
    # labels held for 8 states, independent of each other: the per-state
    # permutation sees 4,000 independent labels where there are 500.
    rng = np.random.default_rng(0)
    labels, groups = held_labels(500, rng)
    clusters = np.repeat(rng.integers(4, size=100), 40)
    score = analyze.normalized_mutual_information
    per_state = analyze.shuffled(score, clusters, labels, 20, rng)
    per_decision = analyze.shuffled(score, clusters, labels, 20, rng, groups)
    assert per_decision[0] > 4 * per_state[0]
    assert per_decision[1] > 4 * per_state[1]
    # The real NMI of such unrelated labels is a draw from the wider null.
    real = score(clusters, labels)
    assert real > per_state[0] + 3 * per_state[1]
    assert abs(real - per_decision[0]) < 4 * per_decision[1]


def test_shuffled_std_is_the_sample_std():
    values = iter([1.0, 2.0, 3.0])
    mean, std = analyze.shuffled(
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
    steps = analyze.step_records([episode(20), episode(12)], DURATION)
    assert steps['decision_id'].tolist() == (
        [0] * 8 + [1] * 8 + [2] * 4 + [3] * 8 + [4] * 4)
    assert steps['episode'].tolist() == [0] * 20 + [1] * 12


def test_purity_json_keeps_the_per_state_data(tmp_path):
    rng = np.random.default_rng(0)
    labels, groups = held_labels(40, rng)
    steps = {
        'deter': rng.normal(size=(len(labels), 3)) + labels[:, None],
        'choice': labels, 'decision': np.arange(len(labels)) % DURATION == 0,
        'decision_id': groups, 'episode': groups // 10}

    class Args:
        seed, shuffles, out = 0, 5, tmp_path
    path = analyze.write_purity(
        steps, ['8', '16', '32', 'inf'], 'ckpt', Args, rng)
    result = json.loads(path.read_text())
    assert result['shuffled_by'] == 'decision' and result['std_ddof'] == 1
    assert result['per_state']['choice'] == labels.tolist()
    assert result['per_state']['decision_id'] == groups.tolist()
    assert len(result['per_state']['cluster']) == len(labels)
    # The baselines can be recomputed from the file alone.
    kept = result['per_state']
    assert analyze.cluster_purity(kept['cluster'], kept['choice']) == (
        result['purity'])


def test_plot_drops_the_steps_a_restart_logged_again(tmp_path):
    # A run killed before its first checkpoint logged four prefill
    # episodes; its restart began again at step 0 and logged those steps
    # anew (seed 2 of docs/results/mechanism). Two records of one step with
    # other keys (evaluations at the final step) are no restart.
    steps = [2002, 2004, 4006, 4008, 1992, 2002, 2004, 50000, 50000]
    records = [{'step': step, 'episode/score': float(i)}
               for i, step in enumerate(steps)]
    kept = plot.drop_relogged(records)
    assert [r['step'] for r in kept] == [1992, 2002, 2004, 50000, 50000]
    assert [r['episode/score'] for r in kept] == [4.0, 5.0, 6.0, 7.0, 8.0]
    runs_file = tmp_path / 'runs.json'
    runs_file.write_text(json.dumps({'runs': [{
        'name': 'seed2', 'task': 'dmc_cartpole_swingup', 'label': 'mrs',
        'skills': [8, 16, 32, 'inf'], 'metrics': records}]}))
    plot.main([str(runs_file), '--out', str(tmp_path / 'out'),
               '--metric', 'episode/score'])
    written = json.loads((tmp_path / 'out' / 'runs.json').read_text())
    assert written['runs'][0]['metrics'] == kept


def test_final_scores_give_the_sample_std_over_seeds(tmp_path, capsys):
    runs = [plot.make_run(
        f'seed{i}', 'task', 'mrs', (8, 'inf'),
        [{'step': 10, 'episode/score': score}])
        for i, score in enumerate([1.0, 2.0, 3.0])]
    plot.write_final_scores(runs, 'episode/score', 0.1, tmp_path)
    row = json.loads(
        (tmp_path / 'final_episode_score.json').read_text())['rows'][0]
    assert row['std'] == pytest.approx(1.0) and row['std_ddof'] == 1
    assert '± 1.00 (sample std, ddof=1)' in capsys.readouterr().out


def test_sweep_collect_gives_sample_stds_and_welch_tests(tmp_path, capsys):
    scores = {'learned': [[10.0, 12.0], [20.0, 22.0]],
              'fixed:0': [[0.0, 2.0], [30.0, 34.0]]}
    logdirs = [tmp_path / f'seed{i}' for i in range(2)]
    for index, logdir in enumerate(logdirs):
        logdir.mkdir()
        for choice, runs in scores.items():
            (logdir / f"eval_scores_{choice.replace(':', '_')}.json"
             ).write_text(json.dumps({
                 'task': 'task', 'eval_choice': choice,
                 'scores': runs[index], 'mean': float(np.mean(runs[index])),
                 'mean_choice_frequency': [1.0, 0.0]}))
    rows = sweep.main(
        ['--table', '3', '--logdirs', *map(str, logdirs), '--collect'])
    assert rows[1][:4] == ('task', 'learned', 2, 16.0)
    assert rows[1][4] == pytest.approx(np.std([11.0, 21.0], ddof=1))
    output = capsys.readouterr().out
    assert 'sample std (ddof=1)' in output
    # Welch's t on [10, 12] against [0, 2]: t = 10 / sqrt(2 / 2 + 2 / 2).
    assert 'learned - fixed:0: +10.0 (2 and 2 episodes), Welch t = 7.07' in (
        output)


def test_eval_only_writes_the_sample_std_over_episodes():
    from types import SimpleNamespace
    import importlib
    # embodied.run.eval_only names the function; the module holds summarize.
    eval_only = importlib.import_module('embodied.run.eval_only')
    config = SimpleNamespace(
        task='task', eval_choice='learned',
        mrs=SimpleNamespace(skills=[8, 'inf']))
    metrics = [{'score': 1.0}, {'score': 3.0}]
    result = eval_only.summarize(metrics, config, 'ckpt')
    assert result['std'] == pytest.approx(np.sqrt(2.0))
    assert result['std_ddof'] == 1
    assert eval_only.summarize(metrics[:1], config, 'ckpt')['std'] is None
