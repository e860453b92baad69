"""A run's parts from its config: environments, the agent, the logger, and
the run itself (train or eval_only). TensorFlow is imported only when an
agent is built: environment processes are spawned from the main script,
which imports this module, and must never load TensorFlow."""

import os
import pathlib

import embodied
from embodied.envs import MissingDependencyError, UnknownTaskError

from . import cluster, config_rules

# TensorFlow's C++ info lines (CPU features, device setup) stay out of the
# output of every program that builds agents here; warnings and errors show.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')

EVAL_SEED_OFFSET = 10_000
USER_ERRORS = (
    embodied.ConfigError, embodied.IncompatibleCheckpoint, UnknownTaskError,
    MissingDependencyError)


def run(config):
    # Environments first: a bad task name fails before anything is written.
    # eval_only plays on the evaluation environments' seeds, so its episodes
    # never repeat the start states of the episodes the agent trained on.
    config_rules.check_paths(config)
    evaluating = config.run.script == 'eval_only'
    cleanup = []
    try:
        envs = make_envs(
            config, config.env.amount, seed=env_seed(config, evaluating))
        cleanup += envs
        if not evaluating:
            spaces = {**envs[0].obs_space, **envs[0].act_space}
            check_replay_memory(config, spaces)
            check_resumed_replay(config, spaces)
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
            seed=cluster.host_seed(config.seed),
            keep_evicted=config.replay.keep_evicted, counter=step)
        # On several hosts the runtime samples this host's share of the
        # global batch; the agent trains on the hosts' shares together.
        embodied.run.train(
            agent, driver, eval_driver, replay, logger, checkpoint,
            config.update(batch_size=cluster.host_batch_size(config)))
    finally:
        for item in cleanup:
            item.close()


def check_replay_memory(config, spaces, available=None):
    """Prints the RAM the replay takes at capacity; a replay that cannot
    fit in the memory available now is a config error (better than the
    out-of-memory killer hours into the run)."""
    per_step = embodied.replay.bytes_per_step(spaces)
    size = config.replay.size
    needed = per_step * size
    available = available_memory() if available is None else available
    print(f'Replay at capacity: {size:,} steps x {per_step:,} bytes = '
          f'{needed / 1e9:.2f} GB of RAM ({available / 1e9:.1f} GB '
          'available).')
    if needed > available:
        raise embodied.ConfigError(
            f'replay.size {size} needs {needed / 1e9:.1f} GB of RAM at '
            f'capacity ({per_step:,} bytes per step), more than the '
            f'{available / 1e9:.1f} GB available: at most '
            f'{int(available // per_step):,} steps fit, fewer leave room for '
            'the agent')


def check_resumed_replay(config, spaces):
    """A run resumed from a checkpoint goes on with the replay it stored:
    its environments must give the same keys (the frames of env.render
    above all, which a proprio agent does not read). Read from the newest
    episode file's index, before anything is built or overwritten."""
    logdir = pathlib.Path(config.logdir)
    saved = embodied.Checkpoint(logdir / 'checkpoint').saved()
    if not saved:
        return  # A new run: the replay starts empty.
    step = int(saved[-1].name.split('-')[-1])
    stored = embodied.replay.stored_keys(logdir / 'replay', until=step)
    given = {key for key in spaces if embodied.replay.is_stored(key)}
    if stored is None or stored == given:
        return
    image = 'image'
    if image in stored - given and not config.env.render:
        problem = (f"{logdir} was trained with frames (its replay holds "
                   f"'{image}' observations) and this run renders none: "
                   'resume it with --env.render True')
    elif image in given - stored and config.env.render:
        problem = (f"{logdir} was trained without frames (its replay holds "
                   f"no '{image}' observations): resume it with "
                   '--env.render False')
    else:
        problem = (f"{logdir}'s replay holds {', '.join(sorted(stored))}; "
                   f"this run's environments give {', '.join(sorted(given))}"
                   f': resume it with the config in {logdir}/config.yaml')
    raise embodied.IncompatibleCheckpoint(
        problem + ', or start a new run in another --logdir')


def available_memory():
    """Bytes of memory available to a new allocation (Linux MemAvailable;
    physical memory elsewhere)."""
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')


def env_seed(config, evaluation):
    """Seed of this host's training or evaluation environments."""
    seed = cluster.host_seed(config.seed)
    return seed + EVAL_SEED_OFFSET if evaluation else seed


def make_envs(config, amount, seed):
    env = config.env
    return embodied.make_envs(
        config.task, amount, parallel=env.parallel, seed=seed,
        repeat=env.repeat, size=tuple(env.size), camera=env.camera,
        length=env.length, render=env.render,
        gym_kwargs=embodied.envs.parse_gym_kwargs(env.kwargs),
        obs_keys=env.obs_keys, atari=(
            dict(env.atari.items()) if config.task.startswith('atari_')
            else None))


def env_spaces(config, seed=None):
    """Observation and action spaces of the config's task, read from one
    environment (in its own process unless env.parallel says otherwise)."""
    [env] = make_envs(config, 1, seed=config.seed if seed is None else seed)
    try:
        return env.obs_space, env.act_space
    finally:
        env.close()


def make_agent(config, obs_space=None, act_space=None, step=None,
               announce=True):
    """The config's agent (TensorFlow set up first for an MRS agent), for
    the given spaces or, without them, the task's. `announce` prints the
    device, precision and compilation it will run with."""
    if obs_space is None or act_space is None:
        obs_space, act_space = env_spaces(config)
    if config.agent == 'random':
        return embodied.RandomAgent(act_space, seed=config.seed)
    from .agent import Agent
    from .tf_setup import setup_tensorflow, use_xla
    platform, precision = setup_tensorflow(config)
    if announce:
        print(f'TensorFlow on {platform}, {precision}, '
              f"{'XLA' if use_xla(config) else 'graph mode'}.")
    return Agent(obs_space, act_space, embodied.Counter() if step is None else step, config)


def make_logger(config, logdir, step):
    outputs = [
        embodied.TerminalOutput(config.run.log_filter),
        embodied.JSONLOutput(logdir),
        embodied.TensorBoardOutput(logdir),
    ]
    return embodied.Logger(step, outputs, multiplier=config.env.repeat)
