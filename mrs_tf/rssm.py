"""The world model's recurrent state-space model (DreamerV2, as Director
uses it): a GRU deterministic state and a discrete stochastic state."""

import tensorflow as tf

from . import distributions as dists
from .module import Module, compute_dtype, to_compute
from .nets import (
    Dense, Linear, flatten_trailing, reshape_last, scale_rows, scan, sg,
    swap_batch_time)


class RSSM(Module):
    """Recurrent state-space model with a discrete stochastic state.

    A state is {'deter': [B, deter], 'logit': [B, stoch, classes],
    'stoch': one-hot [B, stoch, classes]}, in the compute dtype.
    initial: 'zeros', or 'learned' (Director's 'learned2'): deter is tanh
        of a trained vector and stoch the mode of the prior it implies.
    unroll: Python-unrolled time loops (see scan()).
    units, act, norm: of the hidden layers img_in, img_out, obs_out; the
        GRU's fused gate layer uses the same norm.
    """

    STATE_KEYS = ('deter', 'logit', 'stoch')

    def __init__(
            self, deter=1024, stoch=32, classes=32, units=1024, act='elu',
            norm='layer', initial='learned', unroll=True):
        self._deter = deter
        self._stoch = stoch
        self._classes = classes
        self._initial = initial
        self._unroll = unroll
        self._img_in = Dense(units, act, norm)
        self._gru = Dense(3 * deter, 'none', norm)
        self._img_out = Dense(units, act, norm)
        self._img_stats = Linear(stoch * classes)
        self._obs_out = Dense(units, act, norm)
        self._obs_stats = Linear(stoch * classes)

    def initial(self, batch_size):
        if self._initial == 'zeros':
            shape = [1, self._stoch, self._classes]
            state = {
                'deter': tf.zeros([1, self._deter], compute_dtype()),
                'logit': tf.zeros(shape, compute_dtype()),
                'stoch': tf.zeros(shape, compute_dtype())}
        elif self._initial == 'learned':
            deter = self.variable('initial_deter', tf.zeros, [self._deter])
            deter = to_compute(tf.tanh(deter))[None]
            state = self._prior_from_deter(deter, sample=False)
        else:
            raise NotImplementedError(self._initial)
        return {
            key: tf.repeat(value, batch_size, 0)
            for key, value in state.items()}

    def observe(self, embed, action, is_first, state=None):
        """Posterior and prior states for a batch of sequences [B, T, ...]."""
        state = self._start(state, action)
        inputs = tuple(map(swap_batch_time, (action, embed, is_first)))
        step = lambda carry, inp: self.obs_step(carry[0], *inp)
        post, prior = scan(step, inputs, (state, state), self._unroll)
        post = tf.nest.map_structure(swap_batch_time, post)
        prior = tf.nest.map_structure(swap_batch_time, prior)
        return post, prior

    def imagine(self, action, state=None):
        """Prior states for action sequences [B, T, A] from `state` (extra
        keys in it are ignored)."""
        state = self._start(state, action)
        prior = scan(
            self.img_step, swap_batch_time(action), state, self._unroll)
        return tf.nest.map_structure(swap_batch_time, prior)

    def obs_step(self, prev_state, prev_action, embed, is_first):
        """Returns (post, prior); episodes restart where is_first is set:
        there the previous state becomes the initial state and the
        previous action zeros."""
        is_first = to_compute(is_first)
        keep = lambda x: scale_rows(x, 1 - is_first)
        reset = lambda x: scale_rows(x, is_first)
        initial = self.initial(tf.shape(is_first)[0])
        prev_state = {
            key: keep(to_compute(prev_state[key])) + reset(initial[key])
            for key in initial}
        prev_action = keep(to_compute(prev_action))
        prior = self.img_step(prev_state, prev_action)
        x = tf.concat([prior['deter'], to_compute(embed)], -1)
        logit = self._obs_stats(self._obs_out(x))
        post = self._state(prior['deter'], logit)
        return post, prior

    def img_step(self, prev_state, prev_action):
        """Returns the prior state after taking prev_action."""
        stoch = self._flat_stoch(to_compute(prev_state['stoch']))
        x = tf.concat([stoch, to_compute(prev_action)], -1)
        x = self._img_in(x)
        deter = self._gru_step(x, to_compute(prev_state['deter']))
        return self._prior_from_deter(deter)

    def get_stoch(self, deter):
        """Mode of the prior stochastic state implied by deter."""
        return self._prior_from_deter(to_compute(deter), sample=False)['stoch']

    def get_dist(self, state):
        logit = tf.cast(state['logit'], tf.float32)
        return dists.independent(dists.OneHotDist(logit), 1)

    def get_feat(self, state):
        """Model state as one vector: deter next to the flattened stoch."""
        return tf.concat([
            to_compute(state['deter']),
            self._flat_stoch(to_compute(state['stoch']))], -1)

    def kl_loss(self, post, prior, balance=0.8):
        """KL(post || prior): a fraction `balance` of the gradient trains the
        prior toward the posterior, the rest the posterior toward the prior.
        No free nats (Director adapts the KL scale instead)."""
        kl = lambda p, q: self.get_dist(p).kl_divergence(self.get_dist(q))
        prior_loss = kl(sg(post), prior)
        post_loss = kl(post, sg(prior))
        return balance * prior_loss + (1 - balance) * post_loss

    def _start(self, state, action):
        if state is None:
            return self.initial(tf.shape(action)[0])
        return {key: to_compute(state[key]) for key in self.STATE_KEYS}

    def _gru_step(self, x, deter):
        gates = self._gru(tf.concat([deter, x], -1))
        reset, cand, update = tf.split(gates, 3, -1)
        cand = tf.tanh(tf.sigmoid(reset) * cand)
        # The -1 biases the update gate toward keeping the old state.
        update = tf.sigmoid(update - 1)
        return update * cand + (1 - update) * deter

    def _prior_from_deter(self, deter, sample=True):
        logit = self._img_stats(self._img_out(deter))
        return self._state(deter, logit, sample)

    def _state(self, deter, logit, sample=True):
        logit = reshape_last(logit, (self._stoch, self._classes))
        dist = self.get_dist({'logit': logit})
        stoch = dist.sample() if sample else dist.mode()
        return {'deter': deter, 'logit': logit, 'stoch': to_compute(stoch)}

    def _flat_stoch(self, stoch):
        return flatten_trailing(stoch, stoch.shape.rank - 1)
