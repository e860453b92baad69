"""Director's hierarchy with MRS's goal space: every K steps the manager
proposes one goal per skill module and chooses one; the worker pursues it
for K steps. Worker and manager are trained jointly on one imagined
trajectory, split into K-step pieces for the worker and abstracted to one
step per K for the manager."""

import tensorflow as tf

import embodied

from . import choice_policy
from . import config_rules
from . import nets
from . import replicas
from . import trajectory
from .actor_critic import ActorCritic
from .meta_controller import MetaController
from .module import Module
from .pruning import ResolutionPruner
from .skills import INF, SkillModules
from .worker import WorkerActor

REWARD_KEYS = {
    'extr': 'reward_extr', 'expl': 'reward_expl', 'goal': 'reward_goal'}


class Hierarchy(Module):

    def __init__(self, wm, act_space, config):
        self.wm = wm
        self.config = config
        self.duration = piece_length(config)
        self.skills = self.pruner = self.manager = None
        self.live = ()  # The resolutions not pruned (sync_live).
        if config.mrs.manager:
            self._build_manager(config)
        self.worker = ActorCritic(
            WorkerActor(act_space, config), REWARD_KEYS, config.worker_rews,
            config.update({'critic.inputs': config.worker_inputs}))

    def _build_manager(self, config):
        """The skill modules (Sec. 3.1-3.2), the pruner of mrs.adaptive and
        the manager (Sec. 3.3); the flat baseline has none of them."""
        self.skills = SkillModules(
            config.mrs.skills, config.skill_shape, config.rssm.deter, config)
        self.pruner = ResolutionPruner(
            config.mrs.skills, config.mrs.prune_share,
            config.mrs.prune_window) if config.mrs.adaptive else None
        self.live = self.skills.skills
        self.manager = ActorCritic(
            MetaController(
                len(self.skills.skills), config.skill_shape, config,
                self.pruner.active if self.pruner else None),
            REWARD_KEYS, config.manager_rews, config)

    def initial(self, batch_size):
        """The carry: steps taken, the manager's action and the goal. Flat
        keeps them at zero; its skill is empty."""
        skill_size = self.manager.actor.action_size if self.manager else 0
        return {
            'step': tf.zeros([batch_size], tf.int32),
            'skill': tf.zeros([batch_size, skill_size], tf.float32),
            'goal': tf.zeros([batch_size, self.config.rssm.deter], tf.float32),
        }

    def chosen(self, skill):
        """The one-hot resolution choice [..., N] in the carry's `skill`;
        flat pursues the single 'inf' resolution of its preset."""
        if not self.manager:
            return tf.ones(tf.concat([tf.shape(skill)[:-1], [1]], 0))
        return self.manager.actor.unpack(skill)[1]

    def policy(self, latent, carry, update=None, choice='learned'):
        """The worker's action distribution and the new carry, the manager
        choosing the goals (see pursue). `choice` replaces the choice head
        for evaluation (choice_policy.py). Without a manager the carry's
        skill and goal never change."""
        if not self.manager:
            update = False
        return self.pursue(
            latent, carry, lambda: self._propose(latent, choice), update)

    def pursue(self, latent, carry, propose, update=None):
        """The worker's action distribution and the new carry. The skill
        and goal that `propose()` returns replace the carry's where
        carry['step'] is a multiple of K, or, in imagination, where the
        static flag `update` says so; the worker pursues the carry's goal.
        Probes of the manager (analysis/controllability.py) propose their
        own goals on the same decision steps."""
        if update is False:
            new = {k: carry[k] for k in ('skill', 'goal')}
        else:
            new = propose()
            if update is None:
                switch = carry['step'] % self.duration == 0
                new = {
                    k: nets.where_rows(switch, new[k], carry[k]) for k in new}
        carry = {'step': carry['step'] + 1, **new}
        dist = self.worker.actor(nets.sg({**latent, 'goal': carry['goal']}))
        return dist, carry

    def _propose(self, latent, override='learned'):
        skills, choice, goals = self.candidate_goals(latent)
        choice = override_choice(
            choice, override, self.pruner.active if self.pruner else None)
        goal = tf.reduce_sum(choice[:, :, None] * goals, 1)
        return nets.sg({
            'skill': self.manager.actor.pack(skills, choice), 'goal': goal})

    def sync_live(self):
        """The resolutions not pruned, read from the pruner (eagerly, between
        compiled calls) into `live`: the skill modules the traced steps
        compute. The agent passes it to its compiled functions, so each
        pruning retraces them once and pruned modules cost nothing."""
        if self.pruner:
            active = self.pruner.active.numpy()
            self.live = tuple(
                s for s, a in zip(self.skills.skills, active) if a > 0)
        return self.live

    def check_eval_choice(self, choice):
        """ConfigError when the evaluation choice policy needs a resolution
        that pruning removed (read the active set after loading weights)."""
        if not self.pruner:
            return
        active = [bool(a > 0) for a in self.pruner.active.numpy()]
        try:
            choice_policy.check_active(choice, self.skills.skills, active)
        except ValueError as error:
            raise embodied.ConfigError(str(error)) from None

    def require_manager(self, purpose):
        """ConfigError for analyses of the manager on the flat baseline."""
        config_rules.require_manager(self.config, purpose)

    def candidate_goals(self, latent):
        """Paper Sec. 3.3: a skill z_i from every head, decoded to the
        candidate goals g_i = dec_i(z_i, s_t) [B, N, D], and the choice
        head's one-hot sample c [B, N]."""
        self.require_manager('candidate goals')
        skills, choice = self.manager.actor.sample(nets.sg(latent))
        goals = self.skills.decode_all(
            skills, tf.cast(latent['deter'], tf.float32), self.live)
        # Exactly one-hot: the straight-through sample is off by rounding.
        return skills, tf.round(choice), goals

    def candidate_goal_observations(self, latent, keys=None):
        """The candidate goals decoded to observations {key: [B, N, ...]}
        (every decoder key, or `keys`), and the choice [B, N]."""
        _, choice, goals = self.candidate_goals(latent)
        decoded = [
            self.wm.decode_deter(goals[:, i]) for i in range(goals.shape[1])]
        keys = keys or decoded[0].keys()
        return {k: tf.stack([d[k] for d in decoded], 1) for k in keys}, choice

    def train(self, start, feat):
        """Skill modules on replay states `feat` [B, T, D], then worker and
        manager on a trajectory imagined from the start states [N, ...].
        Without a manager (mrs.manager False, the flat baseline) only the
        worker trains, on the extrinsic reward."""
        # Name scopes name the parts of the step in op profiles.
        with tf.name_scope('skills'):
            metrics = (
                self.skills.train(feat, self.live) if self.manager else {})
        with tf.GradientTape(persistent=True) as tape, \
                tf.name_scope('imagine'):
            traj = self.imagine(start)
            worker_traj = trajectory.split_traj(
                traj, self.duration, self.config.discount)
            if self.manager:
                manager_traj = trajectory.abstract_traj(
                    traj, self.duration, self.config.discount)
        with tf.name_scope('worker'):
            mets = self.worker.update(worker_traj, tape)
        metrics.update({f'worker_{k}': v for k, v in mets.items()})
        if self.manager:
            with tf.name_scope('manager'):
                mets = self.manager.update(manager_traj, tape)
            metrics.update({f'manager_{k}': v for k, v in mets.items()})
            metrics.update(
                self._choice_metrics(traj['skill'][0], 'imag_choice'))
        if self.pruner:
            choice = self.chosen(traj['skill'][::self.duration])
            shares = replicas.mean(tf.reduce_mean(choice, [0, 1]))
            metrics.update(self.pruner.update(shares))
        return traj, metrics

    def imagine(self, start, policy=None):
        """The trajectory [H + 1, N, ...] imagined from the start states
        [N, ...] by the hierarchy's policy, or by `policy(state, carry, t)
        -> (action, carry)`, with its three reward streams (flat: only the
        extrinsic one)."""
        def hierarchy_policy(state, carry, t):
            update = None if t is None else t % self.duration == 0
            dist, carry = self.policy(state, carry, update)
            return dist.sample(), carry
        policy = policy or hierarchy_policy
        initial = self.initial(tf.shape(start['deter'])[0])
        traj = self.wm.imagine(
            policy, start, self.config.imag_horizon, initial)
        with tf.name_scope('rewards'):
            traj['reward_extr'] = self.wm.heads['reward'](traj).mean()[1:]
            if self.manager:
                with tf.name_scope('exploration'):
                    traj['reward_expl'] = self.exploration_reward(traj)
                traj['reward_goal'] = trajectory.goal_reward_cosine_max(
                    tf.cast(traj['deter'], tf.float32), traj['goal'])
        return traj

    def exploration_reward(self, traj):
        """Eq. 6: how badly the best finite skill module explains the move
        from the start state to each later state; 'vanilla' uses the inf
        module's reconstruction error (Director). Pruned modules are left
        out."""
        feat = tf.cast(traj['deter'], tf.float32)
        feat, start = feat[1:], feat[:1]
        vanilla = self.config.mrs.expl_reward == 'vanilla'
        skills = [INF] if vanilla else [s for s in self.live if s != INF]
        with replicas.batch_axis(1):
            errors = self.skills.reconstruction_errors(skills, feat, start)
        return tf.reduce_min(errors, 0)

    def _choice_metrics(self, skill, prefix):
        freq = tf.reduce_mean(self.chosen(skill), 0)
        return {
            f'{prefix}_{name}': freq[i]
            for i, name in enumerate(self.skills.skills)}

    def goal_video(self, post):
        """For posterior states [B, T]: the decoded frame beside the decoded
        candidate goal of every resolution, as a video [T, B * H, (N + 1) *
        W, C] per image key."""
        batch, time = post['deter'].shape[:2]
        flat = {k: tf.reshape(v, [batch * time] + v.shape[2:].as_list())
                for k, v in post.items()}
        frames = self.wm.decode_images(flat)
        goals, _ = self.candidate_goal_observations(flat, list(frames))
        videos = {}
        for key, frame in frames.items():
            row = tf.concat([frame[:, None], goals[key]], 1)
            _, columns, height, width, channels = row.shape
            row = tf.transpose(row, [0, 2, 1, 3, 4])
            row = tf.reshape(
                row, [batch, time, height, columns * width, channels])
            row = tf.transpose(row, [1, 0, 2, 3, 4])
            videos[key] = tf.reshape(
                row, [time, batch * height, columns * width, channels])
        return videos


def piece_length(config):
    """Steps the worker pursues one goal, in the environment and in
    imagination: the manager's period K, or without a manager (flat) the
    whole imagination horizon, so the flat actor's returns run over all of
    it whatever skill_duration says."""
    return config.skill_duration if config.mrs.manager else config.imag_horizon


def override_choice(choice, override, active=None):
    """The one-hot choice [B, N] as the learned head sampled it, or as the
    evaluation choice policy `override` draws it (choice_policy.py). With
    `active` [N] (1 choosable, 0 pruned), random and share draw among the
    active resolutions, their shares renormalised."""
    count = choice.shape[-1]
    kind, value = choice_policy.parse(override, count)
    if kind == 'learned':
        return choice
    if kind == 'fixed':
        index = tf.fill(tf.shape(choice)[:1], value)
    else:
        batch = choice.shape[:1]
        if not batch.is_fully_defined():
            batch = tf.shape(choice)[:1]
        shares = tf.constant(value, tf.float32)
        if active is not None:
            shares *= tf.cast(active, tf.float32)
            shares /= tf.reduce_sum(shares)
        # Resolution i where the uniform number passes the first i shares.
        # A zero share never passes the one before it; the clamp keeps
        # rounding (cumsum < 1) off zero shares at the end.
        bounds = tf.math.cumsum(shares[:-1])
        passed = replicas.uniform(batch)[:, None] >= bounds
        index = tf.reduce_sum(tf.cast(passed, tf.int32), -1)
        last = tf.reduce_max(tf.where(shares > 0, tf.range(count), 0))
        index = tf.minimum(index, last)
    return tf.one_hot(index, count, dtype=choice.dtype)
