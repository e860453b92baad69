"""Networks, distributions and optimizer.

Parameter counts are compared with upstream Director's at default sizes
(tests/data/param_counts.json). Director's dmc_proprio preset encodes every
observation key except is_first and is_last (mlp_keys '.*'), so the walker
proprio encoder reads orientations (14), height (1), velocity (9), reward ()
and is_terminal () = 26 inputs; the decoder also leaves out reward and
is_terminal and predicts 24 numbers. That input set reproduces the golden
counts exactly.
"""

import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from mrs_tf import distributions as dists
from mrs_tf import module
from mrs_tf import nets
from mrs_tf.optimizer import Optimizer
from mrs_tf.rssm import RSSM

GOLDEN = json.loads(
    (pathlib.Path(__file__).parent / 'data' / 'param_counts.json')
    .read_text())
FLAGS = {'reward': (), 'is_first': (), 'is_last': (), 'is_terminal': ()}
PRESETS = {
    'dmc_vision': (
        {'image': (64, 64, 3), **FLAGS},
        dict(cnn_keys='image', mlp_keys='$^')),
    'dmc_proprio': (
        {'orientations': (14,), 'height': (1,), 'velocity': (9,), **FLAGS},
        dict(cnn_keys='$^', mlp_keys='.*')),
}
STATE = ['deter', 'stoch']
ACTION_DIM = 6


def count(module_):
    return int(sum(np.prod(v.shape) for v in module_.trainable_variables))


def zeros_batch(shapes, batch=(1, 1)):
    return {key: tf.zeros(batch + shape) for key, shape in shapes.items()}


@pytest.fixture
def float16():
    module.set_precision('float16')
    yield
    module.set_precision('float32')


@pytest.mark.parametrize('preset', sorted(PRESETS))
def test_world_model_param_counts_match_director(preset):
    shapes, keys = PRESETS[preset]
    encoder = nets.MultiEncoder(shapes, cnn_depth=64, **keys)
    decoder = nets.MultiDecoder(shapes, inputs=STATE, cnn_depth=64, **keys)
    rssm = RSSM()
    reward = nets.MLP((), 4, 512, inputs=STATE, dist='symlog')
    cont = nets.MLP((), 4, 512, inputs=STATE, dist='binary')
    data = zeros_batch(shapes)
    post, _ = rssm.observe(
        encoder(data), tf.zeros((1, 1, ACTION_DIM)), data['is_first'])
    decoder(post), reward(post), cont(post)
    counts = {
        'wm/encoder': count(encoder), 'wm/rssm': count(rssm),
        'wm/decoder': count(decoder), 'wm/reward_head': count(reward),
        'wm/cont_head': count(cont)}
    counts['wm/total_optimized'] = sum(counts.values())
    assert counts == {k: GOLDEN[preset][k] for k in counts}


def test_policy_and_goal_param_counts_match_director():
    golden = GOLDEN['dmc_vision']
    state = {
        'deter': tf.zeros((1, 1024)), 'stoch': tf.zeros((1, 32, 32)),
        'goal': tf.zeros((1, 1024)), 'context': tf.zeros((1, 1024)),
        'skill': tf.zeros((1, 8, 8))}
    worker = STATE + ['goal']
    mlp = lambda shape, inputs, **kw: nets.MLP(
        shape, 4, 512, inputs=inputs, outscale=0.1, **kw)
    nets_and_counts = [
        (mlp((8, 8), ['goal'], dims='context', dist='onehot'),
         'hier/goal_encoder'),
        (mlp((1024,), ['skill'], dims='context', dist='mse'),
         'hier/goal_decoder'),
        (mlp((8, 8), STATE, dist='onehot', unimix=0.01),
         'hier/manager_actor'),
        (mlp((), STATE, dist='symlog'), 'hier/manager_critic_extr/net'),
        (mlp((ACTION_DIM,), worker, dist='normal', minstd=0.03),
         'hier/worker_actor'),
        (mlp((), worker, dist='symlog'), 'hier/worker_critic_goal/net'),
    ]
    for net, name in nets_and_counts:
        net(state)
        assert count(net) == golden[name], name


def tiny_rssm(**kw):
    return RSSM(deter=16, stoch=4, classes=3, units=16, **kw)


def test_layer_norm_normalises_each_row_over_the_last_axis():
    # Normalising over any other axis, the unbiased variance, or a slip in
    # the written-out gradient fails this.
    x = tf.constant(np.random.default_rng(0).normal(
        3.0, 2.0, (2, 3, 4, 6)).astype(np.float32))
    norm = nets.LayerNorm()
    norm(x)
    weights = {v.name.split(':')[0]: v for v in norm.trainable_variables}
    scale, offset = weights['scale'], weights['offset']
    scale.assign(tf.range(1.0, 7.0))
    offset.assign(tf.range(6.0) / 10)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = norm(x)
        mean, var = tf.nn.moments(x, -1, keepdims=True)
        expected = (x - mean) * tf.math.rsqrt(var + 1e-3) * scale + offset
        probe = tf.random.normal(x.shape, seed=1)
        loss, expected_loss = [
            tf.reduce_sum(v * probe) for v in (y, expected)]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    np.testing.assert_allclose(
        tape.gradient(loss, x), tape.gradient(expected_loss, x), atol=1e-4)


def test_linear_of_parts_is_linear_of_their_broadcast_concatenation():
    rng = np.random.default_rng(0)
    moving = tf.constant(rng.normal(size=(4, 3, 5)).astype(np.float32))
    constant = tf.constant(rng.normal(size=(1, 3, 2)).astype(np.float32))
    layer = nets.Linear(6)
    parts = layer([moving, constant])
    [kernel] = [v for v in layer.trainable_variables if 'kernel' in v.name]
    assert kernel.shape == (7, 6)
    whole = tf.concat([moving, tf.repeat(constant, 4, 0)], -1)
    np.testing.assert_allclose(parts, layer(whole), atol=1e-5)
    np.testing.assert_allclose(
        parts, tf.tensordot(whole, kernel, 1), atol=1e-5)


def test_transposed_conv_of_a_1x1_map_matches_the_convolution_op():
    # The decoder's first layer takes a matmul path; it must compute the
    # transposed convolution, value and gradients, with no kernel flip.
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(3, 1, 1, 5)).astype(np.float32))
    conv = nets.Conv(4, 3, transpose=True)
    conv(x)
    kernel, bias = sorted(conv.trainable_variables, key=lambda v: v.name)[::-1]
    bias.assign(tf.range(4.0))
    probe = tf.constant(rng.normal(size=(3, 3, 3, 4)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y = conv(x)
        expected = tf.nn.conv2d_transpose(
            x, kernel, [3, 3, 3, 4], 2, 'VALID') + bias
        loss, expected_loss = [
            tf.reduce_sum(v * probe) for v in (y, expected)]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    for wrt in (x, kernel):
        np.testing.assert_allclose(
            tape.gradient(loss, wrt), tape.gradient(expected_loss, wrt),
            atol=1e-5)


@pytest.mark.parametrize('unroll', [True, False])
def test_rssm_observe_and_imagine_shapes(unroll):
    rssm = tiny_rssm(unroll=unroll)
    batch, length = 2, 5
    embed = tf.random.normal((batch, length, 7))
    action = tf.random.normal((batch, length, 3))
    is_first = tf.one_hot([0, 2], length)
    post, prior = rssm.observe(embed, action, is_first)
    expected = {'deter': (2, 5, 16), 'logit': (2, 5, 4, 3),
                'stoch': (2, 5, 4, 3)}
    for state in (post, prior):
        assert {k: tuple(v.shape) for k, v in state.items()} == expected
    np.testing.assert_allclose(tf.reduce_sum(post['stoch'], -1), 1.0)
    start = {k: v[:, -1] for k, v in post.items()}
    imagined = rssm.imagine(tf.random.normal((batch, 4, 3)), start)
    assert imagined['stoch'].shape == (2, 4, 4, 3)
    assert rssm.get_feat(imagined).shape == (2, 4, 16 + 12)
    kl = rssm.kl_loss(post, prior, 0.8)
    assert kl.shape == (2, 5) and np.all(np.isfinite(kl))
    assert np.all(kl.numpy() >= -1e-5)


def test_rssm_restarts_from_initial_state_on_is_first():
    rssm = tiny_rssm()
    embed = tf.random.normal((2, 4, 7))
    action = tf.random.normal((2, 4, 3))
    _, prior = rssm.observe(embed, action, tf.one_hot([0, 2], 4))
    restart = rssm.img_step(rssm.initial(2), tf.zeros((2, 3)))
    np.testing.assert_allclose(prior['deter'][0, 0], restart['deter'][0])
    np.testing.assert_allclose(prior['deter'][1, 2], restart['deter'][1])
    assert not np.allclose(prior['deter'][1, 1], restart['deter'][1])


def test_rssm_straight_through_gradients_reach_every_layer():
    rssm = tiny_rssm()
    embed = tf.random.normal((2, 3, 7))
    with tf.GradientTape() as tape:
        post, prior = rssm.observe(
            embed, tf.zeros((2, 3, 3)), tf.zeros((2, 3)))
        # Only the sampled stochastic states, not the logits, enter the loss.
        stoch = tf.concat([post['stoch'], prior['stoch']], 0)
        loss = tf.reduce_sum(stoch * tf.random.normal(stoch.shape))
    grads = tape.gradient(loss, rssm.trainable_variables)
    names = [v.name for v in rssm.trainable_variables]
    assert all(g is not None for g in grads), names
    assert all(np.any(g.numpy() != 0) for g in grads), names


def test_rssm_kl_balance_splits_gradients():
    rssm = tiny_rssm()
    logit = tf.Variable(tf.random.normal((2, 4, 3)))
    prior_logit = tf.Variable(tf.random.normal((2, 4, 3)))
    norms = []
    for balance in (1.0, 0.0):
        with tf.GradientTape() as tape:
            kl = rssm.kl_loss(
                {'logit': logit}, {'logit': prior_logit}, balance)
        grads = tape.gradient(kl, [logit, prior_logit])
        norms.append([float(tf.norm(g)) for g in grads])
    # balance 1 trains only the prior, balance 0 only the posterior.
    assert norms[0][0] == 0 and norms[0][1] > 0
    assert norms[1][0] > 0 and norms[1][1] == 0


def test_encoder_decoder_roundtrip_learns():
    shapes = {'image': (64, 64, 3), 'vec': (5,), 'reward': (),
              'is_first': (), 'is_terminal': ()}
    encoder = nets.MultiEncoder(
        shapes, cnn_depth=4, mlp_layers=1, mlp_units=8)
    decoder = nets.MultiDecoder(
        shapes, inputs=['embed'], cnn_depth=4, mlp_layers=1, mlp_units=8)
    assert sorted(encoder.shapes) == ['image', 'is_terminal', 'reward', 'vec']
    assert sorted(decoder.shapes) == ['image', 'vec']
    pixels = tf.linspace(0.1, 0.9, 64 * 64 * 3)
    data = {
        'image': tf.broadcast_to(tf.reshape(pixels, (64, 64, 3)),
                                 (2, 3, 64, 64, 3)),
        'vec': tf.random.normal((2, 3, 5)),
        'reward': tf.random.normal((2, 3)),
        'is_first': tf.zeros((2, 3), tf.bool),
        'is_terminal': tf.zeros((2, 3), tf.bool)}
    opt = Optimizer('model', lr=1e-2, eps=1e-6)

    def loss_fn():
        recon = decoder({'embed': encoder(data)})
        return sum(tf.reduce_mean(-recon[k].log_prob(data[k]))
                   for k in decoder.shapes), recon

    _, recon = loss_fn()
    assert recon['image'].mode().shape == (2, 3, 64, 64, 3)
    assert recon['vec'].log_prob(data['vec']).shape == (2, 3)
    image = recon['image'].mode().numpy()
    assert 0 <= image.min() and image.max() <= 1
    losses = []
    for _ in range(15):
        with tf.GradientTape() as tape:
            loss, _ = loss_fn()
        losses.append(float(opt.minimize(tape, loss, [encoder, decoder])[
            'model_loss']))
    assert losses[-1] < 0.5 * losses[0], losses


class Quadratic(module.Module):

    def __call__(self):
        kernel = self.variable('kernel', tf.ones, [3])
        bias = self.variable('bias', tf.ones, [3])
        return kernel, bias


def test_optimizer_decreases_quadratic():
    net = Quadratic()
    opt = Optimizer('quad', lr=0.1, eps=1e-8, clip=100.0)
    target = tf.constant([3.0, -2.0, 0.5])
    for _ in range(200):
        with tf.GradientTape() as tape:
            kernel, bias = net()
            loss = tf.reduce_sum((kernel - target) ** 2 + (bias + target) ** 2)
        metrics = opt.minimize(tape, loss, net)
    assert float(metrics['quad_loss']) < 1e-2
    assert int(metrics['quad_grad_steps']) == 200


def test_weight_decay_only_touches_kernels():
    net = Quadratic()
    opt = Optimizer('wd', lr=0.1, wd=0.01)
    with tf.GradientTape() as tape:
        kernel, bias = net()
        loss = 0.0 * tf.reduce_sum(kernel + bias)  # zero gradient: pure decay
    opt.minimize(tape, loss, net)
    np.testing.assert_allclose(net()[0], 1 - 0.01 * 0.1, rtol=1e-6)
    np.testing.assert_allclose(net()[1], 1.0)


def test_gradient_clipping_bounds_the_update():
    net = Quadratic()
    opt = Optimizer('clip', lr=1.0, clip=1.0)
    with tf.GradientTape() as tape:
        kernel, _ = net()
        loss = 1e6 * tf.reduce_sum(kernel) + 0.0 * tf.reduce_sum(net()[1])
    metrics = opt.minimize(tape, loss, net)
    np.testing.assert_allclose(metrics['clip_grad_norm'], 1e6 * np.sqrt(3))


def test_float16_mlp_and_loss_scaling(float16):
    net = nets.MLP((2,), 2, 8, dist='mse')
    opt = Optimizer('half', lr=1e-3)
    x = tf.random.normal((4, 3))
    with tf.GradientTape() as tape:
        features = nets.Dense(8, 'elu', 'layer')(x)
        dist = net(x)
        loss = tf.reduce_mean(-dist.log_prob(tf.ones((4, 2))))
    assert features.dtype == tf.float16 and dist.mean().dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in net.variables)
    metrics = opt.minimize(tape, loss, net)
    assert float(metrics['half_loss_scale']) == 1e4
    assert float(metrics['half_grad_overflow']) == 0.0
    # An overflowing step is skipped and halves the loss scale.
    before = [v.numpy() for v in net.variables]
    with tf.GradientTape() as tape:
        loss = 1e30 * tf.reduce_mean(net(x).mean())
    metrics = opt.minimize(tape, loss, net)
    assert float(metrics['half_loss_scale']) == 5e3
    assert int(metrics['half_grad_steps']) == 1
    for old, var in zip(before, net.variables):
        np.testing.assert_array_equal(old, var.numpy())


def test_bfloat16_mlp_has_no_loss_scale():
    module.set_precision('bfloat16')
    try:
        net = nets.MLP((2,), 2, 8, dist='mse')
        opt = Optimizer('brain', lr=1e-3)
        x = tf.random.normal((4, 3))
        with tf.GradientTape() as tape:
            features = nets.Dense(8, 'elu', 'layer')(x)
            dist = net(x)
            loss = tf.reduce_mean(-dist.log_prob(tf.ones((4, 2))))
        metrics = opt.minimize(tape, loss, net)
    finally:
        module.set_precision('float32')
    assert features.dtype == tf.bfloat16 and dist.mean().dtype == tf.float32
    assert all(v.dtype == tf.float32 for v in net.variables + opt.variables
               if v.dtype != tf.int64)  # the step counter
    assert not hasattr(opt, 'loss_scale') and not hasattr(opt, 'finite_steps')
    assert sorted(metrics) == [
        'brain_grad_norm', 'brain_grad_steps', 'brain_loss']
    assert int(metrics['brain_grad_steps']) == 1
    with pytest.raises(ValueError, match='not one of'):
        module.set_precision('bf16')


def test_float16_rssm_keeps_losses_in_float32(float16):
    rssm = tiny_rssm()
    post, prior = rssm.observe(
        tf.random.normal((2, 3, 7)), tf.zeros((2, 3, 3)), tf.zeros((2, 3)))
    assert post['deter'].dtype == post['stoch'].dtype == tf.float16
    kl = rssm.kl_loss(post, prior)
    assert kl.dtype == tf.float32 and np.all(np.isfinite(kl))


def test_checkpoint_restores_into_unbuilt_modules(tmp_path):
    def make():
        return nets.MLP((2,), 1, 8, dist='mse'), Optimizer('opt', lr=1e-2)

    def step(net, opt):
        with tf.GradientTape() as tape:
            dist = net(tf.ones((3, 4)))
            loss = tf.reduce_mean(-dist.log_prob(tf.ones((3, 2))))
        opt.minimize(tape, loss, net)

    net, opt = make()
    step(net, opt)
    path = tf.train.Checkpoint(net=net, opt=opt).save(str(tmp_path / 'ckpt'))
    step(net, opt)
    fresh_net, fresh_opt = make()
    tf.train.Checkpoint(net=fresh_net, opt=fresh_opt).restore(path)
    step(fresh_net, fresh_opt)
    for old, new in zip(net.variables + opt.variables,
                        fresh_net.variables + fresh_opt.variables):
        np.testing.assert_allclose(old, new, rtol=1e-6)


def test_onehot_samples_pass_straight_through_gradients():
    logits = tf.Variable(tf.random.normal((5, 4)))
    with tf.GradientTape() as tape:
        sample = dists.OneHotDist(logits).sample()
        loss = tf.reduce_sum(sample * tf.range(4.0))
    np.testing.assert_allclose(tf.reduce_sum(sample, -1), 1.0, rtol=1e-6)
    assert set(np.unique(np.round(sample.numpy(), 5))) == {0.0, 1.0}
    assert np.any(tape.gradient(loss, logits).numpy() != 0)
    assert dists.OneHotDist(logits).sample(3).shape == (3, 5, 4)


def test_onehot_unimix_bounds_probabilities():
    logits = tf.constant([[100.0, 0.0, 0.0, 0.0]])
    probs = dists.OneHotDist(logits, unimix=0.2).probs_parameter()
    np.testing.assert_allclose(probs, [[0.85, 0.05, 0.05, 0.05]], atol=1e-6)
    head = dists.onehot(tf.zeros((2, 8, 8)), dims=2)
    assert head.log_prob(head.sample()).shape == (2,)
    np.testing.assert_allclose(head.entropy(), 8 * np.log(8), rtol=1e-6)
    np.testing.assert_allclose(head.maxent, 8 * np.log(8), rtol=1e-6)


def test_mse_and_symlog_distributions():
    pred = tf.constant([[1.0, 2.0], [0.0, -1.0]])
    target = tf.constant([[0.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(
        dists.MSEDist(pred, 1).log_prob(target), [-5.0, -4.0])
    symlog = dists.SymlogDist(tf.math.log(tf.constant([1.0, 11.0])), 0)
    np.testing.assert_allclose(symlog.mode(), [0.0, 10.0], rtol=1e-5)
    log_prob = symlog.log_prob(tf.constant([0.0, 10.0]))
    assert log_prob.shape == (2,)
    np.testing.assert_allclose(log_prob, [0.0, 0.0], atol=1e-6)


def test_bounded_normal_and_binary():
    normal = dists.bounded_normal(
        tf.fill((2, 6), 10.0), tf.fill((2, 6), -100.0), 1, 0.03, 1.0)
    np.testing.assert_allclose(normal.mean(), np.tanh(10.0))
    np.testing.assert_allclose(normal.distribution.stddev(), 0.03)
    np.testing.assert_allclose(normal.entropy(), normal.minent, rtol=1e-5)
    assert normal.distribution.entropy().shape == (2, 6)
    binary = dists.binary(tf.constant([0.0, 100.0]), 0)
    np.testing.assert_allclose(binary.mean(), [0.5, 1.0])
    assert binary.log_prob(tf.constant([1.0, 1.0])).shape == (2,)


def test_samples_follow_their_distributions():
    probs = np.array([0.1, 0.2, 0.3, 0.4], np.float32)
    logits = tf.math.log(tf.tile(probs[None], [40000, 1]))
    freq = tf.reduce_mean(dists.OneHotDist(logits).sample(), 0)
    np.testing.assert_allclose(freq, probs, atol=0.01)
    normal = dists.bounded_normal(
        tf.fill((40000, 2), 0.5), tf.zeros((40000, 2)), 1, 0.1, 1.0)
    sample = normal.sample().numpy()
    np.testing.assert_allclose(sample.mean(0), np.tanh(0.5), atol=0.01)
    np.testing.assert_allclose(sample.std(0), 0.55, atol=0.01)


@pytest.mark.slow
def test_world_model_step_compiles_with_xla():
    shapes = {'image': (64, 64, 3), 'vec': (3,), **FLAGS}
    encoder = nets.MultiEncoder(shapes, cnn_depth=2, mlp_layers=1, mlp_units=8)
    decoder = nets.MultiDecoder(
        shapes, inputs=STATE, cnn_depth=2, mlp_layers=1, mlp_units=8)
    rssm = tiny_rssm()
    reward = nets.MLP((), 1, 8, inputs=STATE, dist='symlog')
    cont = nets.MLP((), 1, 8, inputs=STATE, dist='binary')
    actor = nets.MLP((2,), 1, 8, inputs=STATE, dist='normal')
    modules = [encoder, rssm, decoder, reward, cont]
    opt = Optimizer('model', lr=1e-3, eps=1e-6, clip=100.0, wd=1e-2)

    @tf.function(jit_compile=True)
    def train(data):
        with tf.GradientTape() as tape:
            post, prior = rssm.observe(
                encoder(data), data['action'], data['is_first'])
            recon = decoder(post)
            loss = tf.reduce_mean(
                rssm.kl_loss(post, prior)
                - recon['image'].log_prob(data['image'])
                - recon['vec'].log_prob(data['vec'])
                - reward(post).log_prob(data['reward'])
                - cont(post).log_prob(1 - data['is_terminal']))
        metrics = opt.minimize(tape, loss, modules)
        start = {k: v[:, -1] for k, v in post.items()}
        actions = actor(start).sample()
        imagined = rssm.imagine(tf.repeat(actions[:, None], 4, 1), start)
        return metrics, imagined['deter']

    data = {
        'image': tf.random.uniform((2, 3, 64, 64, 3)),
        'vec': tf.random.normal((2, 3, 3)),
        'reward': tf.random.normal((2, 3)),
        'is_first': tf.constant([[1.0, 0, 0], [1.0, 0, 0]]),
        'is_last': tf.zeros((2, 3)),
        'is_terminal': tf.zeros((2, 3)),
        'action': tf.random.normal((2, 3, 2))}
    for _ in range(2):
        metrics, deter = train(data)
    assert int(metrics['model_grad_steps']) == 2
    assert np.isfinite(float(metrics['model_loss']))
    assert deter.shape == (2, 4, 16)


def test_graph_flops_counts_a_matmul_exactly():
    from mrs_tf.profiling import graph_flops
    matmul = tf.function(lambda a, b: tf.matmul(a, b))
    graph = matmul.get_concrete_function(
        tf.TensorSpec([3, 5]), tf.TensorSpec([5, 7])).graph
    assert graph_flops(graph) == 2 * 3 * 5 * 7


def test_product_flops_are_counted_by_dtype():
    from mrs_tf.profiling import product_flops_by_dtype

    def step(a, b, image, kernel):
        half = tf.matmul(tf.cast(a, tf.bfloat16), tf.cast(b, tf.bfloat16))
        conv = tf.nn.conv2d(image, kernel, 1, 'VALID')
        return tf.matmul(a, b) + tf.cast(half, tf.float32), conv
    graph = tf.function(step).get_concrete_function(
        tf.TensorSpec([3, 5]), tf.TensorSpec([5, 7]),
        tf.TensorSpec([1, 4, 4, 2]), tf.TensorSpec([3, 3, 2, 6])).graph
    conv = 2 * (2 * 2) * (3 * 3 * 2) * 6
    assert product_flops_by_dtype(graph) == {
        'bfloat16': 2 * 3 * 5 * 7, 'float32': 2 * 3 * 5 * 7 + conv}
    scan = tf.function(lambda x: tf.scan(lambda c, v: c @ v, x, x[0]))
    with pytest.raises(ValueError, match='runs a function'):
        product_flops_by_dtype(scan.get_concrete_function(
            tf.TensorSpec([2, 3, 3])).graph)
