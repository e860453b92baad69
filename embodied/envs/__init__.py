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

# Task name -> number of pads of Director's Pin Pad (embodied.envs.pinpad).
PINPAD_TASKS = {
    f'pinpad_{name}': pads for pads, name in enumerate(
        ('three', 'four', 'five', 'six', 'seven', 'eight'), start=3)}

TASKS = {
    'dmc_<domain>_<task>': (
        'any DeepMind Control suite task, e.g. dmc_walker_walk; '
        'domain cup is short for ball_in_cup'),
    **{name: f'Gymnasium-Robotics {env_id}, sparse reward'
       for name, (env_id, _) in GYMR_TASKS.items()},
    'gym_<EnvId>': (
        'any registered Gymnasium id, e.g. gym_CartPole-v1 or '
        'gym_my_module:MyEnv-v0 (imports my_module first)'),
    'crafter_reward': 'Crafter with its reward (achievements logged)',
    'crafter_noreward': 'Crafter without reward (achievements logged)',
    'minigrid_<Name>': (
        'a MiniGrid task rendered from above, e.g. minigrid_DoorKey-8x8-v0'),
    **{name: f"Director's Pin Pad with {pads} pads"
       for name, pads in PINPAD_TASKS.items()},
    'atari_<game>': (
        'an Atari 2600 game of ale-py, e.g. atari_pong or '
        'atari_space_invaders (options: env.atari)'),
}

# Tasks whose frames need no OpenGL, so they render beside TensorFlow too
# (env.parallel none).
SOFTWARE_RENDERED = ('atari_',)


# MiniGrid's symbolic 'image' and its 'mission' text are left out: the agent
# sees the rendered grid and its heading.
MINIGRID_KEYS = '^direction$'


class UnknownTaskError(ValueError):
    pass


class MissingDependencyError(ImportError):
    pass


def parse_gym_kwargs(text):
    """The keywords of gymnasium.make from a YAML mapping such as
    '{max_episode_steps: 200, continuous: true}' ('' for none)."""
    if not text.strip():
        return {}
    from ruamel.yaml import YAML, YAMLError
    try:
        kwargs = YAML(typ='safe').load(text)
    except YAMLError as error:
        raise ValueError(
            f'env.kwargs {text!r} is not YAML: {" ".join(str(error).split())}'
        ) from None
    if not isinstance(kwargs, dict):
        raise ValueError(
            f'env.kwargs must be a mapping such as {{key: value}}, '
            f'got {text!r}')
    return kwargs


def unknown_task_error(task, candidates):
    matches = difflib.get_close_matches(task, candidates, n=3)
    return UnknownTaskError(
        f"Unknown task '{task}'. Available: {', '.join(TASKS)}. "
        f"Closest matches: {', '.join(matches) or 'none'}.")


def make_env(
        task, repeat=1, size=(64, 64), camera=-1, length=0, render=True,
        seed=None, gym_kwargs=None, obs_keys='.*', atari=None):
    """Builds one environment for a task name (see TASKS).

    repeat: action repeat. size: image (height, width). camera: -1 for the
    task's default view. length: episode length in agent steps, 0 for the
    library's. render: include the 'image' key. seed: int or None.
    gym_kwargs, obs_keys: keywords of gymnasium.make and a regex of the
    observation keys to keep, for gym_ tasks. atari: keywords of
    embodied.envs.atari.Atari (sticky, noops, gray, actions), for atari_
    tasks.
    """
    kwargs = dict(
        repeat=repeat, size=tuple(size), camera=camera, length=length,
        render=render, seed=seed)
    if task.startswith('gym_'):
        from embodied.envs import gymnasium_env
        return gymnasium_env.GymEnv(
            task[len('gym_'):], gym_kwargs, obs_keys, **kwargs)
    if gym_kwargs or obs_keys != '.*':
        raise ValueError(
            f'env.kwargs and env.obs_keys apply to gym_ tasks, not {task}')
    if task.startswith('atari_'):
        from embodied.envs import atari as atari_env
        return atari_env.Atari(task[len('atari_'):], **(atari or {}), **kwargs)
    if atari:
        raise ValueError(f'env.atari applies to atari_ tasks, not {task}')
    if task.startswith('minigrid_'):
        from embodied.envs import gymnasium_env
        return gymnasium_env.GymEnv(
            f"minigrid:MiniGrid-{task[len('minigrid_'):]}",
            obs_keys=MINIGRID_KEYS, **kwargs)
    if task in ('crafter_reward', 'crafter_noreward'):
        from embodied.envs import crafter
        return crafter.Crafter(task == 'crafter_reward', **kwargs)
    if task.startswith('dmc_'):
        from embodied.envs import dmc
        return dmc.DMC(task[len('dmc_'):], **kwargs)
    if task in GYMR_TASKS:
        from embodied.envs import gymr
        env_id, follow_body = GYMR_TASKS[task]
        return gymr.GymRobotics(env_id, follow_body=follow_body, **kwargs)
    if task in PINPAD_TASKS:
        from embodied.envs import pinpad
        return pinpad.PinPad(PINPAD_TASKS[task], **kwargs)
    raise unknown_task_error(
        task, list(GYMR_TASKS) + ['crafter_reward', 'crafter_noreward']
        + list(PINPAD_TASKS))


class SimulatorEnv(Env):
    """Director-style episode logic around one simulator.

    Subclasses implement _reset() -> raw observation dict,
    _step(action) -> (raw observation dict, reward, is_last, is_terminal) for
    one library step, and _render_image() -> uint8 image. This class adds
    action checks, action repeat, the episode length limit, automatic resets
    and the conversion of observations to float32 vectors.
    """

    def __init__(self, action_space, raw_spaces, repeat, size, render, length):
        """action_space: a Space, float (continuous) or integer (discrete).
        raw_spaces: {key: Space} of the raw observation; float keys become
        float32 vectors (scalars of shape (1,), empty ones dropped), uint8
        keys of rank 3 are images passed through as they are. Keys
        starting with log_ are logged per episode, not encoded."""
        if int(repeat) < 1 or int(length) < 0:
            raise ValueError(
                f'Need repeat >= 1 and length >= 0, got {repeat}, {length}.')
        self._repeat = int(repeat)
        self._size = tuple(size)
        self._render = render
        self._length = int(length)
        self._image_keys = {
            key for key, space in raw_spaces.items()
            if space.dtype == np.uint8 and len(space.shape) == 3}
        # Scalars the agent encodes become vectors; log_ keys stay scalars.
        self._vector_shapes = {
            key: (1,) if space.shape == () and not key.startswith('log_')
            else space.shape
            for key, space in raw_spaces.items()
            if key not in self._image_keys and np.prod(space.shape) > 0}
        self._raw_spaces = raw_spaces
        self._obs_space = self._build_obs_space()
        self._act_space = {'action': action_space, 'reset': Space(bool)}
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
        for key in self._image_keys:
            spaces[key] = self._raw_spaces[key]
        for key, shape in self._vector_shapes.items():
            spaces[key] = Space(np.float32, shape)
        return spaces

    def _checked_action(self, action):
        space = self._act_space['action']
        action = np.asarray(action)
        if action.shape != space.shape:
            raise ValueError(
                f'Expected an action of shape {space.shape}, '
                f'got {action.shape}.')
        if space.discrete:
            if not space.contains(action.astype(space.dtype)) or (
                    action != action.astype(space.dtype)).any():
                raise ValueError(
                    f'Expected an integer action in [{space.low}, '
                    f'{space.high}], got {action}.')
            return action.astype(space.dtype)
        action = action.astype(np.float32)
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
        for key in self._image_keys:
            obs[key] = np.asarray(raw[key], np.uint8)
        for key, shape in self._vector_shapes.items():
            obs[key] = np.asarray(raw[key], np.float32).reshape(shape)
        return obs

    def _reset(self):
        raise NotImplementedError

    def _step(self, action):
        raise NotImplementedError

    def _render_image(self):
        raise NotImplementedError
