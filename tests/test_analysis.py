"""analyze.py's shuffled baselines, on synthetic labels: fast, no agent."""

import json

import numpy as np
import pytest

import analyze

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
