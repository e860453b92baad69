"""DeepMind Control suite tasks with pixel observations."""

import os

import numpy as np

from embodied.envs import (
    MissingDependencyError, SimulatorEnv, unknown_task_error)
from embodied.space import Space

SHORT_DOMAIN_NAMES = {'ball_in_cup': 'cup'}
DEFAULT_CAMERAS = {'quadruped': 2}


def import_suite():
    """Imports dm_control.suite with headless rendering."""
    os.environ.setdefault('MUJOCO_GL', 'egl')
    try:
        from dm_control import suite
    except ImportError as error:
        raise MissingDependencyError(
            f'DMC tasks need dm_control: pip install dm-control ({error})'
        ) from error
    # The quadruped domain still calls np.in1d, which NumPy 2.4 removed.
    if not hasattr(np, 'in1d'):
        np.in1d = lambda ar1, ar2, **kwargs: np.isin(
            ar1, ar2, **kwargs).ravel()
    return suite


def resolve(name):
    """Splits e.g. 'walker_walk', 'cup_catch' or 'point_mass_easy' into a
    (domain, task) pair of dm_control.suite.ALL_TASKS."""
    known = {}
    for domain, task in import_suite().ALL_TASKS:
        for prefix in (domain, SHORT_DOMAIN_NAMES.get(domain, domain)):
            known[f'{prefix}_{task}'] = (domain, task)
    if name not in known:
        raise unknown_task_error(
            f'dmc_{name}', [f'dmc_{known_name}' for known_name in known])
    return known[name]


class DMC(SimulatorEnv):

    def __init__(
            self, name, repeat=1, size=(64, 64), camera=-1, length=0,
            render=True, seed=None):
        domain, task = resolve(name)
        suite = import_suite()
        self._env = suite.load(domain, task, task_kwargs={'random': seed})
        if camera == -1:
            camera = DEFAULT_CAMERAS.get(domain, 0)
        self._camera = camera
        spec = self._env.action_spec()
        raw_spaces = {
            key: Space(np.float32, value.shape)
            for key, value in self._env.observation_spec().items()}
        super().__init__(
            Space(np.float32, None, spec.minimum, spec.maximum), raw_spaces,
            repeat, size, render, length)

    def close(self):
        self._env.physics.free()

    def _reset(self):
        return self._env.reset().observation

    def _step(self, action):
        time_step = self._env.step(action)
        is_terminal = time_step.last() and time_step.discount == 0
        return (
            time_step.observation, time_step.reward or 0.0, time_step.last(),
            is_terminal)

    def _render_image(self):
        return self._env.physics.render(*self._size, camera_id=self._camera)
