"""Networks of the world model and the policies (Director / DreamerV2).

Every layer is a lazily built Module: weight shapes come from the first
inputs. Sizes, initialisers and the placement of biases and norms follow
Director so that parameter counts match it exactly.
"""

import re

import numpy as np
import tensorflow as tf

from . import distributions as dists
from . import replicas
from .module import Module, to_compute

ACTIVATIONS = {
    'none': tf.identity,
    'elu': tf.nn.elu,
    'relu': tf.nn.relu,
    'tanh': tf.tanh,
    'sigmoid': tf.sigmoid,
    'silu': tf.nn.silu,
    'gelu': lambda x: tf.nn.gelu(x, approximate=True),
}


def get_act(name):
    return name if callable(name) else ACTIVATIONS[name]


def variance_scaling(scale=1.0, fan_in=1, fan_out=1):
    """Uniform initialiser with variance scale / mean(fan_in, fan_out).

    scale 1.0 is Keras' default glorot_uniform; Director's output layers use
    scale = outscale (0.1) so that initial predictions are small.
    """
    limit = np.sqrt(3.0 * scale / ((fan_in + fan_out) / 2))
    return lambda shape: tf.random.uniform(shape, -limit, limit)


def scan(fn, inputs, start, unroll):
    """Applies carry = fn(carry, inputs[t]) over the leading (time) axis and
    stacks the carries: a Python loop if unroll (Director's default, a
    larger graph), otherwise tf.scan."""
    length = tf.nest.flatten(inputs)[0].shape[0]
    if not unroll:
        def body(carry, indexed):
            with replicas.iteration(indexed[0]):
                return fn(carry, indexed[1])
        return tf.scan(body, (tf.range(length), inputs), start)
    # One unstack per input: its gradient is one stack, where slicing each
    # step's input would add a full-size slice gradient per step.
    steps = [tf.unstack(x) for x in tf.nest.flatten(inputs)]
    carry, outputs = start, []
    for t in range(length):
        carry = fn(carry, tf.nest.pack_sequence_as(
            inputs, [x[t] for x in steps]))
        outputs.append(carry)
    return tf.nest.map_structure(lambda *xs: tf.stack(xs, 0), *outputs)


def sg(nest):
    """Stops gradients through every tensor of a nest."""
    return tf.nest.map_structure(tf.stop_gradient, nest)


def where_rows(condition, x, y):
    """x where condition [B] holds, else y, for tensors [B, ...]."""
    condition = tf.reshape(condition, [-1] + [1] * (x.shape.rank - 1))
    return tf.where(condition, x, y)


def scale_rows(x, weights):
    """x [B, ...] times weights [B]. A broadcast multiply: the CPU einsum
    kernel takes a hundred times longer for this."""
    return x * tf.reshape(weights, [-1] + [1] * (x.shape.rank - 1))


def swap_batch_time(x):
    return tf.transpose(x, [1, 0] + list(range(2, x.shape.rank)))


def flatten_trailing(x, rank):
    """Reshapes x to `rank` axes by merging all axes from rank - 1 on."""
    if x.shape.rank <= rank:
        return x
    leading = [-1 if d is None else d for d in x.shape[:rank - 1]]
    return tf.reshape(x, leading + [int(np.prod(x.shape[rank - 1:]))])


def reshape_last(x, shape):
    """Reshapes the last axis of x into `shape`."""
    shape = tuple(int(d) for d in shape)
    out = tf.reshape(x, tf.concat([tf.shape(x)[:-1], shape], 0))
    out.set_shape(x.shape[:-1].concatenate(shape))
    return out


def add_bias(x, bias):
    """x + bias over the last axis, in x's dtype. The bias gradient sums the
    incoming gradient over every other axis (batch, time, pixels) in
    float32: a float16 sum of that many terms loses most of its digits in
    TensorFlow's CPU kernels (a decoder's output bias sums ~300k)."""
    if x.dtype == tf.float32:
        return x + bias

    @tf.custom_gradient
    def forward(x, bias):
        def grad(dy):
            axes = list(range(dy.shape.rank - 1))
            return dy, tf.reduce_sum(tf.cast(dy, tf.float32), axes)
        return x + tf.cast(bias, x.dtype), grad
    return forward(x, tf.convert_to_tensor(bias))


def gather_inputs(inputs, keys=('tensor',), dims=None):
    """Concatenates inputs[key] for the keys along the last axis.

    A bare tensor counts as {'tensor': tensor}. Axes beyond the rank of
    inputs[dims] (default: the first key) are flattened, so a stochastic
    state [B, 32, 32] next to deter [B, 1024] becomes [B, 1024].
    """
    if not isinstance(inputs, dict):
        inputs = {'tensor': inputs}
    missing = [key for key in keys if key not in inputs]
    if missing:
        raise KeyError(f'Inputs {missing} not among {sorted(inputs)}.')
    rank = inputs[dims or keys[0]].shape.rank
    values = [to_compute(flatten_trailing(inputs[key], rank)) for key in keys]
    return tf.concat(values, -1)


class Linear(Module):
    """Affine layer; the kernel is initialised by variance_scaling(scale)."""

    def __init__(self, units, bias=True, scale=1.0):
        self._units = units
        self._bias = bias
        self._scale = scale

    def __call__(self, x):
        """x: a tensor, or a list of tensors standing for their concatenation
        along the last axis. Each part meets its own rows of the kernel, and
        the parts broadcast against each other: a part constant along a
        leading axis may have size 1 there and is multiplied only once."""
        parts = list(x) if isinstance(x, (list, tuple)) else [x]
        sizes = [int(part.shape[-1]) for part in parts]
        init = variance_scaling(self._scale, sum(sizes), self._units)
        kernel = to_compute(
            self.variable('kernel', init, [sum(sizes), self._units]))
        rows = tf.split(kernel, sizes, 0) if len(parts) > 1 else [kernel]
        x = tf.tensordot(to_compute(parts[0]), rows[0], 1)
        for part, part_rows in zip(parts[1:], rows[1:]):
            x += tf.tensordot(to_compute(part), part_rows, 1)
        if self._bias:
            x = add_bias(x, self.variable('bias', tf.zeros, [self._units]))
        return x


class LayerNorm(Module):
    """Normalises the last axis (statistics in float32), then applies a
    learned scale and offset."""

    def __init__(self, eps=1e-3):
        self._eps = eps

    def __call__(self, x):
        size = [int(x.shape[-1])]
        scale = self.variable('scale', tf.ones, size)
        offset = self.variable('offset', tf.zeros, size)
        y = normalize_last(tf.cast(x, tf.float32), self._eps)
        return tf.cast(y * scale + offset, x.dtype)


def normalize_last(x, eps):
    """(x - mean) / sqrt(var + eps) over the last axis, with its gradient
    written out: dx = (dy - mean(dy) - y * mean(dy * y)) / sqrt(var + eps).
    On a CPU this runs forward and backward 3-4x faster than the fused
    batch-norm kernel over rows as channels (Keras' layer norm) and 2x
    faster than autodiff of tf.nn.moments (scripts/bench.py --profile-ops
    showed the fused kernels at 44% of the cpu_small train step)."""

    @tf.custom_gradient
    def forward(x):
        centred = x - tf.reduce_mean(x, -1, keepdims=True)
        variance = tf.reduce_mean(tf.square(centred), -1, keepdims=True)
        inverse_std = tf.math.rsqrt(variance + eps)
        y = centred * inverse_std

        def grad(dy):
            mean_dy = tf.reduce_mean(dy, -1, keepdims=True)
            mean_dy_y = tf.reduce_mean(dy * y, -1, keepdims=True)
            return inverse_std * (dy - mean_dy - y * mean_dy_y)
        return y, grad
    return forward(x)


def make_norm(norm):
    if norm == 'none':
        return tf.identity
    if norm == 'layer':
        return LayerNorm()
    raise NotImplementedError(norm)


class Dense(Module):
    """Linear -> norm -> activation. A norm replaces the bias."""

    def __init__(self, units, act='none', norm='none', bias=True):
        self._linear = Linear(units, bias=bias and norm == 'none')
        self._norm = make_norm(norm)
        self._act = get_act(act)

    def __call__(self, x):
        return self._act(self._norm(self._linear(x)))


class Conv(Module):
    """Stride-2 'valid' convolution (or transposed convolution) -> norm ->
    activation, NHWC. A norm replaces the bias."""

    def __init__(
            self, depth, kernel, transpose=False, act='none', norm='none',
            stride=2):
        self._depth = depth
        self._kernel = kernel
        self._transpose = transpose
        self._stride = stride
        self._bias = norm == 'none'
        self._norm = make_norm(norm)
        self._act = get_act(act)

    def __call__(self, x):
        x = to_compute(x)
        channels = int(x.shape[-1])
        area = self._kernel ** 2
        init = variance_scaling(1.0, area * channels, area * self._depth)
        io = (self._depth, channels) if self._transpose else (
            channels, self._depth)
        kernel = to_compute(self.variable(
            'kernel', init, [self._kernel, self._kernel, *io]))
        if self._transpose and x.shape[1:3].as_list() == [1, 1]:
            # On a 1x1 map the transposed convolution is a matrix product
            # (out[b, i, j, d] = sum_c x[b, c] kernel[i, j, d, c]). CPU
            # convolution kernels run the decoder's first layer at a tenth
            # of matmul speed: over a third of the director vision step.
            x = tf.matmul(
                x[:, 0, 0], tf.reshape(kernel, [-1, channels]),
                transpose_b=True)
            x = tf.reshape(x, [-1, self._kernel, self._kernel, self._depth])
        elif self._transpose:
            size = [(int(d) - 1) * self._stride + self._kernel
                    for d in x.shape[1:3]]
            shape = tf.stack([tf.shape(x)[0], *size, self._depth])
            x = tf.nn.conv2d_transpose(x, kernel, shape, self._stride, 'VALID')
        else:
            x = tf.nn.conv2d(x, kernel, self._stride, 'VALID')
        if self._bias:
            x = add_bias(x, self.variable('bias', tf.zeros, [self._depth]))
        return self._act(self._norm(x))


class DistHead(Module):
    """Linear output layer(s) that parameterise a distribution over `shape`.

    dist: 'mse', 'symlog' (targets regressed in symlog space), 'binary'
        (Bernoulli logits), 'onehot' (categorical over the last axis of
        shape, with `unimix`), 'normal' (tanh mean, std in [minstd, maxstd]
        from a second linear layer).
    outscale: init scale of the output kernel (0 gives zeros).
    """

    def __init__(
            self, shape, dist='mse', outscale=0.1, minstd=0.1, maxstd=1.0,
            unimix=0.0):
        self._shape = tuple(int(d) for d in shape)
        self._dist = dist
        self._outscale = outscale
        self._minstd = minstd
        self._maxstd = maxstd
        self._unimix = unimix

    def __call__(self, x):
        out = self._project('out', x, self._outscale)
        dims = len(self._shape)
        if self._dist == 'mse':
            return dists.MSEDist(out, dims)
        if self._dist == 'symlog':
            return dists.SymlogDist(out, dims)
        if self._dist == 'binary':
            return dists.binary(out, dims)
        if self._dist == 'onehot':
            return dists.onehot(out, dims, self._unimix)
        if self._dist == 'normal':
            std = self._project('std', x, 1.0)
            return dists.bounded_normal(
                out, std, dims, self._minstd, self._maxstd)
        raise NotImplementedError(self._dist)

    def _project(self, name, x, scale):
        size = int(np.prod(self._shape))
        out = self.get(name, Linear, size, scale=scale)(x)
        return tf.cast(reshape_last(out, self._shape), tf.float32)


class MLP(Module):
    """Dense layers on the concatenated inputs, then distribution head(s).

    shape: None returns the features of the last layer; a tuple (or int)
        returns one distribution; a dict {key: shape} returns a dict of them.
    inputs, dims: keys read from a dict input, see gather_inputs().
    Remaining keywords (dist, outscale, minstd, maxstd, unimix) go to
    DistHead.
    """

    def __init__(
            self, shape, layers, units, inputs=('tensor',), dims=None,
            act='elu', norm='layer', **head):
        if isinstance(shape, int):
            shape = (shape,)
        self._shape = shape
        self._keys = tuple(inputs)
        self._dims = dims
        self._layers = [Dense(units, act, norm) for _ in range(layers)]
        self._head = head

    def __call__(self, inputs):
        x = gather_inputs(inputs, self._keys, self._dims)
        for layer in self._layers:
            x = layer(x)
        if self._shape is None:
            return x
        if isinstance(self._shape, dict):
            return {
                key: self.get(key, DistHead, shape, **self._head)(x)
                for key, shape in self._shape.items()}
        return self.get('out', DistHead, self._shape, **self._head)(x)


def select_keys(shapes, pattern, ranks, excluded):
    """{key: shape} of the keys that match the regex `pattern` (re.match,
    anchored at the start), have a rank in `ranks`, are not excluded and
    are not 'log_' keys."""
    return {
        key: tuple(shape) for key, shape in shapes.items()
        if key not in excluded and not key.startswith('log_')
        and re.match(pattern, key) and len(shape) in ranks}


def merge_batch(x, batch_rank):
    """[*batch, *event] -> [N, *event]."""
    return tf.reshape(x, [-1] + x.shape[batch_rank:].as_list())


def split_batch(x, like, batch_rank):
    """[N, *event] -> [*batch, *event], the batch axes taken from `like`."""
    shape = tf.concat([tf.shape(like)[:batch_rank], tf.shape(x)[1:]], 0)
    out = tf.reshape(x, shape)
    out.set_shape(like.shape[:batch_rank].concatenate(x.shape[1:]))
    return out


class ImageEncoder(Module):
    """Stride-2 convolutions doubling the depth each layer, flattened."""

    def __init__(self, depth, kernels, act, norm):
        self._layers = [
            Conv(depth * 2 ** i, kernel, act=act, norm=norm)
            for i, kernel in enumerate(kernels)]

    def __call__(self, images):
        x = images
        for layer in self._layers:
            x = layer(x)
        return tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])


class ImageDecoder(Module):
    """Transposed convolutions from a 1x1 feature map up to `shape`, halving
    the depth each layer; the last layer has no norm and ends in a sigmoid
    (images are predicted in [0, 1])."""

    def __init__(self, shape, depth, kernels, act, norm):
        self._shape = tuple(shape)
        hidden = len(kernels) - 1
        self._layers = [
            Conv(depth * 2 ** (hidden - 1 - i), kernel, True, act, norm)
            for i, kernel in enumerate(kernels[:-1])]
        self._layers.append(Conv(self._shape[-1], kernels[-1], True))

    def __call__(self, features):
        x = tf.reshape(to_compute(features), [-1, 1, 1, features.shape[-1]])
        for layer in self._layers:
            x = layer(x)
        assert tuple(x.shape[1:]) == self._shape, (x.shape, self._shape)
        return tf.sigmoid(x)


class MultiEncoder(Module):
    """Embeds the observation keys chosen by regexes: images (rank 3, the
    channels of all cnn keys concatenated) by ImageEncoder, vectors and
    scalars (rank 1 or 0, concatenated) by an MLP; the two embeddings are
    concatenated. is_first and is_last are never inputs.

    Images must arrive as floats in [0, 1] (the agent divides uint8 by 255).
    """

    EXCLUDED = ('is_first', 'is_last')

    def __init__(
            self, shapes, cnn_keys=r'.*', mlp_keys=r'.*', mlp_layers=4,
            mlp_units=512, cnn_depth=48, cnn_kernels=(4, 4, 4, 4),
            act='elu', norm='layer'):
        self.cnn_shapes = select_keys(shapes, cnn_keys, (3,), self.EXCLUDED)
        self.mlp_shapes = select_keys(shapes, mlp_keys, (0, 1), self.EXCLUDED)
        self.shapes = {**self.cnn_shapes, **self.mlp_shapes}
        assert self.shapes, f'No encoder inputs among {sorted(shapes)}.'
        if self.cnn_shapes:
            self._cnn = ImageEncoder(cnn_depth, cnn_kernels, act, norm)
        if self.mlp_shapes:
            self._mlp = MLP(None, mlp_layers, mlp_units, act=act, norm=norm)

    def __call__(self, data):
        key, shape = next(iter(self.shapes.items()))
        batch_rank = data[key].shape.rank - len(shape)
        outputs = []
        if self.cnn_shapes:
            images = [
                merge_batch(data[k], batch_rank) for k in self.cnn_shapes]
            outputs.append(self._cnn(to_compute(tf.concat(images, -1))))
        if self.mlp_shapes:
            vectors = [
                tf.reshape(to_compute(data[k]), [-1, int(np.prod(shape))])
                for k, shape in self.mlp_shapes.items()]
            outputs.append(self._mlp(tf.concat(vectors, -1)))
        return split_batch(tf.concat(outputs, -1), data[key], batch_rank)


class MultiDecoder(Module):
    """Predicts the observation keys chosen by regexes from the model state:
    images by ImageDecoder (MSEDist over the image), vectors (rank 1) by an
    MLP with one MSE head per key. Reward, continuation and episode flags
    are never decoded here.

    inputs: keys of the state read by gather_inputs(), e.g. [deter, stoch].
    """

    EXCLUDED = ('is_first', 'is_last', 'is_terminal', 'reward')

    def __init__(
            self, shapes, inputs=('tensor',), cnn_keys=r'.*', mlp_keys=r'.*',
            mlp_layers=4, mlp_units=512, cnn_depth=48,
            cnn_kernels=(5, 5, 6, 6), act='elu', norm='layer'):
        self.cnn_shapes = select_keys(shapes, cnn_keys, (3,), self.EXCLUDED)
        self.mlp_shapes = select_keys(shapes, mlp_keys, (1,), self.EXCLUDED)
        self.shapes = {**self.cnn_shapes, **self.mlp_shapes}
        assert self.shapes, f'No decoder outputs among {sorted(shapes)}.'
        self._keys = tuple(inputs)
        if self.cnn_shapes:
            sizes = {shape[:-1] for shape in self.cnn_shapes.values()}
            assert len(sizes) == 1, f'Images differ in size: {sizes}'
            channels = sum(shape[-1] for shape in self.cnn_shapes.values())
            merged = (*sizes.pop(), channels)
            self._cnn = ImageDecoder(
                merged, cnn_depth, cnn_kernels, act, norm)
        if self.mlp_shapes:
            self._mlp = MLP(
                self.mlp_shapes, mlp_layers, mlp_units, act=act, norm=norm,
                dist='mse', outscale=0.1)

    def __call__(self, inputs):
        features = gather_inputs(inputs, self._keys)
        outputs = {}
        if self.cnn_shapes:
            batch_rank = features.shape.rank - 1
            images = self._cnn(merge_batch(features, batch_rank))
            images = split_batch(images, features, batch_rank)
            channels = [shape[-1] for shape in self.cnn_shapes.values()]
            for key, mean in zip(
                    self.cnn_shapes, tf.split(images, channels, -1)):
                outputs[key] = dists.MSEDist(mean, 3)
        if self.mlp_shapes:
            outputs.update(self._mlp(features))
        return outputs
