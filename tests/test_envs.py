"""Tests of embodied.envs.

Simulators run in spawned processes (run_in_subprocess): MuJoCo's software
renderer crashes in a process that imported TensorFlow, as pytest may have.
The functions they run are top-level so that the child can import them.
"""

import pathlib
import subprocess
import sys

import numpy as np
import pytest

from embodied.envs import (
    MissingDependencyError, SimulatorEnv, UnknownTaskError, make_env)
from embodied.envs.check import run_in_subprocess
from embodied.space import Space

ROOT = pathlib.Path(__file__).resolve().parent.parent
REPEAT = 2
SHORT_LENGTH = 5
SEED = 7

# Expected library env per task: (domain, task) for DMC, gymnasium id else.
DMC_TASKS = {
    'dmc_walker_walk': ('walker', 'walk'),
    'dmc_walker_run': ('walker', 'run'),
    'dmc_quadruped_walk': ('quadruped', 'walk'),
    'dmc_quadruped_run': ('quadruped', 'run'),
    'dmc_cheetah_run': ('cheetah', 'run'),
    'dmc_hopper_hop': ('hopper', 'hop'),
    'dmc_cartpole_swingup': ('cartpole', 'swingup'),
    'dmc_pendulum_swingup': ('pendulum', 'swingup'),
}
GYMR_TASKS = {
    'gymr_fetch_push': 'FetchPush-v4',
    'gymr_fetch_pick_and_place': 'FetchPickAndPlace-v4',
    'antmaze_medium': 'AntMaze_Medium-v5',
    'antmaze_large': 'AntMaze_Large-v5',
}
# Library episode lengths in env steps.
DEFAULT_LENGTHS = {
    **{task: 1000 for task in DMC_TASKS},
    'gymr_fetch_push': 50,
    'gymr_fetch_pick_and_place': 50,
    'antmaze_medium': 1000,
    'antmaze_large': 1000,
}
ALL_TASKS = list(DMC_TASKS) + list(GYMR_TASKS)


# Functions that run inside the spawned process.

def inspect_task(task):
    """Everything the per-task tests assert on, from one process."""
    actions = random_actions(task)
    return dict(
        short=short_episode(task),
        camera0=first_image(task, camera=0),
        default_length=default_episode_length(task),
        wrapper=wrapper_rollout(task, actions),
        library=library_rollout(task, actions))


def short_episode(task):
    """Reset, random steps until is_last, then one more step."""
    env = make_env(
        task, repeat=REPEAT, size=(24, 32), length=SHORT_LENGTH, seed=SEED)
    rng = np.random.default_rng(0)
    space = env.act_space['action']
    try:
        observations = [env.step({'action': space.sample(rng), 'reset': True})]
        while not observations[-1]['is_last'] and len(observations) < 50:
            observations.append(
                env.step({'action': space.sample(rng), 'reset': False}))
        observations.append(
            env.step({'action': space.sample(rng), 'reset': False}))
    finally:
        env.close()
    return dict(
        obs_space=env.obs_space, act_space=env.act_space,
        observations=observations)


def first_image(task, camera):
    env = make_env(task, size=(16, 16), camera=camera)
    try:
        return env.step({'action': None, 'reset': True})['image']
    finally:
        env.close()


def default_episode_length(task):
    env = make_env(task, render=False, seed=SEED)
    action = np.zeros(env.act_space['action'].shape, np.float32)
    env.step({'action': action, 'reset': True})
    steps = 1
    while not env.step({'action': action, 'reset': False})['is_last']:
        steps += 1
    env.close()
    return steps


def random_actions(task, episodes=2, steps=4):
    env = make_env(task, render=False)
    space = env.act_space['action']
    env.close()
    rng = np.random.default_rng(SEED)
    shape = (episodes, steps) + space.shape
    return rng.uniform(space.low, space.high, shape).astype(np.float32)


def wrapper_rollout(task, actions):
    """Per episode: the first observation, then (reward, obs) per step."""
    env = make_env(
        task, repeat=REPEAT, render=False, length=actions.shape[1], seed=SEED)
    episodes = []
    for episode_actions in actions:
        first = env.step({'action': None, 'reset': True})
        steps = [env.step({'action': a, 'reset': False})
                 for a in episode_actions]
        episodes.append(dict(
            first=vectors(first),
            rewards=[step['reward'] for step in steps],
            obs=[vectors(step) for step in steps],
            terminal=[step['is_terminal'] for step in steps],
            last=[step['is_last'] for step in steps]))
    env.close()
    return episodes


def vectors(obs):
    flags = ('reward', 'is_first', 'is_last', 'is_terminal', 'image')
    return {key: value for key, value in obs.items() if key not in flags}


def library_rollout(task, actions):
    """wrapper_rollout's episodes computed with the library directly."""
    if task in DMC_TASKS:
        step, reset = dmc_library_env(task)
    else:
        step, reset = gymr_library_env(task)
    episodes = []
    for index, episode_actions in enumerate(actions):
        first = reset(SEED if index == 0 else None)
        rewards, observations = [], []
        for action in episode_actions:
            reward = 0.0
            for _ in range(REPEAT):
                obs, step_reward = step(action)
                reward += step_reward
            rewards.append(np.float32(reward))
            observations.append(obs)
        episodes.append(dict(first=first, rewards=rewards, obs=observations))
    return episodes


def dmc_library_env(task):
    from embodied.envs import dmc
    domain, name = DMC_TASKS[task]
    env = dmc.import_suite().load(domain, name, task_kwargs={'random': SEED})

    def step(action):
        time_step = env.step(action)
        return dict(time_step.observation), time_step.reward

    return step, lambda seed: dict(env.reset().observation)


def gymr_library_env(task):
    from embodied.envs import gymr
    env = gymr.import_gymnasium().make(GYMR_TASKS[task])

    def step(action):
        obs, reward, _, _, _ = env.step(action)
        return obs, float(reward)

    return step, lambda seed: env.reset(seed=seed)[0]


def dmc_naming_facts():
    from embodied.envs import dmc
    suite = dmc.import_suite()
    unresolved = [
        (domain, task) for domain, task in suite.ALL_TASKS
        if dmc.resolve(f'{domain}_{task}') != (domain, task)]
    aliases = {
        name: sorted(make_env(name, render=False).obs_space)
        for name in ('dmc_cup_catch', 'dmc_ball_in_cup_catch',
                     'dmc_point_mass_easy')}
    try:
        make_env('dmc_walker_wlak')
        typo_message = None
    except UnknownTaskError as error:
        typo_message = str(error)
    return dict(
        unresolved=unresolved, aliases=aliases, typo_message=typo_message,
        cup=dmc.resolve('cup_catch'))


# Per-task tests.

_inspected = {}


def inspected(task):
    """inspect_task(task), computed once per test session."""
    if task not in _inspected:
        try:
            _inspected[task] = run_in_subprocess(inspect_task, task)
        except Exception as error:
            _inspected[task] = error
    if isinstance(_inspected[task], Exception):
        raise _inspected[task]
    return _inspected[task]


@pytest.mark.parametrize('task', ALL_TASKS)
def test_observations_match_spaces(task):
    short = inspected(task)['short']
    obs_space, act_space = short['obs_space'], short['act_space']
    assert set(act_space) == {'action', 'reset'}
    assert act_space['action'].dtype == np.float32
    assert act_space['reset'].dtype == bool
    assert obs_space['image'] == Space(np.uint8, (24, 32, 3))
    assert obs_space['reward'] == Space(np.float32)
    for key in ('is_first', 'is_last', 'is_terminal'):
        assert obs_space[key] == Space(bool)
    for key in vectors(obs_space):
        assert obs_space[key].dtype == np.float32, key
        assert len(obs_space[key].shape) == 1, key
    for obs in short['observations']:
        assert set(obs) == set(obs_space)
        for key, value in obs.items():
            assert obs_space[key].contains(value), (key, value)
    assert short['observations'][-1]['image'].std() > 1, 'blank image'
    assert inspected(task)['camera0'].shape == (16, 16, 3)


@pytest.mark.parametrize('task', ALL_TASKS)
def test_episode_flags_and_length(task):
    observations = inspected(task)['short']['observations']
    flags = [(obs['is_first'], obs['is_last'], obs['is_terminal'])
             for obs in observations]
    middle = [(False, False, False)] * (SHORT_LENGTH - 1)
    # Reset, SHORT_LENGTH steps ending on the time limit, automatic reset.
    assert flags == [(True, False, False), *middle, (False, True, False),
                     (True, False, False)]
    assert observations[0]['reward'] == 0 and observations[-1]['reward'] == 0


@pytest.mark.parametrize('task', ALL_TASKS)
def test_default_episode_length(task):
    assert inspected(task)['default_length'] == DEFAULT_LENGTHS[task]


@pytest.mark.parametrize('task', ALL_TASKS)
def test_rewards_and_observations_match_library(task):
    wrapper, library = inspected(task)['wrapper'], inspected(task)['library']
    assert len(wrapper) == len(library) == 2
    for ours, theirs in zip(wrapper, library):
        np.testing.assert_allclose(ours['rewards'], theirs['rewards'], 1e-6)
        assert not any(ours['terminal']) and ours['last'][-1]
        for our_obs, their_obs in zip(
                [ours['first'], *ours['obs']],
                [theirs['first'], *theirs['obs']]):
            assert set(our_obs) == set(their_obs)
            for key, value in our_obs.items():
                expected = np.asarray(their_obs[key], np.float32)
                np.testing.assert_array_equal(
                    value, expected.reshape(value.shape), err_msg=key)
    # The second episode continues the library's RNG instead of reseeding.
    assert not all(
        np.array_equal(wrapper[0]['first'][key], wrapper[1]['first'][key])
        for key in wrapper[0]['first'])


# Task names and dependencies.

def test_dmc_task_names():
    facts = run_in_subprocess(dmc_naming_facts)
    assert facts['unresolved'] == []
    assert facts['cup'] == ('ball_in_cup', 'catch')
    assert facts['aliases']['dmc_cup_catch'] == (
        facts['aliases']['dmc_ball_in_cup_catch'])
    assert 'position' in facts['aliases']['dmc_point_mass_easy']
    assert 'dmc_walker_walk' in facts['typo_message']


def test_unknown_task_suggests_close_match():
    with pytest.raises(UnknownTaskError) as info:
        make_env('antmaze_meduim')
    message = str(info.value)
    assert 'antmaze_medium' in message and 'dmc_<domain>_<task>' in message
    assert '\n' not in message
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize('task, module, package', [
    ('dmc_walker_walk', 'dm_control', 'dm-control'),
    ('gymr_fetch_push', 'gymnasium_robotics', 'gymnasium-robotics'),
])
def test_missing_dependency(monkeypatch, task, module, package):
    monkeypatch.setitem(sys.modules, module, None)  # Makes imports fail.
    monkeypatch.setenv('MUJOCO_GL', 'egl')
    with pytest.raises(MissingDependencyError) as info:
        make_env(task)
    assert f'pip install {package}' in str(info.value)
    assert isinstance(info.value, ImportError)


def test_import_is_cheap():
    heavy = ('tensorflow', 'dm_control', 'mujoco', 'gymnasium')
    code = (
        'import sys, embodied.envs, embodied.envs.dmc, embodied.envs.gymr; '
        f'print([m for m in {heavy!r} if m in sys.modules])')
    result = subprocess.run(
        [sys.executable, '-c', code], cwd=ROOT, capture_output=True,
        text=True, check=True)
    assert result.stdout.strip() == '[]'


def test_check_command():
    def check(*args):
        return subprocess.run(
            [sys.executable, '-m', 'embodied.envs.check', *args], cwd=ROOT,
            capture_output=True, text=True, timeout=120)

    good = check('dmc_cartpole_swingup', '--steps', '20')
    assert good.returncode == 0, good.stdout + good.stderr
    assert 'steps/s' in good.stdout
    bad = check('nonexistent_task')
    assert bad.returncode != 0
    assert 'FAILED nonexistent_task: UnknownTaskError' in bad.stdout


# Episode logic of SimulatorEnv, with a scripted simulator.

class ScriptedEnv(SimulatorEnv):
    """Reward 1 per simulator step; the simulator terminates or truncates
    after the given number of its own steps."""

    def __init__(self, terminate_at=None, truncate_at=None, **kwargs):
        self.terminate_at = terminate_at
        self.truncate_at = truncate_at
        self.simulator_steps = 0
        spaces = {
            'scalar': Space(np.float32), 'vector': Space(np.float32, (3,)),
            'empty': Space(np.float32, (0,))}
        kwargs = {'repeat': 1, 'size': (4, 6), 'render': True, 'length': 0,
                  **kwargs}
        super().__init__(
            Space(np.float32, None, -np.ones(2), np.ones(2)), spaces,
            **kwargs)

    def _reset(self):
        self.simulator_steps = 0
        return self._raw()

    def _step(self, action):
        self.simulator_steps += 1
        terminated = self.simulator_steps == self.terminate_at
        truncated = self.simulator_steps == self.truncate_at
        return self._raw(), 1.0, terminated or truncated, terminated

    def _render_image(self):
        return np.zeros(self._size + (3,), np.uint8)

    def _raw(self):
        return {'scalar': self.simulator_steps, 'vector': np.zeros(3),
                'empty': np.zeros(0)}


def act(env, reset=False, action=(0.5, -0.5)):
    return env.step({'action': np.array(action), 'reset': reset})


def flags(obs):
    return obs['is_first'], obs['is_last'], obs['is_terminal']


def test_simulator_env_spaces():
    env = ScriptedEnv()
    assert set(env.obs_space) == {
        'reward', 'is_first', 'is_last', 'is_terminal', 'image', 'scalar',
        'vector'}
    assert env.obs_space['scalar'].shape == (1,)
    assert env.obs_space['image'].shape == (4, 6, 3)
    assert 'image' not in ScriptedEnv(render=False).obs_space
    obs = act(env, reset=True)
    assert all(env.obs_space[key].contains(obs[key]) for key in obs)


def test_repeat_sums_rewards_and_stops_at_termination():
    env = ScriptedEnv(terminate_at=4, repeat=3)
    assert flags(act(env, reset=True)) == (True, False, False)
    obs = act(env)
    assert obs['reward'] == 3 and flags(obs) == (False, False, False)
    obs = act(env)
    assert obs['reward'] == 1 and flags(obs) == (False, True, True)
    obs = act(env)
    assert obs['reward'] == 0 and flags(obs) == (True, False, False)


def test_truncation_and_length_are_not_terminal():
    env = ScriptedEnv(truncate_at=2)
    act(env, reset=True)
    assert flags(act(env)) == (False, False, False)
    assert flags(act(env)) == (False, True, False)
    env = ScriptedEnv(length=2, repeat=2)
    act(env, reset=True)
    act(env)
    obs = act(env)
    assert flags(obs) == (False, True, False) and obs['scalar'][0] == 4
    assert flags(act(env)) == (True, False, False)


def test_reset_request_starts_new_episode():
    env = ScriptedEnv()
    act(env, reset=True)
    act(env)
    obs = act(env, reset=True)
    assert flags(obs) == (True, False, False) and obs['scalar'][0] == 0


@pytest.mark.parametrize('action, message', [
    ((np.nan, 0.0), 'finite'),
    ((0.0, np.inf), 'finite'),
    ((0.0, 0.0, 0.0), 'shape'),
])
def test_invalid_actions_raise(action, message):
    env = ScriptedEnv()
    act(env, reset=True)
    with pytest.raises(ValueError, match=message):
        act(env, action=action)
