"""Crafter (Hafner 2021), Director's discrete-action benchmark: a local
top-down image, 17 actions, 22 achievements.

Every step carries `log_achievement_<name>`, how often the achievement was
unlocked so far in the episode: the runtime logs its maximum per episode
(run.log_keys_max), as Director does, also when the task hides the reward
(crafter_noreward).
"""

import numpy as np

from embodied.envs import MissingDependencyError, SimulatorEnv
from embodied.space import Space


def import_crafter():
    try:
        import crafter
    except ImportError as error:
        raise MissingDependencyError(
            f'Crafter tasks need crafter: pip install crafter ({error})'
        ) from error
    return crafter


class Crafter(SimulatorEnv):
    """reward: the task's reward is Crafter's (True) or 0 (False). camera
    and render have no effect: the image is the observation."""

    def __init__(
            self, reward=True, repeat=1, size=(64, 64), camera=-1, length=0,
            render=True, seed=None):
        crafter = import_crafter()
        self._env = crafter.Env(size=tuple(size), reward=reward, seed=seed)
        self._names = sorted(crafter.constants.achievements)
        raw_spaces = {
            'image': Space(np.uint8, tuple(size) + (3,)),
            **{f'log_achievement_{name}': Space(np.float32)
               for name in self._names}}
        super().__init__(
            Space(np.int32, (), 0, self._env.action_space.n - 1), raw_spaces,
            repeat, size, False, length)

    def _reset(self):
        image = self._env.reset()
        return self._raw(image, {name: 0 for name in self._names})

    def _step(self, action):
        image, reward, done, info = self._env.step(int(action))
        is_terminal = done and info['discount'] == 0
        raw = self._raw(image, info['achievements'])
        return raw, float(reward), done, is_terminal

    def _raw(self, image, achievements):
        return {
            'image': image,
            **{f'log_achievement_{name}': np.float32(achievements[name])
               for name in self._names}}
