"""The GPU default path, mixed float16 (tf.precision 16), run on the CPU in
graph mode (vision: convolutions and pixel-sized reductions) and with XLA
(proprio, slow tier). XLA draws other random numbers than graph mode, so
each mode is compared with the session's float32 agent of the same data and
mode: it trains, acts and reports; skipped overflow steps leave the agent
untouched; gradients match float32."""

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import build_agent, restored
from mrs_tf import checkpoint_keys
from mrs_tf.optimizer import Optimizer

# Mode: the data it trains on and the session's float32 agent of that data.
MODES = {'graph': ('vision_data', 'vision_agent'),
         'xla': ('proprio_data', 'proprio_xla_agent')}
SETTLE_STEPS = 12
COMPARE_SCALE = 128.0  # below where the debug world model overflows
# Per optimizer, |g16 - g32| / |g32| over all its variables, median of
# KEYS train steps (random keys). A single step's gradient jumps where a
# categorical sample (latent, skill, choice) flips: float32 with its
# weights merely rounded to float16 moved whole optimizers' gradients by up
# to 4%, float16 by up to 13% in 1 of 12 steps, 2% or less in the others
# (XLA, proprio, debug size). A float16 fault moves every step: decoder bias
# gradients summed in float16 made the world model's gradient 45% short.
TOLERANCE = 0.05
KEYS = 5
GROUPS = ('model', 'skills', 'actor', 'critic')


def optimizers(agent):
    return [m for m in agent.submodules if isinstance(m, Optimizer)]


def scale_bookkeeping(agent):
    """Variables a skipped step may change: the loss scales and their
    counters, and the agent's train-step counter (the random key)."""
    refs = {agent.train_steps.ref()}
    for opt in optimizers(agent):
        refs |= {opt.loss_scale.ref(), opt.finite_steps.ref()}
    return refs


def values(agent):
    return [v.numpy() for v in agent.variables]


@pytest.fixture(scope='module', params=[
    'graph', pytest.param('xla', marks=pytest.mark.slow)])
def half(request):
    """A float16 agent whose loss scales have settled, its mode, the batch
    it trained on and its metrics."""
    data, _ = MODES[request.param]
    obs_space, act_space, replay, config = request.getfixturevalue(data)
    config = config.update({'tf.precision': '16', 'tf.jit': request.param})
    agent = build_agent(obs_space, act_space, config)
    batch = replay.sample(config.batch_size)
    history = [agent.train(batch)[1] for _ in range(SETTLE_STEPS)]
    return agent, request.param, batch, history


def test_loss_scale_settles_and_losses_stay_finite(half):
    agent, _, _, history = half
    overflows = [m['model_grad_overflow'] for m in history]
    assert not any(overflows[-4:]), overflows
    scales = [m['model_loss_scale'] for m in history]
    assert all(Optimizer.MIN_SCALE < s <= Optimizer.MAX_SCALE for s in scales)
    # Each skipped step halved the scale (vision overflows at 1e4 first).
    assert scales[-1] == Optimizer.MAX_SCALE / 2 ** sum(overflows), scales
    for metrics in history:
        embodied.run.check_finite(metrics, 0)
        assert np.isfinite(metrics['model_loss'])


def test_float16_latents_and_float32_variables(half):
    agent, _, batch, _ = half
    obs = {k: v[:2, 0] for k, v in batch.items() if k != 'action'}
    outs, state = agent.policy(obs, None, mode='train')
    outs, (latent, _, _) = agent.policy(obs, state, mode='eval')
    assert latent['deter'].dtype == latent['stoch'].dtype == tf.float16
    assert np.abs(outs['action']).max() <= 1
    assert all(v.dtype == tf.float32 for v in agent.trainable_variables)
    report = agent.report(batch)
    assert all(np.isfinite(v).all() for v in report.values())
    if 'image' in batch:
        assert report['openl_image'].dtype == np.float32
        heads = len(agent.config.mrs.skills)
        assert report['goals_image'].shape[2] == 64 * (heads + 1)


def test_overflow_step_is_skipped_and_leaves_the_agent_untouched(half):
    agent, _, batch, _ = half
    opts = optimizers(agent)
    scales = [opt.loss_scale.numpy() for opt in opts]
    for opt in opts:
        opt.loss_scale.assign(1e30)  # every float16 gradient overflows
    skip = scale_bookkeeping(agent)
    before = values(agent)
    _, metrics = agent.train(batch)
    for opt, scale in zip(opts, scales):
        opt.loss_scale.assign(scale)
    changed = [
        v.name for v, old in zip(agent.variables, before)
        if v.ref() not in skip and not np.array_equal(v.numpy(), old)]
    assert not changed  # weights, moments, normalisers, scales, counters
    overflows = [k for k in metrics if k.endswith('_grad_overflow')]
    assert len(overflows) == len(opts)
    for key in overflows:
        assert metrics[key] == 1, key
        assert metrics[key.replace('overflow', 'norm')] == 0, key
    embodied.run.check_finite(metrics, 0)  # not taken for a divergence


def test_nan_loss_still_stops_the_run_with_the_metric_named(half):
    agent, _, batch, _ = half
    broken = {**batch, 'reward': np.full_like(batch['reward'], np.nan)}
    before = values(agent.wm)
    _, metrics = agent.train(broken)
    assert metrics['model_grad_overflow'] == 1
    # Named: the reward loss, or a loss before it that the NaN reached (a
    # proprio encoder reads the reward as an input).
    with pytest.raises(
            embodied.run.NonFiniteError,
            match=r'^train/\w*loss\w* is not finite at step 7'):
        embodied.run.check_finite(metrics, 7)
    # The world model's step was skipped; its weights did not take the NaN.
    skip = scale_bookkeeping(agent)
    for var, old in zip(agent.wm.variables, before):
        if var.ref() not in skip:
            np.testing.assert_array_equal(var.numpy(), old, var.name)


def gradients(agent, batch, checkpoint, key):
    """The gradient of every trained variable in one train step from the
    checkpoint's state with random key `key`, read from Adam's first moment
    (m1 = 0.9 m0 + 0.1 g), and the step's metrics."""
    agent.load(checkpoint)
    agent.train_steps.assign(key)
    slots = [(f'{opt.name}/{var.name}', m)
             for opt in optimizers(agent) for var, m, _ in opt.slots()]
    first = [m.numpy() for _, m in slots]
    _, metrics = agent.train(batch)
    grads = [(m.numpy() - 0.9 * m0) / 0.1 for (_, m), m0 in zip(slots, first)]
    return [name for name, _ in slots], grads, metrics


def relative_errors(names, grads16, grads32):
    """|g16 - g32| / |g32| over each optimizer's variables."""
    errors = {}
    for group in GROUPS:
        pairs = [(a, b) for name, a, b in zip(names, grads16, grads32)
                 if name.startswith(group + '/')]
        difference = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in pairs))
        norm = np.sqrt(sum(np.sum(b ** 2) for _, b in pairs))
        errors[group] = difference / norm
    return errors


def test_float16_matches_float32_at_identical_weights(
        half, request, tmp_path, capsys):
    """Against the session's float32 agent of the same data and mode, from
    the same state with the same random keys."""
    agent16, mode, batch, _ = half
    full = request.getfixturevalue(MODES[mode][1])
    for opt in optimizers(agent16):
        opt.loss_scale.assign(COMPARE_SCALE)
    agent16.save(tmp_path)  # weights, moments, normalisers, step counter
    first = int(agent16.train_steps.numpy())
    steps = []
    with restored(full):
        for key in range(first, first + KEYS):
            names, grads16, metrics16 = gradients(
                agent16, batch, tmp_path, key)
            _, grads32, metrics32 = gradients(full, batch, tmp_path, key)
            assert not any(v for k, v in metrics16.items() if 'overflow' in k)
            loss16, loss32 = metrics16['model_loss'], metrics32['model_loss']
            assert abs(loss16 - loss32) <= 1e-3 * abs(loss32), (
                loss16, loss32)
            steps.append(relative_errors(names, grads16, grads32))
    medians = {g: float(np.median([e[g] for e in steps])) for g in GROUPS}
    with capsys.disabled():
        print(f'\nfloat16 vs float32 ({mode}), gradient differences relative '
              f'to the float32 gradient per optimizer, median (max) of '
              f'{KEYS} steps: ' + ', '.join(
                  f'{g} {medians[g]:.1e} ({max(e[g] for e in steps):.1e})'
                  for g in GROUPS))
    for group, median in medians.items():
        assert median <= TOLERANCE, (group, [e[group] for e in steps])


def test_a_float32_checkpoint_loads_with_fresh_loss_scales(
        half, request, tmp_path):
    """A run started in float32 (a CPU's `auto`) resumes in float16 (a
    GPU's): every saved value is read, the loss scales keep their values.
    A checkpoint that lacks anything else is refused (test_restore.py)."""
    agent16, mode, _, _ = half
    full = request.getfixturevalue(MODES[mode][1])
    full.save(tmp_path)
    saved = checkpoint_keys.variables_by_key(tf.train.Checkpoint(agent=full))
    with restored(agent16):
        scale_state = [v for o in optimizers(agent16) for v in o.scale_state()]
        scales = [v.numpy() for v in scale_state]
        agent16.load(tmp_path)
        loaded = checkpoint_keys.variables_by_key(
            tf.train.Checkpoint(agent=agent16))
        assert set(saved) < set(loaded)
        for key, variable in saved.items():
            np.testing.assert_array_equal(loaded[key].numpy(), variable.numpy())
        extra = {loaded[k].ref() for k in set(loaded) - set(saved)}
        assert extra == {v.ref() for v in scale_state}
        np.testing.assert_array_equal([v.numpy() for v in scale_state], scales)


@pytest.mark.parametrize('half', [
    pytest.param('xla', marks=pytest.mark.slow)], indirect=True)
def test_a_loaded_float16_agent_continues_exactly(
        half, request, tmp_path, capsys):
    """Saved and loaded into a freshly built float16 agent (loss scales and
    their counters included), the next train step and the policy are
    bitwise equal (see test_restore.py). With XLA, the GPU's default path;
    graph mode's float32 restore is in the fast tier."""
    from test_restore import assert_exact, build_fresh, restore_differences
    agent, mode, batch, _ = half
    data = request.getfixturevalue(MODES[mode][0])
    fresh = build_fresh(data, **{'tf.precision': '16', 'tf.jit': mode})
    with restored(agent):
        diff = restore_differences(agent, fresh, batch, tmp_path)
    assert_exact(diff, f'float16, {mode}', capsys)
