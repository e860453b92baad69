"""Skill modules of MRS (paper Sec. 3.1-3.2): one conditional VAE per
resolution l over transitions s_t -> s_{t+l}, plus the unconditional
'inf' VAE over single states (Director's goal autoencoder).

All modules share one encoder MLP and one decoder MLP. Per resolution
there are only the encoder's last layer (the head producing the skill
logits) and the decoder's first layer (the one reading [z, s_t], or z
alone for 'inf').
"""

import tensorflow as tf
from tensorflow_probability import distributions as tfd

from . import distributions as dists
from . import nets
from .autoadapt import AutoAdapt
from .module import Module
from .optimizer import Optimizer

INF = 'inf'


class SkillModules(Module):

    def __init__(self, skills, skill_shape, goal_size, config):
        self.skills = tuple(skills)
        self.lengths = tuple(s for s in self.skills if s != INF)
        self.conditional = bool(self.lengths)
        self.skill_shape = tuple(skill_shape)
        enc, dec = dict(config.goal_encoder), dict(config.goal_decoder)
        layer = lambda cfg: nets.Dense(cfg['units'], cfg['act'], cfg['norm'])
        self.encoder = [layer(enc) for _ in range(enc['layers'])]
        self.encoder_heads = {
            str(s): nets.DistHead(
                self.skill_shape, 'onehot', enc['outscale'],
                unimix=enc['unimix'])
            for s in self.skills}
        self.decoder_inputs = {str(s): layer(dec) for s in self.skills}
        self.decoder = [layer(dec) for _ in range(dec['layers'] - 1)]
        self.decoder_head = nets.DistHead((goal_size,), 'mse', dec['outscale'])
        self.kl_scales = {
            str(s): AutoAdapt((), **config.skill_kl) for s in self.skills}
        self.opt = Optimizer('skills', **config.skill_opt)

    def prior(self):
        """Uniform over the skill space."""
        uniform = dists.OneHotDist(tf.zeros(self.skill_shape))
        return tfd.Independent(uniform, len(self.skill_shape) - 1)

    def encode(self, skill, goal, context):
        """q(z | s_t, s_{t+l}); the inf module sees only the goal (its
        context input is zero when the encoder is shared with conditional
        modules)."""
        return self.encoder_heads[str(skill)](
            self._encoder_trunk(skill == INF, goal, context))

    def _encoder_trunk(self, inf, goal, context):
        x = goal
        if self.conditional:
            if inf:  # One broadcast zero row: no matmul over zeros.
                context = tf.zeros(
                    [1] * (goal.shape.rank - 1) + [int(context.shape[-1])])
            x = [goal, context]
        for layer in self.encoder:
            x = layer(x)
        return x

    def decode(self, skill, z, context):
        """p(s_{t+l} | z, s_t), or p(s | z) for inf."""
        x = nets.flatten_trailing(z, z.shape.rank - 1)
        if skill != INF:
            x = [x, context]
        x = self.decoder_inputs[str(skill)](x)
        for layer in self.decoder:
            x = layer(x)
        return self.decoder_head(x)

    def decode_all(self, skills, context, live=None):
        """Candidate goals [B, N, D] from one skill [B, *skill_shape] per
        module; only the modules in `live` (default all) are decoded, the
        goals of the others are zeros (pruned: never chosen)."""
        live = self.skills if live is None else live
        goals = [
            self.decode(skill, z, context).mode() if skill in live else None
            for skill, z in zip(self.skills, skills)]
        zeros = tf.zeros_like(next(g for g in goals if g is not None))
        return tf.stack([zeros if g is None else g for g in goals], 1)

    def reconstruction_errors(self, skills, goal, context):
        """Mean squared error of encoding and decoding goal given context,
        per module of `skills` [len(skills), ...]. The shared encoder trunk
        sees the same input in every conditional module: it runs once.
        `context` may have size 1 in leading axes of `goal` (one start
        state for a whole trajectory): the layers broadcast it."""
        trunks = {}
        errors = []
        for skill in skills:
            inf = skill == INF
            if inf not in trunks:
                trunks[inf] = self._encoder_trunk(inf, goal, context)
            z = self.encoder_heads[str(skill)](trunks[inf]).sample()
            recon = self.decode(skill, z, context).mode()
            errors.append(tf.reduce_mean((recon - goal) ** 2, -1))
        return tf.stack(errors)

    def pairs(self, skill, feat):
        """(context, goal) from sequences [B, T, D]: every pair exactly
        `skill` steps apart, or every state as its own pair for inf."""
        if skill == INF:
            return feat, feat
        if skill >= feat.shape[1]:
            raise ValueError(
                f'skill length {skill} needs replay chunks longer than '
                f'{feat.shape[1]} steps')
        return feat[:, :-skill], feat[:, skill:]

    def train(self, feat, live=None):
        """One step on the sum of the ELBOs of the modules in `live`
        (default all) on replay states; pruned modules (pruning.py) are
        left out of the step."""
        feat = tf.stop_gradient(tf.cast(feat, tf.float32))
        metrics = {}
        live = self.skills if live is None else live
        adapted = self.opt.snapshot(self.kl_scales.values())
        with tf.GradientTape() as tape:
            losses = []
            for skill in live:
                loss, mets = self.elbo(skill, *self.pairs(skill, feat))
                losses.append(loss)
                metrics.update(
                    {f'skill{skill}_{k}': v for k, v in mets.items()})
            loss = tf.add_n(losses)
        metrics.update(self.opt.minimize(
            tape, loss, self, restore=adapted,
            unused=len(live) < len(self.skills)))
        return metrics

    def elbo(self, skill, context, goal):
        """Paper Sec. 3.1: the module's negative ELBO on (s_t, s_{t+l})
        pairs, reconstruction plus the adapted KL to the uniform prior."""
        enc = self.encode(skill, goal, context)
        dec = self.decode(skill, enc.sample(), context)
        rec = -dec.log_prob(goal)
        kl, mets = self.kl_scales[str(skill)](
            tfd.kl_divergence(enc, self.prior()))
        metrics = {
            'rec': tf.reduce_mean(rec), 'kl': mets['mean'],
            'kl_scale': mets['scale_mean']}
        return tf.reduce_mean(rec + kl), metrics
