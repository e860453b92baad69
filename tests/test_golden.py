"""Our ports of Director's functions against upstream Director's outputs.

tests/data/director_functions.npz holds inputs and the outputs upstream
Director produced for them; director_functions.json describes each array.
The harness `python scripts/diff_director.py IN OUT` recomputes the outputs
with mrs_tf; the remaining tests check other sizes against independent numpy
references and the compiled (XLA) versions against eager execution.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from mrs_tf.autoadapt import AutoAdapt
from mrs_tf.normalizer import Normalizer
from mrs_tf.returns import lambda_return
from mrs_tf.symlog import symexp, symlog
from mrs_tf.trajectory import abstract_traj, goal_reward_cosine_max, split_traj

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / 'tests' / 'data'
DISCOUNT, LAM, K = 0.99, 0.95, 8


def is_input(name):
    return '_in_' in name or name.endswith('_in')


def load_golden():
    with np.load(DATA / 'director_functions.npz') as data:
        return {key: data[key] for key in data.files}


GOLDEN = load_golden()
GOLDEN_OUTPUTS = sorted(key for key in GOLDEN if not is_input(key))


def run_harness(inputs, tmp_path):
    in_path, out_path = tmp_path / 'in.npz', tmp_path / 'out.npz'
    np.savez(in_path, **inputs)
    subprocess.run(
        [sys.executable, ROOT / 'scripts' / 'diff_director.py', in_path,
         out_path],
        cwd=ROOT, check=True, capture_output=True)
    with np.load(out_path) as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope='module')
def harness_on_golden(tmp_path_factory):
    inputs = {key: value for key, value in GOLDEN.items() if is_input(key)}
    return run_harness(inputs, tmp_path_factory.mktemp('golden'))


def test_json_documents_every_array():
    described = json.loads((DATA / 'director_functions.json').read_text())
    assert set(described['arrays']) == set(GOLDEN)


def test_harness_writes_every_golden_output(harness_on_golden):
    assert set(harness_on_golden) == set(GOLDEN_OUTPUTS)


@pytest.mark.parametrize('key', GOLDEN_OUTPUTS)
def test_matches_director(harness_on_golden, key):
    ours = harness_on_golden[key]
    assert ours.shape == GOLDEN[key].shape
    # rtol only matters for symexp outputs near 5e8, where one float32 ulp
    # is 32; everything else must agree to atol.
    np.testing.assert_allclose(ours, GOLDEN[key], rtol=1e-6, atol=1e-5)


# Independent numpy references, written from the documented definitions.

def reference_lambda_return(reward, value, cont):
    """Mixture of n-step returns: (1 - lam) sum lam^(n-1) G^(n) + tail."""
    horizon = len(reward)
    disc = DISCOUNT * cont[1:].astype(np.float64)
    returns = np.zeros(reward.shape)
    for t in range(horizon):
        steps = horizon - t
        n_step = []
        partial, survive = 0.0, 1.0
        for n in range(1, steps + 1):
            partial = partial + survive * reward[t + n - 1]
            survive = survive * disc[t + n - 1]
            n_step.append(partial + survive * value[t + n])
        mix = sum((1 - LAM) * LAM ** (n - 1) * n_step[n - 1]
                  for n in range(1, steps))
        returns[t] = mix + LAM ** (steps - 1) * n_step[-1]
    return returns


def reference_weight(cont):
    return np.cumprod(DISCOUNT * cont.astype(np.float64), 0) / DISCOUNT


def reference_split(traj):
    horizon, batch = traj['reward_extr'].shape
    pieces = horizon // K
    out = {}
    for key, value in traj.items():
        length = K if key.startswith('reward') else K + 1
        out[key] = np.zeros((length, pieces * batch) + value.shape[2:])
        for n in range(pieces):
            for b in range(batch):
                out[key][:, n * batch + b] = value[n * K:n * K + length, b]
                if key == 'goal':
                    out[key][-1, n * batch + b] = value[n * K, b]
    out['weight'] = reference_weight(out['cont'])
    return out


def reference_abstract(traj):
    horizon, batch = traj['reward_extr'].shape
    cont = traj['cont']
    out = {'action': traj['skill'][::K]}
    for key in ('goal', 'deter'):
        out[key] = traj[key][::K]
    out['cont'] = np.stack(
        [cont[0]] + [np.prod(cont[i + 1:i + K + 1], 0)
                     for i in range(0, horizon, K)])
    for key in ('reward_extr', 'reward_expl', 'reward_goal'):
        blocks = []
        for start in range(0, horizon, K):
            total = np.zeros(batch)
            for j in range(K):
                alive = np.prod(cont[start:start + j + 1], 0)
                total += traj[key][start + j] * alive
            blocks.append(total / K)
        out[key] = np.stack(blocks)
    out['weight'] = reference_weight(out['cont'])
    return out


def random_inputs(rng, batch=3, feat=5, horizon=24, lambda_len=11):
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
    uniform = lambda *shape: rng.uniform(0.7, 1.0, shape).astype(np.float32)
    one_hot = lambda *shape: np.eye(shape[-1], dtype=np.float32)[
        rng.integers(shape[-1], size=shape[:-1])]
    around = lambda means, *shape: np.float32(means).reshape(
        (-1,) + (1,) * len(shape)) * (1 + 0.02 * normal(len(means), *shape))
    hier_cont = uniform(horizon + 1, batch)
    hier_cont[5, 1] = 0.0
    inputs = {
        'lambda_in_reward': normal(lambda_len, batch),
        'lambda_in_cont': uniform(lambda_len + 1, batch),
        'lambda_in_value': 2 * normal(lambda_len + 1, batch),
        'hier_in_action': normal(horizon + 1, batch, 2),
        'hier_in_cont': hier_cont,
        'hier_in_goal': normal(horizon + 1, batch, feat),
        'hier_in_skill': one_hot(horizon + 1, batch, 2, 3),
        'hier_in_deter': normal(horizon + 1, batch, feat),
        'goalrew_in_deter': normal(10, batch, feat),
        'goalrew_in_goal': 3 * normal(10, batch, feat),
        'goalrew_in_skill': one_hot(10, batch, 2, 3),
        'sym_in_x': 5 * normal(7),
        'sym_in_symexp_x': 3 * normal(7),
        'norm_in_values': 2 * normal(4, 5, batch) + 1,
        # Per-call means on both sides of each target, so scales go up,
        # down, hold, and hit the clip.
        'autoadapt_wmkl_in': around([1, 1, 6, 6, 3.5], 7, batch),
        'autoadapt_actent_perdim_in': np.stack([
            around([0.2, 0.2, 0.9, 0.5, 0.2], 7, batch),
            around([0.9, 0.9, 0.2, 0.2, 0.5], 7, batch)], -1),
        'autoadapt_encdec_kl_in': around([3, 3, 20, 10, 3], 7, 4),
    }
    for key in ('reward_extr', 'reward_expl', 'reward_goal'):
        inputs[f'hier_in_{key}'] = normal(horizon, batch)
    return inputs


def reference_scales(regs, per_dim, target, hi, inverse, vel=0.1, lo=1e-5):
    """Scale after each call, for regularisers stacked along axis 0."""
    scale = np.ones(regs.shape[-1:] if per_dim else ())
    scales = []
    for reg in regs:
        avg = reg.mean(tuple(range(reg.ndim - scale.ndim)))
        up, down = avg > 1.1 * target, avg < target / 1.1
        if inverse:
            up, down = down, up
        scale = np.clip(
            np.where(up, scale * (1 + vel),
                     np.where(down, scale / (1 + vel), scale)), lo, hi)
        scales.append(scale)
    return np.stack(scales)


def test_harness_on_other_sizes(tmp_path):
    inputs = random_inputs(np.random.default_rng(1))
    out = run_harness(inputs, tmp_path)
    assert set(out) == set(GOLDEN_OUTPUTS)
    close = lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5,
                                                    atol=1e-5)

    close(out['lambda_out_gve_return'], reference_lambda_return(
        inputs['lambda_in_reward'], inputs['lambda_in_value'],
        inputs['lambda_in_cont']))
    close(out['lambda_out_baseline'], inputs['lambda_in_value'][:-1])

    traj = {key[len('hier_in_'):]: value for key, value in inputs.items()
            if key.startswith('hier_in_')}
    for name, reference in (('split', reference_split),
                            ('abstract', reference_abstract)):
        expected = reference(traj)
        assert {key for key in out if key.startswith(f'{name}_out_')} == {
            f'{name}_out_{key}' for key in expected}
        for key, value in expected.items():
            close(out[f'{name}_out_{key}'], value)

    goal, deter = inputs['goalrew_in_goal'], inputs['goalrew_in_deter']
    norm = np.maximum(np.linalg.norm(goal, axis=-1),
                      np.linalg.norm(deter, axis=-1))
    close(out['goalrew_out_cosine_max'],
          ((goal * deter).sum(-1) / norm ** 2)[1:])

    close(out['sym_out_roundtrip'], inputs['sym_in_x'])
    close(out['sym_out_symlog'],
          np.sign(inputs['sym_in_x']) * np.log1p(np.abs(inputs['sym_in_x'])))

    values = inputs['norm_in_values']
    close(out['norm_scorenorm_off_out'], values)
    # Bias correction makes the first call use that batch's own moments.
    first = out['norm_advnorm_out'][0]
    close([first.mean(), first.std()], [0.0, 1.0])
    close(out['norm_retnorm_out'][0], values[0] / values[0].std())
    assert out['norm_advnorm_out_noupdate_on_values0'].shape == values.shape

    for name, per_dim, target, hi, inverse in (
            ('wmkl', False, 3.5, 1.0, False),
            ('actent_perdim', True, 0.5, 100.0, True),
            ('encdec_kl', False, 10.0, 1.0, False)):
        regs = inputs[f'autoadapt_{name}_in']
        scales = reference_scales(regs, per_dim, target, hi, inverse)
        close(out[f'autoadapt_{name}_scale'], scales)
        sign = -1 if inverse else 1
        batch_axes = (1,) * (regs.ndim - scales.ndim)
        per_call = scales.reshape(scales.shape[:1] + batch_axes
                                  + scales.shape[1:])
        close(out[f'autoadapt_{name}_loss'], sign * per_call * regs)


def test_normalizer_off_is_identity():
    values = tf.constant(np.random.default_rng(2).normal(
        3, 7, (6, 4)).astype(np.float32))
    norm = Normalizer('off')
    for update in (True, True, False):
        np.testing.assert_array_equal(norm(values, update), values)


@pytest.mark.parametrize('inverse', [False, True])
def test_autoadapt_moves_scale_by_one_plus_vel(inverse):
    adapt = AutoAdapt(
        impl='mult', target=1.0, min=0.5, max=1.3, vel=0.1, inverse=inverse)
    up, down = (0.5, 2.0) if inverse else (2.0, 0.5)
    expected_scales = (
        (up, 1.1), (up, 1.21), (up, 1.3), (1.05, 1.3), (down, 1.3 / 1.1))
    for reg, expected in expected_scales:
        loss, _ = adapt(tf.fill([4], reg))
        np.testing.assert_allclose(adapt.scale(), expected, rtol=1e-6)
        sign = -1 if inverse else 1
        np.testing.assert_allclose(loss, sign * expected * reg, rtol=1e-6)
    adapt(tf.fill([4], up), update=False)
    np.testing.assert_allclose(adapt.scale(), 1.3 / 1.1, rtol=1e-6)


def test_compiled_matches_eager():
    inputs = random_inputs(np.random.default_rng(3), horizon=16)
    inputs = {key: tf.constant(value) for key, value in inputs.items()}
    traj = {key[len('hier_in_'):]: value for key, value in inputs.items()
            if key.startswith('hier_in_')}
    stateless = {
        'lambda_return': lambda: lambda_return(
            inputs['lambda_in_reward'], inputs['lambda_in_value'],
            inputs['lambda_in_cont'], DISCOUNT, LAM),
        'split_traj': lambda: split_traj(traj, K, DISCOUNT),
        'abstract_traj': lambda: abstract_traj(traj, K, DISCOUNT),
        'goal_reward': lambda: goal_reward_cosine_max(
            inputs['goalrew_in_deter'], inputs['goalrew_in_goal']),
        'symlog': lambda: symexp(symlog(inputs['sym_in_x'])),
    }
    for name, fn in stateless.items():
        tf.nest.map_structure(
            lambda a, b: np.testing.assert_allclose(
                a, b, rtol=1e-5, atol=1e-5, err_msg=name),
            fn(), tf.function(fn, jit_compile=True)())

    def stateful_calls(make):
        norm = Normalizer('mean_std', 0.99, 1e8)
        adapt = AutoAdapt(
            (2,), impl='mult', target=0.5, min=1e-5, max=1e2, inverse=True)

        def step(values, reg):
            return norm(values), norm(values, update=False), adapt(reg)[0]
        step = make(step)
        return [step(values, reg) for values, reg in zip(
            inputs['norm_in_values'], inputs['autoadapt_actent_perdim_in'])]

    tf.nest.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5),
        stateful_calls(lambda fn: fn),
        stateful_calls(lambda fn: tf.function(fn, jit_compile=True)))
