"""The agent the runtime drives: policy(), train(), report(), save/load.

policy, train and report run as tf.functions, XLA-compiled when tf.jit
says so (tf_setup.py decides that, the precision and the strategy). With
tf.devices > 1 the train step runs under MirroredStrategy, and on several
hosts (TF_CONFIG, see cluster.py) under MultiWorkerMirroredStrategy, each
device on a slice of the batch (see replicas.py); with XLA on several
hosts, each device's part of the step is compiled in clusters between the
all-reduces (see _train_replicas). They take and return numpy.

For analysis and tools: build() creates every variable, traces() counts
the functions' traces, train_ir() shows the compiled train step, graphs()
gives the traced train and policy steps (profiling.py counts their
operations), observe() the world model's posterior states of a batch and
goal_observations() the decoded candidate goals; scope() applies the
agent's precision and strategy to direct calls of its modules.
eval_variant() and eval_summary() serve the runtime's eval_only (see
embodied/run/eval_only.py).
"""

import contextlib
import json

import numpy as np
import tensorflow as tf

import embodied

from . import checkpoint_keys
from . import choice_policy
from . import cluster
from . import nets
from . import replicas
from .hierarchy import Hierarchy
from .module import compute_dtype, precision
from .optimizer import Optimizer
from .tf_setup import make_strategy, resolve_precision, use_xla
from .worker import action_shape
from .world_model import WorldModel

MODES = ('train', 'eval')
# Config keys that decide the shapes of the agent's variables.
SHAPE_KEYS = (
    'rssm.', 'encoder.', 'decoder.', 'reward_head.', 'cont_head.', 'actor.',
    'critic.', 'goal_encoder.', 'goal_decoder.', 'skill_shape', 'mrs.skills',
    'worker_inputs')


class Agent(tf.Module):

    def __init__(self, obs_space, act_space, step, config):
        super().__init__(name='agent')
        self.config = config
        self.obs_space = {
            k: v for k, v in obs_space.items() if not k.startswith('log_')}
        # Discrete actions are integers outside and one-hot vectors inside.
        self.act_space = act_space['action']
        self.action_shape = action_shape(self.act_space)
        self.step = step
        self.precision = resolve_precision(config)  # the compute dtype
        self.strategy = make_strategy(config)
        with self.scope():
            self.wm = WorldModel(self.obs_space, config)
            self.hierarchy = Hierarchy(self.wm, self.act_space, config)
            self.train_steps = replicas.variable(
                0, dtype=tf.int64, trainable=False)
        # Under a strategy only the train step uses XLA, in clusters and
        # on several hosts only (see _train_replicas).
        jit = use_xla(config) and not self._distributed
        self._clusters = use_xla(config) and cluster.host()[1] > 1
        compile = lambda fn: tf.function(fn, jit_compile=jit)
        # Each function takes `live`, the resolutions not pruned
        # (Hierarchy.sync_live), only as its trace key: a pruning retraces
        # them once, and the new traces leave the pruned modules out.
        self._policy_fns = {
            mode: compile(lambda obs, state, live, mode=mode:
                          self._policy(obs, state, mode))
            for mode in MODES}
        self._train_fn = (
            tf.function(lambda data, live: self._train_replicas(data))
            if self._distributed
            else compile(lambda data, live: self._train(data)))
        self._report_fn = compile(lambda data, live: self._report(data))
        self._checkpoint = tf.train.Checkpoint(agent=self)

    @property
    def _distributed(self):
        return self.strategy.num_replicas_in_sync > 1

    @contextlib.contextmanager
    def scope(self):
        """The strategy and this agent's precision, for building and for
        every call (functions trace on their first call)."""
        with self.strategy.scope(), precision(self.precision):
            yield

    def policy(self, obs, state=None, mode='train'):
        obs = {k: v for k, v in obs.items() if k in self.obs_space}
        if state is None:
            state = self._initial_policy_state(len(obs['is_first']))
        with self.scope():
            outs, state = self._policy_fns[mode](
                obs, state, self.hierarchy.sync_live())
        return {k: v.numpy() for k, v in outs.items()}, state

    def eval_variant(self):
        """The evaluation choice policy (eval_choice, paper Table 3) that
        names eval_only's scores file; ConfigError when it needs a
        resolution the loaded weights have pruned (mrs.adaptive), so call
        it after loading them."""
        self.hierarchy.check_eval_choice(self.config.eval_choice)
        return self.config.eval_choice

    def eval_summary(self, metrics):
        """eval_only's MRS fields for episodes' metrics: the choice policy,
        the resolutions and the share of each episode's steps spent on
        each resolution (choice_frequencies)."""
        frequencies = [choice_policy.frequencies(m) for m in metrics]
        return {
            'eval_choice': self.config.eval_choice,
            'resolutions': list(self.config.mrs.skills),
            'choice_frequencies': frequencies,
            'mean_choice_frequency':
                np.mean(frequencies, 0).tolist() if frequencies else [],
        }

    def train(self, data, state=None):
        data = self._inputs(data)
        if self._distributed:
            data = self.strategy.experimental_distribute_values_from_function(
                lambda context: self._replica_slice(data, context))
        with self.scope():
            metrics = self._train_fn(data, self.hierarchy.sync_live())
        return state, {k: v.numpy() for k, v in metrics.items()}

    def report(self, data):
        with self.scope():
            report = self._report_fn(
                self._inputs(data), self.hierarchy.sync_live())
        return {k: v.numpy() for k, v in report.items()}

    def build(self):
        """Creates every variable by one eager train step on a batch of
        zeros long enough for the longest skill (the weights take that
        step)."""
        skills = self.hierarchy.skills
        steps = max(skills.lengths if skills else (), default=1) + 1
        data = {
            k: np.zeros((1, steps) + v.shape, v.dtype)
            for k, v in self.obs_space.items()}
        data['action'] = np.zeros(
            (1, steps) + self.act_space.shape, self.act_space.dtype)
        with self.scope():
            self._train(self._inputs(data))

    def traces(self):
        """How often each compiled function has traced: a count that grows
        after the first calls means retracing (a shape or dtype changed)."""
        functions = {f'policy_{m}': f for m, f in self._policy_fns.items()}
        functions.update(train=self._train_fn, report=self._report_fn)
        return {
            name: function.experimental_get_tracing_count()
            for name, function in functions.items()}

    def train_ir(self, data, stage='hlo'):
        """The compiler's IR of the train step for this batch (XLA only)."""
        with self.scope():
            return self._train_fn.experimental_get_compiler_ir(
                self._inputs(data), self.hierarchy.sync_live())(stage=stage)

    def graphs(self, data, obs):
        """The traced graphs {'train', 'policy'} of one train step on the
        batch `data` and of one policy step (mode train) on the
        observations `obs` (a batch of environments); traced now unless
        these shapes were traced before."""
        with self.scope():
            live = self.hierarchy.sync_live()
            train = self._train_fn.get_concrete_function(
                self._inputs(data), live)
            obs = {k: tf.convert_to_tensor(v) for k, v in obs.items()
                   if k in self.obs_space}
            state = self._initial_policy_state(len(obs['is_first']))
            policy = self._policy_fns['train'].get_concrete_function(
                obs, state, live)
        return {'train': train.graph, 'policy': policy.graph}

    def observe(self, data):
        """The world model's posterior states {deter, stoch, logit}
        [B, T, ...] (tensors) after sequences of observations and actions
        [B, T, ...]."""
        with self.scope():
            return self.wm.observe(self.preprocess(self._inputs(data)))[0]

    def goal_observations(self, latent):
        """For model states [B, ...]: the candidate goal of every
        resolution decoded to observations {key: [B, N, ...]} (images and
        vectors) and the resolution the choice head picks [B] (paper Sec.
        3.3, App. G), as numpy; a ConfigError for flat (no manager)."""
        latent = {k: tf.convert_to_tensor(v) for k, v in latent.items()}
        self.hierarchy.sync_live()
        with self.scope():
            goals, choice = self.hierarchy.candidate_goal_observations(latent)
        return (
            {k: v.numpy() for k, v in goals.items()},
            choice.numpy().argmax(-1))

    def dataset(self, generator):
        """Batches from `generator()` as tensors, prepared ahead of time on a
        background thread so the learner does not wait for replay."""
        example = next(generator())
        signature = {
            k: tf.TensorSpec(v.shape, v.dtype) for k, v in example.items()
            if k in self.obs_space or k == 'action'}
        dataset = tf.data.Dataset.from_generator(
            lambda: ({k: b[k] for k in signature} for b in generator()),
            output_signature=signature)
        return iter(dataset.prefetch(2))

    def save(self, directory):
        self._checkpoint.write(str(directory / 'variables'))
        (directory / 'spec.json').write_text(
            json.dumps(self._spec(), indent=1))

    def load(self, directory):
        """Restores the weights. Every variable the agent has must be in the
        checkpoint: a built agent (trained, or build()) is restored
        completely, optimizer moments included; in one not built yet the
        variables that exist are restored and the others are filled when
        they are created. The one exception: a float16 agent loading a
        checkpoint written in another precision keeps its fresh loss scales
        (they settle within a few steps, see optimizer.py). Saved values
        this agent has no variable for are left unused: the ones of
        variables not created yet, and the loss scales of a float16
        checkpoint loaded in another precision. Refuses a checkpoint
        written for other observations, network sizes or agent state, and
        one whose files cannot be read completely."""
        spec = json.loads((directory / 'spec.json').read_text())
        self._check_compatible(spec, directory)
        prefix = str(directory / 'variables')
        reader = tf.train.load_checkpoint(prefix)
        saved = reader.get_variable_to_shape_map()
        for name in saved:
            reader.get_tensor(name)  # Raises on truncated or corrupt data.
        optional = {
            v.ref() for module in self.submodules
            if isinstance(module, Optimizer) for v in module.scale_state()}
        missing = [
            key for key, var in
            checkpoint_keys.variables_by_key(self._checkpoint).items()
            if key not in saved and var.ref() not in optional]
        if missing:
            raise embodied.IncompatibleCheckpoint(
                f'checkpoint {directory} does not hold all of this agent\'s '
                f'state: {len(missing)} variables missing, e.g. '
                f'{", ".join(missing[:3])}')
        with self.scope():
            # Checked above: only the exceptions of the docstring are unused.
            self._checkpoint.read(prefix).expect_partial()

    def _spec(self):
        flat = self.config.flat()
        return {
            'obs_space': {
                k: [list(v.shape), v.dtype.name]
                for k, v in self.obs_space.items()},
            'act_shape': list(self.action_shape),
            'model': {
                k: list(v) if isinstance(v, tuple) else v
                for k, v in flat.items() if k.startswith(SHAPE_KEYS)},
        }

    def _check_compatible(self, spec, directory):
        mine = json.loads(json.dumps(self._spec()))
        problems = []
        for key in sorted(set(spec['obs_space']) | set(mine['obs_space'])):
            theirs, ours = (
                spec['obs_space'].get(key), mine['obs_space'].get(key))
            if theirs != ours:
                problems.append(f'observation {key}: {theirs} vs {ours}')
        if 'image' in set(spec['obs_space']) - set(mine['obs_space']):
            problems.append('made with frames: add --env.render True')
        if spec['act_shape'] != mine['act_shape']:
            problems.append(
                f"action shape: {spec['act_shape']} vs {mine['act_shape']}")
        for key, value in mine['model'].items():
            if spec['model'].get(key, value) != value:
                problems.append(f"{key}: {spec['model'][key]} vs {value}")
        if problems:
            raise embodied.IncompatibleCheckpoint(
                f'checkpoint {directory} does not fit this config '
                f"(checkpoint vs config): {'; '.join(problems)}")

    def _inputs(self, data):
        inputs = {
            k: tf.convert_to_tensor(v) for k, v in data.items()
            if k in self.obs_space or k == 'action'}
        if 'action' in inputs and self.act_space.discrete:
            index = tf.cast(inputs['action'], tf.int32) - int(
                self.act_space.low)
            inputs['action'] = tf.one_hot(index, self.action_shape[0])
        return inputs

    def _initial_policy_state(self, batch_size):
        rssm = self.config.rssm
        stoch = [batch_size, rssm.stoch, rssm.classes]
        dtype = tf.as_dtype(self.precision)
        latent = {
            'deter': tf.zeros([batch_size, rssm.deter], dtype),
            'logit': tf.zeros(stoch, dtype),
            'stoch': tf.zeros(stoch, dtype)}
        action = tf.zeros((batch_size,) + self.action_shape, tf.float32)
        return latent, self.hierarchy.initial(batch_size), action

    def _policy(self, obs, state, mode):
        latent, carry, action = state
        obs = self.preprocess(obs)
        first = obs['is_first'] > 0
        initial = self.hierarchy.initial(tf.shape(first)[0])
        carry = {
            k: nets.where_rows(first, initial[k], v) for k, v in carry.items()}
        latent = self.wm.observe_step(latent, action, obs)
        choice = self.config.eval_choice if mode == 'eval' else 'learned'
        dist, carry = self.hierarchy.policy(latent, carry, choice=choice)
        action = dist.mode() if mode == 'eval' else dist.sample()
        outs = {
            'action': self._env_action(action),
            'log_choice': self.hierarchy.chosen(carry['skill'])}
        return outs, (latent, carry, action)

    def _env_action(self, action):
        """The policy's action as the environment takes it: an index for
        discrete actions."""
        if not self.act_space.discrete:
            return action
        index = tf.argmax(action, -1, output_type=tf.int32)
        return tf.cast(index + int(self.act_space.low), self.act_space.dtype)

    def _train(self, data):
        key = tf.stack([tf.constant(self.config.seed, tf.int64),
                        self.train_steps.read_value()])
        with replicas.keyed(key):
            data = self.preprocess(data)
            with tf.name_scope('world_model'):
                post, metrics = self.wm.train(data)
            flatten = lambda x: tf.reshape(x, [-1] + x.shape[2:].as_list())
            start = {k: flatten(tf.stop_gradient(v)) for k, v in post.items()}
            start['is_terminal'] = flatten(data['is_terminal'])
            _, mets = self.hierarchy.train(start, post['deter'])
        metrics.update(mets)
        self.train_steps.assign_add(1)
        return metrics

    def _train_replicas(self, data):
        """The train step on every device; metrics averaged over them (so
        std and max metrics are averages of the devices' values).

        With XLA on several hosts, the replica step runs in a jit_scope:
        XLA compiles its operations in clusters and the all-reduces
        (collective ops) run between them. A jit-compiled replica function
        cannot hold the all-reduces: TensorFlow 2.21 synchronises replicas
        outside XLA (merge_call) and compiles no collective for CPUs. On
        several devices of one host the clusters deadlock the step (TF
        2.21, 2 logical CPUs), so there it runs in graph mode."""
        step = self._train_in_clusters if self._clusters else self._train
        metrics = self.strategy.run(step, (data,))
        return {
            k: self.strategy.reduce('MEAN', v, axis=None)
            for k, v in metrics.items()}

    def _train_in_clusters(self, data):
        with tf.xla.experimental.jit_scope():
            return self._train(data)

    def _replica_slice(self, data, context):
        """A replica's rows of this host's batch (on several hosts, each
        host's batch is its share of the global batch, in replica order)."""
        local = len(self.strategy.extended.worker_devices)
        index = context.replica_id_in_sync_group % local
        size = data['is_first'].shape[0] // local
        return {k: v[index * size:(index + 1) * size] for k, v in data.items()}

    def _report(self, data):
        data = self.preprocess(data)
        report = self.wm.report(data)
        if self.hierarchy.manager and self.wm.heads['decoder'].cnn_shapes:
            post, _ = self.wm.observe({k: v[:2] for k, v in data.items()})
            for key, video in self.hierarchy.goal_video(post).items():
                report[f'goals_{key}'] = video
        return report

    def preprocess(self, obs):
        out = {}
        for key, value in obs.items():
            if value.dtype == tf.uint8 and value.shape.rank >= 3:
                out[key] = tf.cast(value, compute_dtype()) / 255.0
            elif value.dtype == tf.bool:
                # Not a cast: grappler moves a widening cast behind the
                # RSSM's transpose, and oneDNN's transpose of bool tensors
                # logs an error line on CPUs it takes for non-AVX-512 ones
                # (AMD EPYC).
                out[key] = tf.where(value, 1.0, 0.0)
            else:
                out[key] = tf.cast(value, tf.float32)
        out['cont'] = 1.0 - out['is_terminal']
        return out

