"""DreamerV2 world model as Director uses it: RSSM, encoder, decoder,
reward and continuation heads, trained on replay sequences."""

import tensorflow as tf

from . import nets
from .autoadapt import AutoAdapt
from .module import Module
from .optimizer import Optimizer
from .rssm import RSSM


class WorldModel(Module):

    def __init__(self, obs_space, config):
        shapes = {
            k: tuple(v.shape) for k, v in obs_space.items()
            if not k.startswith('log_')}
        self.config = config
        self.rssm = RSSM(**config.rssm)
        self.encoder = nets.MultiEncoder(shapes, **config.encoder)
        self.heads = {
            'decoder': nets.MultiDecoder(shapes, **config.decoder),
            'reward': nets.MLP((), **config.reward_head),
            'cont': nets.MLP((), **config.cont_head),
        }
        self.opt = Optimizer('model', **config.model_opt)
        self.wmkl = AutoAdapt((), **config.wmkl)

    def train(self, data):
        """One optimizer step on a batch [B, T]; returns the posterior
        states (before the step) and metrics."""
        adapted = self.opt.snapshot([self.wmkl])
        with tf.GradientTape() as tape:
            loss, post, metrics = self.loss(data, training=True)
        modules = [self.encoder, self.rssm, *self.heads.values()]
        metrics.update(
            self.opt.minimize(tape, loss, modules, restore=adapted))
        return post, metrics

    def observe(self, data, state=None):
        """Posterior and prior states [B, T, ...] of sequences of
        observations and the actions before them [B, T, ...], from `state`
        (the initial state if None): the representation model of DreamerV2
        (Sec. 2), for training, analysis and reports."""
        return self.rssm.observe(
            self.encoder(data), data['action'], data['is_first'], state)

    def observe_step(self, state, action, obs):
        """The posterior state [B, ...] after one step of observations
        [B, ...] from the previous state and action: observe() for one time
        step, as the policy filters while acting."""
        post, _ = self.rssm.obs_step(
            state, action, self.encoder(obs), obs['is_first'])
        return post

    def loss(self, data, training=False):
        post, prior = self.observe(data)
        dists = {}
        for name, head in self.heads.items():
            out = head(post)
            dists.update(out if isinstance(out, dict) else {name: out})
        kl = self.rssm.kl_loss(post, prior, self.config.wmkl_balance)
        kl, mets = self.wmkl(kl, update=training)
        metrics = {f'wmkl_{k}': v for k, v in mets.items()}
        losses = {'kl': kl}
        for key, dist in dists.items():
            losses[key] = -dist.log_prob(tf.cast(data[key], tf.float32))
        scales = self.config.loss_scales
        model_loss = tf.add_n([
            loss * (scales[key] if key in scales else 1.0)
            for key, loss in losses.items()])
        for key, loss in losses.items():
            metrics[f'{key}_loss_mean'] = tf.reduce_mean(loss)
            metrics[f'{key}_loss_std'] = tf.math.reduce_std(loss)
        metrics['model_loss_mean'] = tf.reduce_mean(model_loss)
        metrics['prior_ent'] = tf.reduce_mean(
            self.rssm.get_dist(prior).entropy())
        metrics['post_ent'] = tf.reduce_mean(
            self.rssm.get_dist(post).entropy())
        return tf.reduce_mean(model_loss), post, metrics

    def imagine(self, policy, start, horizon, carry):
        """Rolls out `policy(state, carry, t) -> (action, carry)` for
        `horizon` steps from the start states [N, ...]; returns the
        trajectory [horizon + 1, N, ...] with cont and weight. With
        imag_unroll the loop is unrolled in Python (t is the step index);
        otherwise it is a tf.scan and t is None."""
        first_cont = 1.0 - tf.cast(start['is_terminal'], tf.float32)
        state = {k: start[k] for k in self.rssm.STATE_KEYS}
        action, carry = policy(state, carry, 0)
        first = {**state, **carry, 'action': action}

        def step(prev, t):
            state = self.rssm.img_step(
                {k: prev[k] for k in self.rssm.STATE_KEYS}, prev['action'])
            action, new_carry = policy(
                state, {k: prev[k] for k in carry}, t)
            return {**state, **new_carry, 'action': action}

        if self.config.imag_unroll:
            steps = [first]
            for t in range(1, horizon + 1):
                steps.append(step(steps[-1], t))
            traj = {k: tf.stack([s[k] for s in steps], 0) for k in first}
        else:
            rest = nets.scan(
                lambda prev, _: step(prev, None), tf.range(horizon), first,
                unroll=False)
            traj = {k: tf.concat([first[k][None], rest[k]], 0) for k in first}
        cont = self.heads['cont'](traj).mean()
        traj['cont'] = tf.concat([first_cont[None], cont[1:]], 0)
        discount = self.config.discount
        traj['weight'] = tf.math.cumprod(discount * traj['cont']) / discount
        return traj

    def decode_images(self, state):
        """Image predictions {key: [..., H, W, C]} of model states."""
        decoder = self.heads['decoder']
        out = decoder(state)
        return {k: out[k].mode() for k in decoder.cnn_shapes}

    def decode_deter(self, deter):
        """Every decoded observation {key: [..., *shape]} (images and
        vectors) of deterministic states alone (goals are deter vectors),
        with the prior's most likely stochastic state."""
        out = self.heads['decoder'](
            {'deter': deter, 'stoch': self.rssm.get_stoch(deter)})
        return {k: dist.mode() for k, dist in out.items()}

    def report(self, data, context=5, count=6):
        """Reconstructions for `context` steps, then open-loop predictions
        from the data's actions, as videos [T, H, W * count, C]: truth,
        model and error stacked vertically."""
        report = {}
        if not self.heads['decoder'].cnn_shapes:
            return report
        data = {k: v[:count] for k, v in data.items()}
        post, _ = self.observe({k: v[:, :context] for k, v in data.items()})
        start = {k: v[:, -1] for k, v in post.items()}
        recon = self.decode_images(post)
        openl = self.decode_images(
            self.rssm.imagine(data['action'][:, context:], start))
        for key in recon:
            truth = tf.cast(data[key], tf.float32)
            model = tf.concat([recon[key], openl[key]], 1)
            error = (model - truth + 1) / 2
            report[f'openl_{key}'] = video_grid(
                tf.concat([truth, model, error], 2))
        return report


def video_grid(video):
    """[B, T, H, W, C] -> [T, H, B * W, C]."""
    batch, time, height, width, channels = video.shape
    video = tf.transpose(video, [1, 2, 0, 3, 4])
    return tf.reshape(video, [time, height, batch * width, channels])
