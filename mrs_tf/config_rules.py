"""What an MRS config may hold beyond its keys' types (which embodied.Config
checks): the allowed range or set of every numeric and enum-like key, the
keys left free, and the rules that tie keys together. configs.parse and
configs.load_run apply them before anything starts; launch.run checks the
paths a run reads and writes (check_paths). Imports no TensorFlow.

RANGES, CHOICES and FREE are matched in order by regexes over the dotted
keys (the first match decides); lists are checked entry by entry.
"""

import pathlib
import re

import embodied

from . import choice_policy, cluster

AGENTS = ('mrs', 'random')
SCRIPTS = ('train', 'eval_only')
EXPL_REWARDS = ('min_recon', 'vanilla')
# nets.ACTIVATIONS' names (a test keeps the two equal).
ACTIVATIONS = ('none', 'elu', 'relu', 'tanh', 'sigmoid', 'silu', 'gelu')
UNBOUNDED = None

RANGES = (  # (key regex, lowest, highest): inclusive
    (r'seed', 0, 2 ** 32 - 1),
    (r'batch_size|tf\.devices', 1, UNBOUNDED),
    (r'env\.(amount|eval_amount|repeat|size)', 1, UNBOUNDED),
    (r'env\.camera', -1, UNBOUNDED),
    (r'env\.(length|restarts|atari\.noops)', 0, UNBOUNDED),
    (r'env\.atari\.sticky', 0, 1),
    (r'replay\.size', 1, UNBOUNDED),
    (r'replay\.chunk', 2, UNBOUNDED),
    (r'run\.(steps|train_every|train_steps|keep_checkpoints)', 1, UNBOUNDED),
    (r'run\.(train_fill|log_every|eval_every|eval_eps|save_every'
     r'|video_every|progress_every)', 0, UNBOUNDED),
    (r'goal_(encoder|decoder)\.layers', 1, UNBOUNDED),
    (r'.*\.(layers|mlp_layers)', 0, UNBOUNDED),
    (r'.*\.(units|mlp_units|cnn_depth|cnn_kernels|deter|stoch|classes)',
     1, UNBOUNDED),
    (r'skill_shape|skill_duration|imag_horizon|slow_target_update'
     r'|mrs\.prune_window', 1, UNBOUNDED),
    (r'discount|return_lambda|wmkl_balance|slow_target_fraction'
     r'|manager_actent|mrs\.prune_share|.*\.unimix|(advnorm|retnorm)\.decay', 0, 1),
    (r'.*_opt\.(lr|eps|clip|wd)|.*\.(minstd|maxstd|outscale)'
     r'|loss_scales\..*|(wmkl|actent|skill_kl)\.(scale|target|min|max|vel)'
     r'|(advnorm|retnorm)\.max', 0, UNBOUNDED),
    (r'(manager|worker)_rews\..*', UNBOUNDED, UNBOUNDED),
)
CHOICES = (  # (key regex, allowed values)
    (r'agent', AGENTS),
    (r'run\.script', SCRIPTS),
    (r'env\.parallel', ('process', 'none')),
    (r'env\.atari\.actions', ('full', 'minimal')),
    (r'tf\.jit', ('auto', 'xla', 'graph')),
    (r'tf\.platform', ('auto', 'cpu', 'gpu')),
    (r'tf\.precision', ('auto', '16', '32', 'bf16')),
    (r'.*\.act', ACTIVATIONS),
    (r'.*\.norm', ('layer', 'none')),
    (r'rssm\.initial', ('zeros', 'learned')),
    (r'(wmkl|actent|skill_kl)\.impl', ('mult', 'fixed')),
    (r'(advnorm|retnorm)\.impl', ('off', 'mean_std', 'std')),
    (r'(reward_head|critic)\.dist', ('symlog', 'mse')),
    (r'cont_head\.dist', ('binary',)),
    (r'(decoder|reward_head|cont_head|actor|critic)\.inputs',
     ('deter', 'stoch')),
    (r'worker_inputs', ('deter', 'stoch', 'goal')),
    (r'mrs\.expl_reward', EXPL_REWARDS),
    (r'mrs\.choice', ('learned', 'random')),
)
# Free text, or checked by a rule below.
FREE = (
    r'logdir|task|from_checkpoint|eval_choice|mrs\.skills|run\.log_filter'
    r'|run\.video_keys|.*_keys|.*\.wd_pattern|tf\.deterministic'
    r'|run\.check_finite_every_step|env\.render|imag_unroll|rssm\.unroll'
    r'|replay\.keep_evicted|env\.kwargs|run\.log_keys_max|mrs\.manager'
    r'|mrs\.adaptive|env\.atari\.gray')


def check(config):
    """Raises embodied.ConfigError naming every violation, in one line."""
    problems = []
    for key, value in config.flat().items():
        problems += _key_problems(key, value)
    if not problems:  # The rules below assume valid single keys.
        problems += (
            _skill_problems(config) + _eval_choice_problems(config)
            + _shape_problems(config) + _env_problems(config))
    if problems:
        raise embodied.ConfigError('; '.join(problems))


def require_manager(config, purpose):
    """ConfigError for analyses of the manager on the flat baseline; the
    analysis programs call it before they load anything."""
    if not config.mrs.manager:
        raise embodied.ConfigError(
            f'{purpose} need a manager; mrs.manager is False (flat)')


def check_paths(config):
    """The paths a run reads or writes, checked when it starts (a sweep
    may name a checkpoint an earlier run of it writes)."""
    problems = []
    source = config.from_checkpoint
    if source and not pathlib.Path(source).exists():
        problems.append(f'from_checkpoint {source}: no such file or directory')
    logdir = pathlib.Path(config.logdir) if config.logdir else None
    if logdir and logdir.exists() and not logdir.is_dir():
        problems.append(f'logdir {logdir} is a file, not a directory')
    if problems:
        raise embodied.ConfigError('; '.join(problems))


def rule(key):
    """('range', low, high), ('choices', values) or ('free',) for a key."""
    for pattern, low, high in RANGES:
        if re.fullmatch(pattern, key):
            return ('range', low, high)
    for pattern, values in CHOICES:
        if re.fullmatch(pattern, key):
            return ('choices', values)
    if re.fullmatch(FREE, key):
        return ('free',)
    raise KeyError(f'{key} has no rule in config_rules')


def _key_problems(key, value):
    kind, *limits = rule(key)
    values = value if isinstance(value, (list, tuple)) else [value]
    if kind == 'range':
        low, high = limits
        bad = [v for v in values if (low is not None and v < low)
               or (high is not None and v > high)]
        if bad:
            return [f'{key} must be {_describe_range(low, high)}, '
                    f'got {_show(value)}']
    elif kind == 'choices':
        allowed = limits[0]
        bad = [v for v in values if str(v) not in allowed]
        if bad:
            return [f'{key} must be {_alternatives(allowed)}'
                    f"{' (each)' if isinstance(value, tuple) else ''}, "
                    f'got {_show(value)}']
    return []


def _alternatives(values):
    return ' or '.join(
        [', '.join(values[:-1]), values[-1]] if len(values) > 1 else values)


def _describe_range(low, high):
    if high is None:
        return f'at least {low}'
    if low is None:
        return f'at most {high}'
    return f'between {low} and {high}'


def _show(value):
    return list(value) if isinstance(value, tuple) else repr(value)


def _skill_problems(config):
    """Resolutions (paper Sec. 3.1-3.2), the exploration reward (Eq. 6)
    they feed, and the manager's period K (Sec. 3.3)."""
    skills = config.mrs.skills
    finite = [s for s in skills if s != 'inf']
    expl = config.mrs.expl_reward
    if not skills or any(not isinstance(s, int) or s < 1 for s in finite):
        return [f"mrs.skills takes positive step counts and 'inf', "
                f'got {list(skills)}']
    problems = []
    if finite and max(finite) >= config.replay.chunk:
        problems.append(
            f'the longest skill ({max(finite)} steps) needs replay.chunk > '
            f'{max(finite)}, got {config.replay.chunk}')
    if expl == 'min_recon' and not finite:
        problems.append(
            'mrs.expl_reward min_recon needs a finite skill in mrs.skills')
    elif expl == 'vanilla' and 'inf' not in skills:
        problems.append(
            'mrs.expl_reward vanilla needs the inf skill in mrs.skills')
    if not config.mrs.manager and (
            'goal' in config.worker_inputs or config.worker_rews.goal
            or config.worker_rews.expl or config.mrs.adaptive):
        problems.append(
            'mrs.manager False (flat) leaves no goal, exploration reward or '
            'resolutions to prune: worker_inputs must not hold goal, '
            'worker_rews.goal and .expl must be 0 and mrs.adaptive False '
            '(see the flat preset)')
    # Without a manager the worker's piece is the whole horizon (flat).
    if config.mrs.manager and config.imag_horizon % config.skill_duration:
        problems.append(
            f'imag_horizon ({config.imag_horizon}) must be a multiple of '
            f'skill_duration ({config.skill_duration})')
    return problems


def _eval_choice_problems(config):
    """The choice-head replacement of paper Table 3: it needs a choice, and
    while adaptive pruning runs it must play a resolution that pruning
    leaves."""
    choice, skills = config.eval_choice, config.mrs.skills
    try:
        choice_policy.parse(choice, len(skills))
    except ValueError as error:
        return [str(error)]
    if choice == 'learned':
        return []
    if not config.mrs.manager:
        return [f'eval_choice {choice} replaces the manager\'s choice; '
                'mrs.manager is False (flat), so there is none']
    if not (config.mrs.adaptive and config.run.script == 'train'):
        return []
    # Pruning (pruning.py) keeps inf and at least one finite resolution,
    # any of them: the choice must be playable by each such smallest set.
    smallest = [[s == 'inf' or i == kept for i, s in enumerate(skills)]
                for kept, skill in enumerate(skills) if skill != 'inf']
    if all(_playable(choice, skills, active) for active in smallest):
        return []
    return [f'eval_choice {choice} may need resolutions that mrs.adaptive '
            'prunes during training; train with learned, random or one '
            'giving inf a share, and evaluate checkpoints with run.script '
            'eval_only']


def _playable(choice, skills, active):
    try:
        choice_policy.check_active(choice, skills, active)
    except ValueError:
        return False
    return True


def _shape_problems(config):
    problems = []
    devices = config.tf.devices
    hosts = cluster.host()[1]
    if config.batch_size % (devices * hosts):
        problems.append(
            f'tf.devices ({devices}) times the hosts of TF_CONFIG ({hosts}) '
            f'must divide batch_size ({config.batch_size})'
            if hosts > 1 else
            f'tf.devices ({devices}) must divide batch_size '
            f'({config.batch_size})')
    length = config.env.length
    if length and length + 1 < config.replay.chunk:
        problems.append(
            f'env.length {length} makes episodes of {length + 1} steps, '
            f'shorter than replay.chunk ({config.replay.chunk}): none could '
            'ever be sampled')
    size = tuple(config.env.size)
    decoded = decoded_image_size(config.decoder.cnn_kernels)
    if config.env.render and size != (decoded, decoded):
        problems.append(
            f'env.size {list(size)} does not fit the image decoder: '
            f'decoder.cnn_kernels {list(config.decoder.cnn_kernels)} '
            f'produce {decoded}x{decoded} images (use --env.size {decoded} '
            f'{decoded}, other kernels, or --env.render False)')
    return problems


def _env_problems(config):
    """Keywords and key patterns of gym_ tasks (embodied.envs.GymEnv);
    Pin Pad's single-cell moves; the options of atari_ tasks."""
    env = config.env
    problems = []
    try:
        embodied.envs.parse_gym_kwargs(env.kwargs)
    except ValueError as error:
        problems.append(str(error))
    for key in ('env.obs_keys', 'run.log_keys_max'):
        try:
            re.compile(config[key])
        except re.error as error:
            problems.append(f'{key} {config[key]!r} is not a regex: {error}')
    if config.task in embodied.envs.PINPAD_TASKS and env.repeat != 1:
        problems.append(
            f'{config.task} moves one cell per step as in Director: '
            f'env.repeat must be 1, got {env.repeat} (cpu_small sets 2: '
            'name pinpad_proprio after it)')
    gym = config.task.startswith('gym_')
    if not gym and (env.kwargs.strip() or env.obs_keys != '.*'):
        problems.append(
            f'env.kwargs and env.obs_keys apply to gym_ tasks, not '
            f'{config.task}')
    if not config.task.startswith('atari_'):
        from . import configs  # It imports this module.
        default = configs.defaults().env.atari
        changed = [f'env.atari.{key}' for key, value in env.atari.items()
                   if value != default[key]]
        if changed:
            verb = 'applies' if len(changed) == 1 else 'apply'
            problems.append(
                f"{', '.join(changed)} {verb} to atari_ tasks, not "
                f'{config.task}')
    return problems


def decoded_image_size(kernels):
    """Side of the image the decoder's stride-2 transposed convolutions
    (valid padding) grow from a 1x1 map."""
    side = 1
    for kernel in kernels:
        side = (side - 1) * 2 + kernel
    return side
