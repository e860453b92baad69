import pathlib

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


@pytest.fixture(scope='session')
def vision_agent(vision_data):
    obs_space, act_space, _, config = vision_data
    return build_agent(obs_space, act_space, config)


@pytest.fixture(scope='session')
def proprio_xla_agent(proprio_data):
    obs_space, act_space, _, config = proprio_data
    return build_agent(obs_space, act_space, config.update({'tf.jit': 'xla'}))
