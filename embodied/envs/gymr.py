"""Gymnasium-Robotics goal environments (Fetch, AntMaze) with images."""

import os

import numpy as np

from embodied.envs import MissingDependencyError, SimulatorEnv
from embodied.space import Space

# Looks straight down from 10 m: the ant and about two maze cells across.
OVERHEAD_VIEW = dict(distance=10.0, elevation=-90.0, azimuth=90.0)


def import_gymnasium():
    """Imports gymnasium with the Gymnasium-Robotics envs registered."""
    os.environ.setdefault('MUJOCO_GL', 'egl')
    try:
        import gymnasium
        import gymnasium_robotics
    except ImportError as error:
        raise MissingDependencyError(
            'Fetch and AntMaze tasks need Gymnasium-Robotics: '
            f'pip install gymnasium-robotics ({error})') from error
    gymnasium.register_envs(gymnasium_robotics)
    return gymnasium


class GymRobotics(SimulatorEnv):
    """A gymnasium env with a Dict observation space of vectors.

    camera == -1 renders with the library's camera, or from straight above
    `follow_body` when given (AntMaze's library camera does not follow the
    ant). camera >= 0 renders from that MuJoCo model camera.
    """

    def __init__(
            self, env_id, follow_body=None, repeat=1, size=(64, 64),
            camera=-1, length=0, render=True, seed=None):
        gymnasium = import_gymnasium()
        library_render = render and camera == -1 and follow_body is None
        make_kwargs = {}
        if library_render:
            make_kwargs.update(
                render_mode='rgb_array', width=size[1], height=size[0])
        if length:
            # The library's TimeLimit must not end episodes before `length`.
            make_kwargs['max_episode_steps'] = length * repeat
        self._env = gymnasium.make(env_id, **make_kwargs)
        self._camera = None
        if render and not library_render:
            self._camera = SceneCamera(
                self._env.unwrapped, size, camera, follow_body)
        self._seed = seed
        space = self._env.action_space
        raw_spaces = {
            key: Space(np.float32, value.shape)
            for key, value in self._env.observation_space.spaces.items()}
        super().__init__(
            Space(np.float32, None, space.low, space.high), raw_spaces,
            repeat, size, render, length)

    def close(self):
        if self._camera:
            self._camera.close()
        self._env.close()

    def _reset(self):
        # Seed only the first reset; later resets continue the library's RNG.
        obs, _ = self._env.reset(seed=self._seed)
        self._seed = None
        return obs

    def _step(self, action):
        obs, reward, terminated, truncated, _ = self._env.step(action)
        return obs, float(reward), terminated or truncated, terminated

    def _render_image(self):
        if self._camera:
            return self._camera.render()
        # The library returns a view with negative strides.
        return np.ascontiguousarray(self._env.render())


class SceneCamera:
    """Renders an env's MuJoCo scene from a model camera or above a body."""

    def __init__(self, env, size, camera, follow_body):
        import mujoco
        self._env = env
        self._follow_body = follow_body if camera < 0 else None
        model = env.model
        model.vis.global_.offheight = max(model.vis.global_.offheight, size[0])
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, size[1])
        self._renderer = mujoco.Renderer(model, *size)
        # Without a GPU, shadows and reflections make frames over 10x slower.
        for flag in (mujoco.mjtRndFlag.mjRND_SHADOW,
                     mujoco.mjtRndFlag.mjRND_REFLECTION):
            self._renderer.scene.flags[flag] = False
        self._camera = mujoco.MjvCamera()
        if camera >= 0:
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FIXED
            self._camera.fixedcamid = camera
        else:
            self._camera.type = mujoco.mjtCamera.mjCAMERA_FREE
            for key, value in OVERHEAD_VIEW.items():
                setattr(self._camera, key, value)

    def render(self):
        data = self._env.data
        if self._follow_body:
            self._camera.lookat[:] = data.body(self._follow_body).xpos
        self._renderer.update_scene(data, camera=self._camera)
        return self._renderer.render()

    def close(self):
        self._renderer.close()
