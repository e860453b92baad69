"""Any registered Gymnasium environment as a task: `gym_<EnvId>`.

Observations: a Box, Discrete or MultiBinary space, or a Dict of them.
Float and MultiBinary values become float32 vectors, Discrete values
one-hot vectors, uint8 Boxes of shape (H, W, 3) images resized to the
configured size. Actions: a bounded Box (the agent acts in [-1, 1]; its
action is clipped to that range and rescaled to the bounds here) or
Discrete (the agent sends an index from 0). Rendered frames
(`render_mode='rgb_array'`) are the 'image' key unless the observation has
an image of that name.

An id may name the module that registers it, e.g. `gym_my_pkg:MyEnv-v0`:
Gymnasium imports `my_pkg` in the environment's process first.
"""

import difflib
import os
import re

import numpy as np

from embodied.envs import (
    MissingDependencyError, SimulatorEnv, UnknownTaskError)
from embodied.space import Space


class UnsupportedSpaceError(ValueError):
    pass


def import_gymnasium():
    # Gymnasium's pygame renderers draw off screen; without this SDL looks
    # for a display and prints an error line on a headless machine.
    os.environ.setdefault('SDL_VIDEODRIVER', 'dummy')
    try:
        import gymnasium
    except ImportError as error:
        raise MissingDependencyError(
            f'gym_ tasks need gymnasium: pip install gymnasium ({error})'
        ) from error
    return gymnasium


class GymEnv(SimulatorEnv):
    """A Gymnasium environment with Director-style observation dicts.

    kwargs: keywords of gymnasium.make. obs_keys: regex (re.search) of the
    Dict observation keys to keep; the others are dropped before their
    spaces are checked.
    """

    def __init__(
            self, env_id, kwargs=None, obs_keys='.*', repeat=1,
            size=(64, 64), camera=-1, length=0, render=True, seed=None):
        gymnasium = import_gymnasium()
        if camera != -1:
            raise ValueError(
                "gym_ tasks render with the environment's own render(); "
                f'env.camera must be -1, got {camera}')
        self._task = f'gym_{env_id}'
        self._size = tuple(size)
        make_kwargs = dict(kwargs or {})
        if length:
            # The library's TimeLimit must not end episodes before `length`.
            make_kwargs['max_episode_steps'] = length * repeat
        env = self._make(gymnasium, env_id, make_kwargs)
        try:
            self._read_spaces(gymnasium, env, obs_keys)
            render = render and 'image' not in self._converters
            modes = env.metadata.get('render_modes') or []
            if render and 'rgb_array' not in modes:
                raise UnsupportedSpaceError(
                    f'{self._task} renders no rgb_array frames (its render '
                    f'modes: {modes}); use --env.render False')
        except Exception:
            env.close()
            raise
        if render:
            # Made again to render: not every env accepts render_mode.
            env.close()
            env = self._make(
                gymnasium, env_id, {**make_kwargs, 'render_mode': 'rgb_array'})
        self._env = env
        self._seed = seed
        raw_spaces = {
            key: space for key, (space, _) in self._converters.items()}
        super().__init__(
            self._action[0], raw_spaces, repeat, size, render, length)

    def close(self):
        self._env.close()

    def _read_spaces(self, gymnasium, env, obs_keys):
        """The converters of the kept observation keys and of actions."""
        space = env.observation_space
        self._single_key = None
        if not isinstance(space, gymnasium.spaces.Dict):
            self._single_key = (
                'image' if self._is_image(gymnasium, space) else 'vector')
        spaces = (
            {self._single_key: space} if self._single_key
            else dict(space.spaces))
        self._converters = {
            key: self._converter(gymnasium, key, space)
            for key, space in spaces.items() if re.search(obs_keys, key)}
        self._action = self._action_converter(gymnasium, env.action_space)

    def _make(self, gymnasium, env_id, make_kwargs):
        try:
            return gymnasium.make(env_id, **make_kwargs)
        except (gymnasium.error.NameNotFound,
                gymnasium.error.NamespaceNotFound,
                gymnasium.error.VersionNotFound) as error:
            close = difflib.get_close_matches(
                env_id, list(gymnasium.registry), n=3)
            raise UnknownTaskError(
                f"Unknown Gymnasium id '{env_id}' ({error}). Closest "
                f"registered ids: {', '.join(close) or 'none'}.") from None
        except ModuleNotFoundError as error:
            raise MissingDependencyError(
                f'task {self._task}: {error}') from None

    @staticmethod
    def _is_image(gymnasium, space):
        return (
            isinstance(space, gymnasium.spaces.Box)
            and space.dtype == np.uint8 and len(space.shape) == 3
            and space.shape[-1] == 3)

    def _converter(self, gymnasium, key, space):
        """(Space of the converted value, function raw -> converted)."""
        spaces = gymnasium.spaces
        if self._is_image(gymnasium, space):
            shape = self._size + (3,)
            return Space(np.uint8, shape), lambda x: resize(x, self._size)
        if isinstance(space, (spaces.Box, spaces.MultiBinary)):
            shape = (int(np.prod(space.shape)),)
            return Space(np.float32, shape), (
                lambda x: np.asarray(x, np.float32).reshape(shape))
        if isinstance(space, spaces.Discrete):
            eye = np.eye(int(space.n), dtype=np.float32)
            return Space(np.float32, (int(space.n),)), (
                lambda x: eye[int(x) - int(space.start)])
        raise UnsupportedSpaceError(
            f"{self._task}: observation '{key}' is {space}; supported are "
            'Box, Discrete and MultiBinary (or a Dict of them): leave it '
            'out with env.obs_keys')

    def _action_converter(self, gymnasium, space):
        """(the agent's action Space, function agent action -> env's)."""
        spaces = gymnasium.spaces
        if isinstance(space, spaces.Discrete):
            start = int(space.start)
            return (Space(np.int32, (), 0, int(space.n) - 1),
                    lambda a: int(a) + start)
        if isinstance(space, spaces.Box) and np.issubdtype(
                space.dtype, np.floating):
            low, high = space.low.astype(np.float64), space.high.astype(
                np.float64)
            if not (np.isfinite(low).all() and np.isfinite(high).all()):
                raise UnsupportedSpaceError(
                    f'{self._task}: the action space {space} is unbounded; '
                    'the agent needs finite bounds to scale [-1, 1] to')
            ones = np.ones(space.shape, np.float32)
            # Clipped first: a sample outside [-1, 1] would leave the bounds.
            return (Space(np.float32, None, -ones, ones),
                    lambda a: (low + (np.clip(a, -1, 1) + 1) / 2 * (
                        high - low)).astype(space.dtype))
        raise UnsupportedSpaceError(
            f'{self._task}: the action space is {space}; supported are '
            'Discrete and float Box')

    def _convert(self, obs):
        if self._single_key:
            obs = {self._single_key: obs}
        return {key: convert(obs[key])
                for key, (_, convert) in self._converters.items()}

    def _reset(self):
        # Seed only the first reset; later resets continue the library's RNG.
        obs, _ = self._env.reset(seed=self._seed)
        self._seed = None
        return self._convert(obs)

    def _step(self, action):
        obs, reward, terminated, truncated, _ = self._env.step(
            self._action[1](action))
        return (
            self._convert(obs), float(reward), terminated or truncated,
            terminated)

    def _render_image(self):
        return resize(self._env.render(), self._size)


def resize(image, size):
    """uint8 image [H, W, 3] at (height, width) `size` (bilinear)."""
    image = np.asarray(image, np.uint8)
    if image.shape[:2] == tuple(size):
        return np.ascontiguousarray(image)
    from PIL import Image
    resized = Image.fromarray(image).resize(
        (size[1], size[0]), Image.BILINEAR)
    return np.asarray(resized, np.uint8)
