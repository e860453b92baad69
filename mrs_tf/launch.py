"""A run's parts from its config: environments, the agent, the logger, and
the run itself (train or eval_only). TensorFlow is imported only when an
agent is built: environment processes are spawned from the main script,
which imports this module, and must never load TensorFlow."""

import os
import pathlib
import signal
import sys

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
            check_replay_memory(
                config, {**envs[0].obs_space, **envs[0].act_space})
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
        obs_keys=env.obs_keys)


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
        embodied.TerminalOutput(
            config.run.log_filter, config.run.steps * config.env.repeat),
        embodied.JSONLOutput(logdir),
        embodied.TensorBoardOutput(logdir),
    ]
    return embodied.Logger(step, outputs, multiplier=config.env.repeat)


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt for SIGINT wherever no
    StopSignals handles it (before the training loop, or a second one)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def command(main, argv=None):
    """Runs a program's main(argv) and exits with its return code (an int;
    anything else counts as success); a user error (config, task,
    checkpoint) ends it with one `error:` line and exit code 2, a diverged
    run with one such line and exit code 1. Ctrl-C or SIGTERM that no run
    loop handles ends it with one line and exit code 130 or 143 (128 +
    the signal's number, as a shell reports a process the signal ended);
    the environment processes are gone by then."""
    argv = sys.argv[1:] if argv is None else argv
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = main(argv)
    except USER_ERRORS as e:
        print(f'error: {e}', file=sys.stderr)
        code = 2
    except embodied.run.NonFiniteError as e:
        print(f'error: {e}', file=sys.stderr)
        code = 1
    except (KeyboardInterrupt, Terminated) as e:
        signum = (signal.SIGINT if isinstance(e, KeyboardInterrupt)
                  else signal.SIGTERM)
        print(f'{signum.name}: stopped without saving; the same command '
              'resumes from the last checkpoint.', file=sys.stderr)
        code = 128 + signum
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)
