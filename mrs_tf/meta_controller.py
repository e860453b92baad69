"""The manager of MRS, the meta-controller (paper Sec. 3.3): one trunk, one skill head per
resolution and one choice head. Its action packs the sampled skill of
every head and the one-hot choice into one vector."""

import numpy as np
import tensorflow as tf

from . import distributions as dists
from . import nets
from .autoadapt import AutoAdapt
from .distributions import normalized_entropy
from .module import Module


class MetaController(Module):
    """pi(z_1..z_N, c | s) = prod_i pi_i(z_i | s) * pi_c(c | s).

    With a single resolution (Director) there is no choice head: the one
    head is always chosen and contributes nothing else.
    """

    def __init__(self, num_heads, skill_shape, config, active=None):
        """active: a variable [num_heads] of 1 (choosable) and 0 (pruned,
        see pruning.py), or None for a fixed set."""
        actor = dict(config.actor)
        self.num_heads = num_heads
        self.active = active
        self.skill_shape = tuple(skill_shape)
        self.trunk = nets.MLP(
            None, actor['layers'], actor['units'], inputs=actor['inputs'],
            act=actor['act'], norm=actor['norm'])
        head = dict(dist='onehot', outscale=actor['outscale'],
                    unimix=actor['unimix'])
        self.heads = [
            nets.DistHead(self.skill_shape, **head) for _ in range(num_heads)]
        # mrs.choice random: no choice head; the resolution is drawn
        # uniformly (HiPPO's random commitment length).
        learned = num_heads > 1 and config.mrs.choice == 'learned'
        self.choice = nets.DistHead((num_heads,), **head) if learned else None
        actent = {**dict(config.actent), 'target': config.manager_actent}
        self.head_entropies = [
            AutoAdapt(self.skill_shape[:-1], **actent, inverse=True)
            for _ in range(num_heads)]
        self.choice_entropy = AutoAdapt((), **actent, inverse=True) \
            if learned else None

    @property
    def action_size(self):
        return self.num_heads * int(np.prod(self.skill_shape)) + self.num_heads

    def __call__(self, state):
        """(skill dists [N heads], choice dist or None)."""
        x = self.trunk(state)
        choice = self.choice(x) if self.choice else None
        if choice is not None and self.active is not None:
            logits = tf.math.log(choice.probs_parameter())
            choice = dists.OneHotDist(logits=self._mask(logits))
        return [head(x) for head in self.heads], choice

    def _mask(self, logits):
        """Pruned resolutions (pruning.py) get exactly zero probability
        (exp(-1e4) underflows) but finite log-probabilities, so entropies
        and gradients stay finite."""
        if self.active is None:
            return logits
        return logits + (self.active - 1) * 1e4

    def sample(self, state):
        """(skills: one [B, *skill_shape] per head, one-hot choice [B, N]).

        The heads' samples stay separate tensors: stacking them and slicing
        each back out for its decoder gave grappler a graph it could not
        sort ("Non-existent input .../sample/Reshape")."""
        heads, choice = self(state)
        skills = [dist.sample() for dist in heads]
        batch = tf.shape(skills[0])[0]
        if choice is None and self.num_heads == 1:
            return skills, tf.ones([batch, 1], tf.float32)
        if choice is None:  # mrs.choice random: uniform over active ones.
            logits = tf.zeros([batch, self.num_heads])
            choice = dists.OneHotDist(logits=self._mask(logits))
        return skills, choice.sample()

    def pack(self, skills, choice):
        """The action: every head's skill flattened, then the choice."""
        flat = [nets.flatten_trailing(skill, 2) for skill in skills]
        return tf.concat(flat + [choice], -1)

    def unpack(self, action):
        size = self.num_heads * int(np.prod(self.skill_shape))
        skills = nets.reshape_last(
            action[..., :size], (self.num_heads,) + self.skill_shape)
        return skills, action[..., size:]

    def log_prob(self, heads, choice, action):
        """sum_i c_i log pi_i(z_i | s) + log pi_c(c | s): a head that was not
        chosen gets no policy gradient from this step. Without a choice
        head (one resolution, or mrs.choice random) the last term is left
        out."""
        skills, chosen = self.unpack(action)
        logp = tf.add_n([
            chosen[..., i] * dist.log_prob(skills[..., i, :, :])
            for i, dist in enumerate(heads)])
        if choice is not None:
            logp += choice.log_prob(chosen)
        return logp

    def _max_choice_entropy(self):
        if self.active is None:
            return np.log(self.num_heads)
        return tf.math.log(tf.maximum(tf.reduce_sum(self.active), 2.0))

    def loss(self, traj, advantage):
        """REINFORCE with the paper's Eq. 5 log-probability, plus one
        adaptive entropy bonus per skill head and one for the choice.

        A skill head's bonus counts only at the steps where it was chosen
        (Sec. 3.4: each head receives a gradient only from the manager
        steps that chose it); the choice head's bonus counts everywhere.
        """
        heads, choice = self(nets.sg(traj))
        action = nets.sg(traj['action'])
        logp = self.log_prob(heads, choice, action)[:-1]
        loss = -logp * nets.sg(advantage)
        _, chosen = self.unpack(action[:-1])
        metrics = {}
        for i, (dist, adapt) in enumerate(zip(heads, self.head_entropies)):
            bonus, mets = adapt(normalized_entropy(dist)[:-1])
            loss += chosen[..., i] * tf.reduce_sum(bonus, -1)
            metrics.update({f'head{i}_actent_{k}': v for k, v in mets.items()})
        if choice is not None:
            entropy = choice.entropy()[:-1] / self._max_choice_entropy()
            bonus, mets = self.choice_entropy(entropy)
            loss += bonus
            metrics.update({f'choice_actent_{k}': v for k, v in mets.items()})
        return loss, metrics
