"""Environments built by task name, with Director-style observation dicts.

Simulator libraries are imported only when an environment is built, so
importing this package stays cheap. Build environments in a process that has
not imported TensorFlow: MuJoCo's software renderer crashes next to it, and
dm_control aborts at exit even without rendering. MUJOCO_GL defaults to egl;
it only takes effect if nothing imported mujoco before.
"""

import difflib

import numpy as np

from embodied.env import Env
from embodied.space import Space

# Task name -> (gymnasium id, body that an overhead camera follows, or None to
# render with the library's own camera).
GYMR_TASKS = {
    'gymr_fetch_push': ('FetchPush-v4', None),
    'gymr_fetch_pick_and_place': ('FetchPickAndPlace-v4', None),
    'antmaze_medium': ('AntMaze_Medium-v5', 'torso'),
    'antmaze_large': ('AntMaze_Large-v5', 'torso'),
}

TASKS = {
    'dmc_<domain>_<task>': (
        'any DeepMind Control suite task, e.g. dmc_walker_walk; '
        'domain cup is short for ball_in_cup'),
    **{name: f'Gymnasium-Robotics {env_id}, sparse reward'
       for name, (env_id, _) in GYMR_TASKS.items()},
}


class UnknownTaskError(ValueError):
    pass


class MissingDependencyError(ImportError):
    pass


def unknown_task_error(task, candidates):
    matches = difflib.get_close_matches(task, candidates, n=3)
    return UnknownTaskError(
        f"Unknown task '{task}'. Available: {', '.join(TASKS)}. "
        f"Closest matches: {', '.join(matches) or 'none'}.")


def make_env(
        task, repeat=1, size=(64, 64), camera=-1, length=0, render=True,
        seed=None):
    """Builds one environment for a task name (see TASKS).

    repeat: action repeat. size: image (height, width). camera: -1 for the
    task's default view. length: episode length in agent steps, 0 for the
    library's. render: include the 'image' key. seed: int or None.
    """
    kwargs = dict(
        repeat=repeat, size=tuple(size), camera=camera, length=length,
        render=render, seed=seed)
    if task.startswith('dmc_'):
        from embodied.envs import dmc
        return dmc.DMC(task[len('dmc_'):], **kwargs)
    if task in GYMR_TASKS:
        from embodied.envs import gymr
        env_id, follow_body = GYMR_TASKS[task]
        return gymr.GymRobotics(env_id, follow_body=follow_body, **kwargs)
    raise unknown_task_error(task, list(GYMR_TASKS))


class SimulatorEnv(Env):
    """Director-style episode logic around one simulator.

    Subclasses implement _reset() -> raw observation dict,
    _step(action) -> (raw observation dict, reward, is_last, is_terminal) for
    one library step, and _render_image() -> uint8 image. This class adds
    action checks, action repeat, the episode length limit, automatic resets
    and the conversion of observations to float32 vectors.
    """

    def __init__(
            self, action_low, action_high, vector_shapes, repeat, size, render,
            length):
        if int(repeat) < 1 or int(length) < 0:
            raise ValueError(
                f'Need repeat >= 1 and length >= 0, got {repeat}, {length}.')
        self._repeat = int(repeat)
        self._size = tuple(size)
        self._render = render
        self._length = int(length)
        self._vector_shapes = {
            key: (1,) if shape == () else tuple(shape)
            for key, shape in vector_shapes.items() if np.prod(shape) > 0}
        self._obs_space = self._build_obs_space()
        self._act_space = {
            'action': Space(np.float32, None, action_low, action_high),
            'reset': Space(bool),
        }
        self._done = True
        self._agent_steps = 0

    @property
    def obs_space(self):
        return self._obs_space

    @property
    def act_space(self):
        return self._act_space

    def step(self, action):
        if action['reset'] or self._done:
            self._done = False
            self._agent_steps = 0
            return self._observe(self._reset(), 0.0, True, False, False)
        action = self._checked_action(action['action'])
        reward = 0.0
        for _ in range(self._repeat):
            raw, step_reward, is_last, is_terminal = self._step(action)
            reward += step_reward
            if is_last:
                break
        self._agent_steps += 1
        if self._length and self._agent_steps >= self._length:
            is_last = True
        self._done = is_last
        return self._observe(raw, reward, False, is_last, is_terminal)

    def _build_obs_space(self):
        spaces = {
            'reward': Space(np.float32),
            'is_first': Space(bool),
            'is_last': Space(bool),
            'is_terminal': Space(bool),
        }
        if self._render:
            spaces['image'] = Space(np.uint8, self._size + (3,))
        for key, shape in self._vector_shapes.items():
            spaces[key] = Space(np.float32, shape)
        return spaces

    def _checked_action(self, action):
        expected = self._act_space['action'].shape
        action = np.asarray(action, np.float32)
        if action.shape != expected:
            raise ValueError(
                f'Expected an action of shape {expected}, got {action.shape}.')
        if not np.isfinite(action).all():
            raise ValueError(f'Actions must be finite, got {action}.')
        return action

    def _observe(self, raw, reward, is_first, is_last, is_terminal):
        obs = {
            'reward': np.float32(reward),
            'is_first': bool(is_first),
            'is_last': bool(is_last),
            'is_terminal': bool(is_terminal),
        }
        if self._render:
            obs['image'] = self._render_image()
        for key, shape in self._vector_shapes.items():
            obs[key] = np.asarray(raw[key], np.float32).reshape(shape)
        return obs

    def _reset(self):
        raise NotImplementedError

    def _step(self, action):
        raise NotImplementedError

    def _render_image(self):
        raise NotImplementedError
