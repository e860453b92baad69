import contextlib
import pathlib

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def time_major(nest, time, batch):
    """Tensors [time * batch, ...] of a dict as [time, batch, ...]."""
    import tensorflow as tf
    return {k: tf.reshape(v[:time * batch], [time, batch] + v.shape[1:])
            for k, v in nest.items()}


def collect_replay(directory, task, config_argv, episodes=4):
    """Random-policy episodes of a real task (environments in spawned
    processes) in a Replay, with the spaces and the config to build an
    agent for them."""
    import embodied
    from mrs_tf import configs, launch
    config = configs.parse(config_argv + ['--task', task])
    envs = launch.make_envs(config, 2, seed=0)
    try:
        driver = embodied.Driver(envs)
        replay = embodied.Replay(
            directory, config.replay.size, config.replay.chunk, seed=0)
        driver.on_step(replay.add)
        agent = embodied.RandomAgent(driver.act_space)
        driver.collect_episodes(agent.policy, episodes)
        return envs[0].obs_space, envs[0].act_space, replay, config
    finally:
        for env in envs:
            env.close()


def build_agent(obs_space, act_space, config):
    from mrs_tf import launch
    return launch.make_agent(config, obs_space, act_space, announce=False)


@pytest.fixture(scope='session')
def vision_data(tmp_path_factory):
    return collect_replay(
        tmp_path_factory.mktemp('vision'), 'dmc_cartpole_swingup',
        ['--configs', 'dmc_vision', 'debug'])


@pytest.fixture(scope='session')
def proprio_data(tmp_path_factory):
    return collect_replay(
        tmp_path_factory.mktemp('proprio'), 'dmc_cartpole_swingup',
        ['--configs', 'dmc_proprio', 'debug', '--env.render', 'False'])


def values(agent):
    return [v.numpy() for v in agent.variables]


@contextlib.contextmanager
def restored(agent):
    """A block that may train, load or reassign a shared agent: every
    variable gets its value from before the block back afterwards."""
    before = values(agent)
    try:
        yield agent
    finally:
        variables = agent.variables
        assert len(variables) == len(before), 'the block created variables'
        for variable, value in zip(variables, before):
            variable.assign(value)


FIRST_STEPS = {}
FIRST_TRACES = {}


def first_step(agent):
    """The batch a shared agent took its first train step on, and that
    step's metrics."""
    return FIRST_STEPS[id(agent)]


def first_traces(agent):
    """How often a shared agent's train function traced in its first
    step (later tests may prune, which retraces)."""
    return FIRST_TRACES[id(agent)]


def shared_agent(data, batch=None, **overrides):
    """A compiled agent for the session's tests: one train step (on `batch`
    or a sampled one) creates every variable and traces the train
    function. Tests change it only inside `restored`; the teardown asserts
    that every variable still holds its value from after that step."""
    obs_space, act_space, replay, config = data
    agent = build_agent(obs_space, act_space, config.update(overrides))
    batch = replay.sample(config.batch_size) if batch is None else batch
    FIRST_STEPS[id(agent)] = batch, agent.train(batch)[1]
    FIRST_TRACES[id(agent)] = agent.traces()['train']
    snapshot = values(agent)
    yield agent
    changed = [
        v.name for v, value in zip(agent.variables, snapshot)
        if not np.array_equal(v.numpy(), value)]
    assert len(agent.variables) == len(snapshot) and not changed, (
        f'a test changed the shared agent outside restored(): {changed[:5]}')


@pytest.fixture(scope='session')
def vision_agent(vision_data):
    yield from shared_agent(vision_data)


# The proprio agents prune (mrs_adaptive; debug's resolutions, a window
# longer than any test trains) and imagine in a tf.scan, which the
# trace-count test needs.
PROPRIO_AGENT = {'mrs.adaptive': True, 'imag_unroll': False}


@pytest.fixture(scope='session')
def proprio_agent(proprio_data):
    yield from shared_agent(proprio_data, **PROPRIO_AGENT)


@pytest.fixture(scope='session')
def second_proprio_agent(proprio_data, proprio_agent):
    """Another agent of proprio_agent's config and seed, its first train
    step on the same batch: for the same-seed and exact-restore tests."""
    batch, _ = first_step(proprio_agent)
    yield from shared_agent(proprio_data, batch, **PROPRIO_AGENT)


@pytest.fixture(scope='session')
def proprio_xla_agent(proprio_data):
    yield from shared_agent(proprio_data, **{'tf.jit': 'xla'})


# Debug runs of presets and suites (name: train.py flags), all trained in
# one process by the debug_runs fixture.
DEBUG_RUN = [
    '--run.steps', '160', '--run.eval_every', '0', '--run.log_every', '40',
    '--run.train_fill', '60']
DEBUG_RUNS = {
    **{preset: ['--configs', 'dmc_proprio', preset, 'debug', '--task',
                'dmc_cartpole_swingup']
       for preset in ('flat', 'random_choice', 'mrs_adaptive')},
    'crafter': ['--configs', 'crafter', 'debug'],
    'minigrid': ['--configs', 'minigrid', 'debug'],
    'atari': ['--configs', 'atari', 'debug', '--task', 'atari_pong'],
    'cartpole': ['--configs', 'dmc_proprio', 'debug', '--task',
                 'gym_CartPole-v1', '--env.render', 'False',
                 '--replay.chunk', '12'],
}
# Each run's output and any exception go to files in its logdir, so one
# failing run fails only its own tests.
RUN_ALL = '''
import contextlib, json, sys, traceback
import train
for logdir, argv in json.loads(sys.argv[1]).items():
    with open(logdir + '.out', 'w') as out, contextlib.redirect_stdout(out):
        try:
            train.main(argv + ['--logdir', logdir])
        except BaseException:
            out.write(traceback.format_exc())
            open(logdir + '.failed', 'w').close()
'''


@pytest.fixture(scope='session')
def debug_runs(tmp_path_factory):
    """Logdirs of DEBUG_RUNS, trained one after another in one train.py
    process of their own (one TensorFlow import for all); a run's test
    reads it with debug_run(name)."""
    import json
    import subprocess
    import sys
    root = tmp_path_factory.mktemp('debug_runs')
    runs = {str(root / name): argv + DEBUG_RUN
            for name, argv in DEBUG_RUNS.items()}
    result = subprocess.run(
        [sys.executable, '-c', RUN_ALL, json.dumps(runs)], cwd=ROOT,
        capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def debug_run(root, name):
    """The logdir of one of the debug runs; fails the test with the run's
    output if it raised."""
    logdir = root / name
    output = pathlib.Path(f'{logdir}.out').read_text()
    assert not pathlib.Path(f'{logdir}.failed').exists(), output[-3000:]
    return logdir
