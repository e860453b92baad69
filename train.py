"""Train or evaluate an agent:

    python train.py --configs dmc_vision --task dmc_hopper_hop

TensorFlow is imported only inside main(): environment processes are
spawned from this file and must never load it.
"""

import os
import pathlib
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

import embodied
from embodied.envs import MissingDependencyError, UnknownTaskError

ROOT = pathlib.Path(__file__).resolve().parent
AGENTS = ('mrs', 'random')
SCRIPTS = ('train', 'eval_only')
USER_ERRORS = (
    embodied.ConfigError, embodied.IncompatibleCheckpoint, UnknownTaskError,
    MissingDependencyError)
SUMMARY_KEYS = (
    'task', 'agent', 'run.script', 'seed', 'logdir', 'env.amount',
    'env.repeat', 'env.parallel', 'batch_size', 'replay.chunk', 'run.steps',
    'run.train_every')
EVAL_SEED_OFFSET = 10_000


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    try:
        config = parse_config(argv)
        print_summary(config)
        run(config)
    except USER_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(2)
    except embodied.run.NonFiniteError as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)


def parse_config(argv):
    config = embodied.load_config(ROOT / 'configs.yaml', argv)
    if config.agent not in AGENTS:
        raise embodied.ConfigError(
            f"agent must be one of {', '.join(AGENTS)}, got {config.agent!r}")
    if config.run.script not in SCRIPTS:
        raise embodied.ConfigError(
            f"run.script must be one of {', '.join(SCRIPTS)}, "
            f"got {config.run.script!r}")
    check_agent_config(config)
    if not config.logdir:
        names, _ = embodied.flags.parse_argv(argv)
        tag = '-'.join([config.task] + names + [f'seed{config.seed}'])
        config = config.update(logdir=str(ROOT / 'logdir' / tag))
    return config


def load_run_config(logdir):
    """The config.yaml a run saved, over today's defaults: runs from older
    code lack the keys added since and get their defaults (reported). How
    TensorFlow executes (tf.*) is this machine's, not the run's: a run
    trained on GPUs in float16 is analysed on a laptop's CPU."""
    defaults = embodied.load_config(ROOT / 'configs.yaml', [])
    saved = embodied.Config.load(pathlib.Path(logdir) / 'config.yaml')
    missing = sorted(set(defaults.flat()) - set(saved.flat()))
    if missing:
        print(f"{logdir}: config.yaml predates {', '.join(missing)}; "
              'using their defaults')
    execution = {k: v for k, v in defaults.flat().items()
                 if k.startswith('tf.')}
    return defaults.update(saved, execution)


def check_agent_config(config):
    skills = config.mrs.skills
    finite = [s for s in skills if s != 'inf']
    problems = []
    if any(not isinstance(s, int) or s < 1 for s in finite):
        problems.append(
            f"mrs.skills takes positive step counts and 'inf', "
            f"got {skills}")
    elif finite and max(finite) >= config.replay.chunk:
        problems.append(
            f'the longest skill ({max(finite)} steps) needs replay.chunk > '
            f'{max(finite)}, got {config.replay.chunk}')
    if config.mrs.expl_reward not in ('min_recon', 'vanilla'):
        problems.append(
            f"mrs.expl_reward must be min_recon or vanilla, "
            f"got {config.mrs.expl_reward!r}")
    elif config.mrs.expl_reward == 'min_recon' and not finite:
        problems.append(
            'mrs.expl_reward min_recon needs a finite skill in mrs.skills')
    elif config.mrs.expl_reward == 'vanilla' and 'inf' not in skills:
        problems.append(
            'mrs.expl_reward vanilla needs the inf skill in mrs.skills')
    if config.tf.jit not in ('auto', 'xla', 'graph'):
        problems.append(
            f'tf.jit must be auto, xla or graph, got {config.tf.jit!r}')
    if config.tf.platform not in ('auto', 'cpu', 'gpu'):
        problems.append(
            f'tf.platform must be auto, cpu or gpu, '
            f'got {config.tf.platform!r}')
    devices = config.tf.devices
    if devices < 1 or config.batch_size % devices:
        problems.append(
            f'tf.devices must be positive and divide batch_size '
            f'({config.batch_size}), got {devices}')
    if config.tf.precision not in ('auto', '16', '32'):
        problems.append(
            f'tf.precision must be auto, 16 or 32, '
            f'got {config.tf.precision!r}')
    choice = config.eval_choice
    fixed = choice.startswith('fixed:') and choice[6:].isdigit()
    if choice not in ('learned', 'random') and not fixed:
        problems.append(
            f"eval_choice must be learned, random or fixed:<i>, "
            f"got {choice!r}")
    elif fixed and int(choice[6:]) >= len(skills):
        problems.append(
            f'eval_choice {choice} names no resolution of {skills}')
    if config.imag_horizon % config.skill_duration:
        problems.append(
            f'imag_horizon ({config.imag_horizon}) must be a multiple of '
            f'skill_duration ({config.skill_duration})')
    if problems:
        raise embodied.ConfigError('; '.join(problems))


def print_summary(config):
    defaults = embodied.load_config(ROOT / 'configs.yaml', []).flat()
    flat = config.flat()
    changed = [k for k in flat if flat[k] != defaults.get(k)]
    keys = list(SUMMARY_KEYS) + [k for k in changed if k not in SUMMARY_KEYS]
    width = max(len(k) for k in keys)
    print('Config (core keys and those changed from the defaults):')
    for key in keys:
        print(f'  {key:<{width}}  {flat[key]}')


def run(config):
    # Environments first: a bad task name fails before anything is written.
    # eval_only plays on the evaluation environments' seeds, so its episodes
    # never repeat the start states of the episodes the agent trained on.
    evaluating = config.run.script == 'eval_only'
    envs = make_envs(
        config, config.env.amount, seed=env_seed(config, evaluating))
    cleanup = list(envs)
    try:
        logdir = pathlib.Path(config.logdir)
        logdir.mkdir(parents=True, exist_ok=True)
        if config.run.script == 'train':
            config.save(logdir / 'config.yaml')
        step = embodied.Counter()
        agent = make_agent(config, envs[0].obs_space, envs[0].act_space, step)
        logger = make_logger(config, logdir, step)
        cleanup.append(logger)
        checkpoint = embodied.Checkpoint(
            logdir / 'checkpoint', keep=config.run.keep_checkpoints)
        checkpoint.register('counter', step)
        checkpoint.register('agent', agent)
        driver = embodied.Driver(envs, max_restarts=config.env.restarts)
        if config.run.script == 'eval_only':
            embodied.run.eval_only(
                agent, driver, logger, checkpoint, config,
                path=config.from_checkpoint)
            return
        eval_envs = make_envs(
            config, config.env.eval_amount, seed=env_seed(config, True))
        cleanup += eval_envs
        eval_driver = embodied.Driver(
            eval_envs, max_restarts=config.env.restarts)
        replay = embodied.Replay(
            logdir / 'replay', config.replay.size, config.replay.chunk,
            seed=config.seed)
        embodied.run.train(
            agent, driver, eval_driver, replay, logger, checkpoint, config)
    finally:
        for item in cleanup:
            item.close()


def env_seed(config, evaluation):
    """Seed of the training or the evaluation environments of a run."""
    return config.seed + EVAL_SEED_OFFSET if evaluation else config.seed


def make_envs(config, amount, seed):
    env = config.env
    return embodied.make_envs(
        config.task, amount, parallel=env.parallel, seed=seed,
        repeat=env.repeat, size=tuple(env.size), camera=env.camera,
        length=env.length, render=env.render)


def make_logger(config, logdir, step):
    outputs = [
        embodied.TerminalOutput(
            config.run.log_filter, config.run.steps * config.env.repeat),
        embodied.JSONLOutput(logdir),
        embodied.TensorBoardOutput(logdir),
    ]
    return embodied.Logger(step, outputs, multiplier=config.env.repeat)


def make_agent(config, obs_space, act_space, step):
    if config.agent == 'random':
        return embodied.RandomAgent(act_space, seed=config.seed)
    from mrs_tf.agent import Agent, setup_tensorflow, use_xla
    platform, precision = setup_tensorflow(config)
    print(f'TensorFlow on {platform}, float{precision}, '
          f"{'XLA' if use_xla(config) else 'graph mode'}.")
    return Agent(obs_space, act_space, step, config)


if __name__ == '__main__':
    main()
