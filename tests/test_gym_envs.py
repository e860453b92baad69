"""Gymnasium tasks (gym_<id>), Crafter and MiniGrid: spaces, conversions and
rewards against the libraries themselves. None of them renders with Mesa,
so they run in this process."""

import re

import gymnasium
import numpy as np
import pytest

from conftest import ROOT
from embodied.envs import UnknownTaskError, make_env, parse_gym_kwargs
from embodied.envs.gymnasium_env import UnsupportedSpaceError, resize
from embodied.space import Space

SEED = 3


def rollout(env, actions):
    """The first observation, then one per action."""
    observations = [env.step({'action': None, 'reset': True})]
    for action in actions:
        observations.append(env.step({'action': action, 'reset': False}))
    return observations


class Toy(gymnasium.Env):
    """A test environment whose spaces are its constructor's arguments;
    the observation is a sample of the space seeded by the step count."""
    metadata = {'render_modes': []}

    def __init__(self, observation_space, action_space):
        self.observation_space = observation_space
        self.action_space = action_space
        self.actions = []

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.actions = []
        return self._obs(), {}

    def step(self, action):
        self.actions.append(action)
        return self._obs(), float(len(self.actions)), False, False, {}

    def _obs(self):
        self.observation_space.seed(len(self.actions))
        return self.observation_space.sample()


gymnasium.register('TestToy-v0', entry_point=Toy)
spaces = gymnasium.spaces
VECTOR_BOX = spaces.Box(-1, 1, (2, 3), np.float32)
DISCRETE_ACTIONS = spaces.Discrete(3, start=-1)


def toy(observation_space, action_space=DISCRETE_ACTIONS, **kwargs):
    kwargs = {'render': False, **kwargs}
    return make_env(
        'gym_TestToy-v0', gym_kwargs=dict(
            observation_space=observation_space, action_space=action_space),
        **kwargs)


def test_classic_discrete_task_matches_gymnasium():
    env = make_env('gym_CartPole-v1', render=False, seed=SEED)
    assert env.act_space['action'] == Space(np.int32, (), 0, 1)
    assert env.obs_space['vector'].shape == (4,)
    actions = np.random.default_rng(0).integers(0, 2, 40)
    ours = rollout(env, actions)
    library = gymnasium.make('CartPole-v1')
    first, _ = library.reset(seed=SEED)
    np.testing.assert_allclose(ours[0]['vector'], first)
    for action, obs in zip(actions, ours[1:]):
        vector, reward, terminated, truncated, _ = library.step(int(action))
        np.testing.assert_allclose(obs['vector'], vector)
        assert obs['reward'] == reward
        assert obs['is_terminal'] == terminated
        if terminated or truncated:
            break
    assert any(obs['is_terminal'] for obs in ours)


def test_box_actions_are_scaled_from_unit_range_to_bounds():
    env = make_env('gym_Pendulum-v1', render=False, seed=SEED)
    assert env.act_space['action'] == Space(np.float32, (1,), -1, 1)
    actions = np.random.default_rng(0).uniform(-1, 1, (10, 1))
    ours = rollout(env, actions.astype(np.float32))
    library = gymnasium.make('Pendulum-v1')
    library.reset(seed=SEED)
    for action, obs in zip(actions, ours[1:]):  # Pendulum's bounds: +-2.
        vector, reward, *_ = library.step((2 * action).astype(np.float32))
        np.testing.assert_allclose(obs['vector'], vector, rtol=1e-6)
        np.testing.assert_allclose(obs['reward'], reward, rtol=1e-6)


def test_box_actions_outside_the_unit_range_are_clipped_to_the_bounds():
    env = toy(VECTOR_BOX, spaces.Box(-2, 4, (2,), np.float32))
    rollout(env, np.array([[3, -1.5], [0, 1]], np.float32))
    np.testing.assert_allclose(
        env._env.unwrapped.actions, [[4, -2], [1, 4]])


def test_dict_observations_become_vectors_one_hots_and_images():
    observation_space = spaces.Dict({
        'matrix': VECTOR_BOX, 'switch': spaces.Discrete(4, start=1),
        'bits': spaces.MultiBinary(5),
        'camera': spaces.Box(0, 255, (20, 30, 3), np.uint8),
        'text': spaces.Text(8)})
    env = toy(observation_space, obs_keys='^(?!text$)', size=(16, 16))
    assert {k: v.shape for k, v in env.obs_space.items()
            if not k.startswith('is_') and k != 'reward'} == {
        'matrix': (6,), 'switch': (4,), 'bits': (5,), 'camera': (16, 16, 3)}
    obs = env.step({'action': 0, 'reset': True})
    observation_space.seed(0)  # Toy's first observation.
    raw = observation_space.sample()
    np.testing.assert_allclose(obs['matrix'], raw['matrix'].reshape(-1))
    assert obs['switch'].argmax() == raw['switch'] - 1
    assert obs['switch'].sum() == 1
    np.testing.assert_array_equal(obs['camera'], resize(raw['camera'], (16, 16)))
    assert all(env.obs_space[k].contains(v) for k, v in obs.items())


def test_single_observations_are_named_vector_or_image():
    vector = toy(spaces.Box(-1, 1, (3,), np.float32))
    assert 'vector' in vector.obs_space
    # An image observation is the image: no render() is needed for it.
    image = toy(spaces.Box(0, 255, (64, 64, 3), np.uint8), render=True)
    assert image.obs_space['image'] == Space(np.uint8, (64, 64, 3), 0, 255)


def test_discrete_actions_are_indices_from_zero_with_the_start_added():
    env = toy(VECTOR_BOX)
    assert env.act_space['action'] == Space(np.int32, (), 0, 2)
    rollout(env, [0, 2, 1])
    assert env._env.unwrapped.actions == [-1, 1, 0]
    with pytest.raises(ValueError, match='integer action in'):
        env.step({'action': 3, 'reset': False})


@pytest.mark.parametrize('make, message', [
    (lambda: toy(spaces.Dict({'text': spaces.Text(4)})),
     "observation 'text' is Text.*env.obs_keys"),
    (lambda: toy(VECTOR_BOX, spaces.MultiDiscrete([2, 3])),
     'action space is MultiDiscrete'),
    (lambda: toy(VECTOR_BOX, spaces.Box(-np.inf, np.inf, (2,))),
     'unbounded'),
    (lambda: make_env('gym_TestToy-v0', gym_kwargs=dict(
        observation_space=VECTOR_BOX, action_space=DISCRETE_ACTIONS)),
     r'renders no rgb_array frames.*--env.render False'),
    (lambda: make_env('gym_MiniGrid-DoorKey-8x8-v0', render=False),
     'Unknown Gymnasium id'),
    (lambda: make_env('gym_minigrid:MiniGrid-DoorKey-8x8-v0', render=False),
     "observation 'mission'"),
    (lambda: make_env('dmc_walker_walk', obs_keys='x'), 'apply to gym_'),
])
def test_unsupported_inputs_stop_with_one_line_naming_them(make, message):
    with pytest.raises((UnsupportedSpaceError, UnknownTaskError, ValueError)
                       ) as info:
        make()
    assert re.search(message, str(info.value)), str(info.value)
    assert '\n' not in str(info.value)


def test_gym_kwargs_parse_as_a_yaml_mapping():
    assert parse_gym_kwargs('') == {}
    assert parse_gym_kwargs('{max_episode_steps: 20, x: [1, 2]}') == {
        'max_episode_steps': 20, 'x': [1, 2]}
    for bad in ('[1, 2]', '{a: 1'):
        with pytest.raises(ValueError, match='env.kwargs'):
            parse_gym_kwargs(bad)
    env = make_env('gym_CartPole-v1', render=False,
                   gym_kwargs=parse_gym_kwargs('{max_episode_steps: 3}'))
    observations = rollout(env, [0, 0, 0])
    assert observations[-1]['is_last'] and not observations[-1]['is_terminal']


def environments_example():
    text = (ROOT / 'docs' / 'ENVIRONMENTS.md').read_text()
    return re.search(r'```python\n(# my_env\.py.*?)```', text, re.S).group(1)


def test_documented_custom_environment_example(tmp_path, monkeypatch):
    (tmp_path / 'my_env.py').write_text(environments_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    env = make_env('gym_my_env:Corridor-v0', render=False, seed=0)
    assert env.obs_space['position'].shape == (1,)
    assert env.obs_space['at_door'].shape == (2,)
    assert env.act_space['action'] == Space(np.int32, (), 0, 1)
    observations = rollout(env, [1] * 10)
    assert observations[9]['at_door'].tolist() == [0, 1]
    assert observations[-1]['reward'] == 1.0
    assert observations[-1]['is_terminal']
    assert sum(obs['reward'] for obs in observations) == pytest.approx(0.91)


def test_crafter_matches_the_library():
    """Over the first 100 steps: Crafter keeps creatures in sets ordered by
    memory address, so two of its own envs of one seed drift apart later
    (measured: from about step 150)."""
    import crafter
    actions = np.random.default_rng(0).integers(0, 17, 100)
    env = make_env('crafter_reward', seed=SEED)
    assert env.act_space['action'] == Space(np.int32, (), 0, 16)
    ours = rollout(env, actions)
    library = crafter.Env(seed=SEED)
    np.testing.assert_array_equal(ours[0]['image'], library.reset())
    total = 0.0
    for action, obs in zip(actions, ours[1:]):
        image, reward, done, info = library.step(int(action))
        np.testing.assert_array_equal(obs['image'], image)
        assert obs['reward'] == np.float32(reward)
        for name, count in info['achievements'].items():
            assert obs[f'log_achievement_{name}'] == count
        total += reward
        if done:
            break
    assert total != 0  # Crafter's health and achievement rewards happened.
    hidden = rollout(make_env('crafter_noreward', seed=SEED), actions[:50])
    assert all(obs['reward'] == 0 for obs in hidden)


def test_minigrid_matches_the_library():
    import minigrid  # noqa: F401 (registers the ids)
    env = make_env('minigrid_DoorKey-5x5-v0', seed=SEED)
    assert set(env.obs_space) == {
        'reward', 'is_first', 'is_last', 'is_terminal', 'image', 'direction'}
    assert env.act_space['action'] == Space(np.int32, (), 0, 6)
    library = gymnasium.make('MiniGrid-DoorKey-5x5-v0', render_mode='rgb_array')
    raw, _ = library.reset(seed=SEED)
    actions = np.random.default_rng(1).integers(0, 7, 400)
    ours = rollout(env, actions)
    np.testing.assert_array_equal(
        ours[0]['image'], resize(library.render(), (64, 64)))
    rewards = []
    for action, obs in zip(actions, ours[1:]):
        raw, reward, terminated, truncated, _ = library.step(int(action))
        assert obs['direction'].argmax() == raw['direction']
        assert obs['reward'] == np.float32(reward)
        assert obs['is_terminal'] == terminated
        rewards.append(reward)
        if terminated or truncated:
            break
    assert ours[len(rewards)]['is_last']
