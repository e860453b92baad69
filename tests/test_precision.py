"""Reduced precision run on the CPU: mixed float16 (tf.precision 16, the
GPU default: a dynamic loss scale, overflowing steps skipped) and bfloat16
(bf16: float32's exponent range, no loss scale), each in graph mode
(vision: convolutions and pixel-sized reductions) and with XLA (proprio,
slow tier). XLA draws other random numbers than graph mode, so each is
compared with the session's float32 agent of the same data and mode: it
trains, acts and reports; gradients match float32; float16's skipped
overflow steps leave the agent untouched; bfloat16 has no loss-scale
variable and computes its matrix products and convolutions in bfloat16."""

import numpy as np
import pytest
import tensorflow as tf

import embodied
from conftest import build_agent, restored
from mrs_tf import checkpoint_keys, profiling, tf_setup
from mrs_tf.optimizer import Optimizer

# Mode: the data it trains on and the session's float32 agent of that data.
MODES = {'graph': ('vision_data', 'vision_agent'),
         'xla': ('proprio_data', 'proprio_xla_agent')}
COMPUTE = {'16': tf.float16, 'bf16': tf.bfloat16}
# float16's loss scales settle first; bfloat16 has none.
SETTLE_STEPS = {'16': 12, 'bf16': 2}
COMPARE_SCALE = 128.0  # below where the debug world model overflows
# Per optimizer, |g - g32| / |g32| over all its variables, median of KEYS
# train steps (random keys). A single step's gradient jumps where a
# categorical sample (latent, skill, choice) flips: float32 with its
# weights merely rounded to float16 moved whole optimizers' gradients by up
# to 4%, float16 by up to 13% in 1 of 12 steps, 2% or less in the others
# (XLA, proprio, debug size). A float16 fault moves every step: decoder bias
# gradients summed in float16 made the world model's gradient 45% short.
# bfloat16 keeps 8 significant bits to float16's 11: each rounding is 8x
# larger (single ops measured here) and samples flip in most steps, not in
# few. This test's medians at 5ca3cfd, graph (vision) and XLA (proprio): model
# 1.0% and 6.6%, skills 2.7% and 6.3%, actor 17% and 14%, critic 3.8% and
# 7.7% (float16 in graph mode: 0.05-0.12%). Over 12 and 10 steps: medians
# model 1.5% and 4.0%, actor 16% and 12%; the largest single steps model
# 12%, actor 32%. float32 with its weights merely rounded to bfloat16 gave
# medians of 0.1-3.9% (graph) and 1.5-7.4% (XLA) on the same keys. The
# bounds are about twice the largest median: a fault like float16's
# decoder bias (45%) still fails.
GROUPS = ('model', 'skills', 'actor', 'critic')
TOLERANCE = {
    '16': dict.fromkeys(GROUPS, 0.05),
    'bf16': {'model': 0.15, 'skills': 0.15, 'actor': 0.4, 'critic': 0.15}}
# The world model's loss against float32's, relative, at every step. In
# bfloat16 it was 0.5% at every step in graph mode; with XLA a flipped
# sample moved it by up to 5.6% (as far as float32 with its weights rounded
# to float16 moved at the same key).
LOSS_TOLERANCE = {'16': 1e-3, 'bf16': 0.1}
KEYS = 5
# Share of the traced train and policy steps' matrix-product and
# convolution FLOPs that must run in bfloat16 under bf16.
BF16_SHARE = 0.9
SLOW = pytest.mark.slow
AGENTS = {}  # (precision, mode): a built reduced-precision agent


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


@pytest.fixture(scope='module', autouse=True)
def forget_agents():
    yield
    AGENTS.clear()


def reduced_agent(request, precision, mode):
    """An agent computing in `precision` ('16' or 'bf16') in `mode`, built
    once per module and trained SETTLE_STEPS steps on one batch (float16's
    loss scales settle): the agent, its precision and mode, the batch and
    the steps' metrics. The fixtures below share it."""
    key = precision, mode
    if key not in AGENTS:
        obs_space, act_space, replay, config = request.getfixturevalue(
            MODES[mode][0])
        config = config.update({'tf.precision': precision, 'tf.jit': mode})
        agent = build_agent(obs_space, act_space, config)
        batch = replay.sample(config.batch_size)
        history = [agent.train(batch)[1]
                   for _ in range(SETTLE_STEPS[precision])]
        AGENTS[key] = agent, precision, mode, batch, history
    return AGENTS[key]


@pytest.fixture(scope='module', params=[
    '16-graph', pytest.param('16-xla', marks=SLOW),
    'bf16-graph', pytest.param('bf16-xla', marks=SLOW)])
def reduced(request):
    return reduced_agent(request, *request.param.split('-'))


@pytest.fixture(scope='module', params=[
    'graph', pytest.param('xla', marks=SLOW)])
def half(request):
    """The float16 agent of a mode."""
    return reduced_agent(request, '16', request.param)


@pytest.fixture(scope='module', params=[
    'graph', pytest.param('xla', marks=SLOW)])
def bfloat(request):
    """The bfloat16 agent of a mode."""
    return reduced_agent(request, 'bf16', request.param)


def test_loss_scale_settles_and_losses_stay_finite(half):
    agent, _, _, _, history = half
    overflows = [m['model_grad_overflow'] for m in history]
    assert not any(overflows[-4:]), overflows
    scales = [m['model_loss_scale'] for m in history]
    assert all(Optimizer.MIN_SCALE < s <= Optimizer.MAX_SCALE for s in scales)
    # Each skipped step halved the scale (vision overflows at 1e4 first).
    assert scales[-1] == Optimizer.MAX_SCALE / 2 ** sum(overflows), scales
    for metrics in history:
        embodied.run.check_finite(metrics, 0)
        assert np.isfinite(metrics['model_loss'])


def test_reduced_latents_and_float32_variables(reduced):
    agent, precision, _, batch, _ = reduced
    obs = {k: v[:2, 0] for k, v in batch.items() if k != 'action'}
    outs, state = agent.policy(obs, None, mode='train')
    outs, (latent, _, _) = agent.policy(obs, state, mode='eval')
    assert latent['deter'].dtype == latent['stoch'].dtype == COMPUTE[
        precision]
    assert np.abs(outs['action']).max() <= 1
    assert all(v.dtype == tf.float32 for v in agent.trainable_variables)
    report = agent.report(batch)
    assert all(np.isfinite(v).all() for v in report.values())
    if 'image' in batch:
        assert report['openl_image'].dtype == np.float32
        heads = len(agent.config.mrs.skills)
        assert report['goals_image'].shape[2] == 64 * (heads + 1)


def test_bfloat16_has_no_loss_scale_and_its_losses_stay_finite(
        bfloat, request, tmp_path):
    """Not a loss scale nor its counter: the agent's variables are the
    float32 agent's, one for one."""
    agent, _, mode, _, history = bfloat
    for metrics in history:
        embodied.run.check_finite(metrics, 0)
        assert np.isfinite(metrics['model_loss'])
        assert not [k for k in metrics if k.endswith(
            ('_loss_scale', '_grad_overflow'))]
    for opt in optimizers(agent):
        assert not hasattr(opt, 'loss_scale'), opt.name
        assert not hasattr(opt, 'finite_steps'), opt.name
    full = request.getfixturevalue(MODES[mode][1])
    shapes = lambda a: [(v.dtype, tuple(v.shape)) for v in a.variables]
    assert shapes(agent) == shapes(full)
    agent.save(tmp_path)
    names = tf.train.list_variables(str(tmp_path / 'variables'))
    assert not [n for n, _ in names if 'loss_scale' in n or 'finite' in n]


def test_bfloat16_products_run_in_bfloat16(bfloat, capsys):
    """At least BF16_SHARE of the matrix-product and convolution FLOPs of
    the traced train and policy steps are bfloat16 (counted by dtype on
    the traced graphs): a silent fall-back to float32 fails."""
    agent, _, mode, batch, _ = bfloat
    obs = {k: v[:2, 0] for k, v in batch.items() if k != 'action'}
    shares = {}
    for name, graph in agent.graphs(batch, obs).items():
        flops = profiling.product_flops_by_dtype(graph)
        shares[name] = flops.get('bfloat16', 0) / sum(flops.values())
    with capsys.disabled():
        print(f'\nbfloat16 ({mode}): share of matrix-product and '
              'convolution FLOPs in bfloat16: ' + ', '.join(
                  f'{k} {v:.1%}' for k, v in shares.items()))
    for name, share in shares.items():
        assert share >= BF16_SHARE, (name, shares)


@pytest.mark.parametrize('capabilities, oldest', [
    ([(7, 5)], '7.5'), ([(8, 6), (7, 0), (7, 5)], '7.0'), ([(8, 0)], None),
    ([(8, 6), (9, 0)], None), ([], None)])
def test_bfloat16_needs_ampere_or_later(capabilities, oldest):
    """What setup_tensorflow refuses bf16 with and gpu_check leaves bf16
    out for: any GPU below compute capability 8.0 (RTX 5000, the paper's
    GPU, is 7.5)."""
    gap = tf_setup.bfloat16_gap(capabilities)
    if oldest is None:
        assert gap is None
    else:
        assert gap.startswith(f'compute capability {oldest} has no bfloat16')


def test_overflow_step_is_skipped_and_leaves_the_agent_untouched(half):
    agent, _, _, batch, _ = half
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
    agent, _, _, batch, _ = half
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


def relative_errors(names, grads, grads32):
    """|g - g32| / |g32| over each optimizer's variables."""
    errors = {}
    for group in GROUPS:
        pairs = [(a, b) for name, a, b in zip(names, grads, grads32)
                 if name.startswith(group + '/')]
        difference = np.sqrt(sum(np.sum((a - b) ** 2) for a, b in pairs))
        norm = np.sqrt(sum(np.sum(b ** 2) for _, b in pairs))
        errors[group] = difference / norm
    return errors


def test_reduced_matches_float32_at_identical_weights(
        reduced, request, tmp_path, capsys):
    """Against the session's float32 agent of the same data and mode, from
    the same state with the same random keys."""
    agent, precision, mode, batch, _ = reduced
    full = request.getfixturevalue(MODES[mode][1])
    for opt in optimizers(agent) if precision == '16' else []:
        opt.loss_scale.assign(COMPARE_SCALE)
    agent.save(tmp_path)  # weights, moments, normalisers, step counter
    first = int(agent.train_steps.numpy())
    steps = []
    with restored(full):
        for key in range(first, first + KEYS):
            names, grads, metrics = gradients(agent, batch, tmp_path, key)
            _, grads32, metrics32 = gradients(full, batch, tmp_path, key)
            assert not any(v for k, v in metrics.items() if 'overflow' in k)
            loss, loss32 = metrics['model_loss'], metrics32['model_loss']
            assert abs(loss - loss32) <= LOSS_TOLERANCE[precision] * abs(
                loss32), (loss, loss32)
            steps.append(relative_errors(names, grads, grads32))
    medians = {g: float(np.median([e[g] for e in steps])) for g in GROUPS}
    with capsys.disabled():
        print(f'\n{COMPUTE[precision].name} vs float32 ({mode}), gradient '
              'differences relative to the float32 gradient per optimizer, '
              f'median (max) of {KEYS} steps: ' + ', '.join(
                  f'{g} {medians[g]:.1e} ({max(e[g] for e in steps):.1e})'
                  for g in GROUPS))
    for group, median in medians.items():
        assert median <= TOLERANCE[precision][group], (
            group, [e[group] for e in steps])


def test_a_float32_checkpoint_loads_with_fresh_loss_scales(
        half, request, tmp_path):
    """A run started in float32 (a CPU's `auto`) resumes in float16 (a
    GPU's): every saved value is read, the loss scales keep their values.
    A checkpoint that lacks anything else is refused (test_restore.py)."""
    agent16, _, mode, _, _ = half
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
            np.testing.assert_array_equal(
                loaded[key].numpy(), variable.numpy())
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
    agent, _, mode, batch, _ = half
    data = request.getfixturevalue(MODES[mode][0])
    fresh = build_fresh(data, **{'tf.precision': '16', 'tf.jit': mode})
    with restored(agent):
        diff = restore_differences(agent, fresh, batch, tmp_path)
    assert_exact(diff, f'float16, {mode}', capsys)
