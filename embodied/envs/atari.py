"""Atari 2600 games through the Arcade Learning Environment (ale-py, whose
wheels ship the ROMs): `atari_<game>`, e.g. atari_pong or
atari_space_invaders; ale_py.roms.get_all_rom_ids() lists the games.

The conventions of the Dreamer family (Machado et al. 2018's protocol):

- one agent step is `repeat` emulator frames (the atari preset: 4) of one
  action; its image is the pixel-wise maximum of the last two frames
  (sprites that flicker between frames stay visible);
- sticky actions: every frame the emulator keeps the previous frame's
  action with probability `sticky` (0.25);
- after each reset, a random number of no-ops, 1 to `noops` (30);
- frames resized to `size` by area averaging (OpenCV's INTER_AREA), in
  colour (H, W, 3) or grey (H, W, 1: the emulator's luminance palette);
- the full action set (18 actions for every game) or the game's minimal one;
- episodes end at game over (is_terminal) or are cut after 108,000 frames,
  30 minutes of play (is_last only; the no-ops count);
- `log_lives`, the lives left, logged per episode; losing a life ends
  nothing.

Seeding is ale_py's: the seed gives the no-op generator and the emulator's
seed (sticky actions) as gymnasium's `ALE/<Game>-v5` derives them in
`reset(seed=seed)`, so gymnasium's AtariPreprocessing wrapper over it
(frameskip 1) shows the same frames for the same actions
(tests/test_atari.py). One difference: when the game ends inside the repeat,
gymnasium's wrapper repeats the previous image, this one pools the last two
frames played.

ALE draws its frames in software (no OpenGL), so it runs in any process,
also beside TensorFlow (env.parallel none).
"""

import numpy as np

from embodied.envs import (
    MissingDependencyError, SimulatorEnv, unknown_task_error)
from embodied.space import Space

ACTION_SETS = ('full', 'minimal')
MAX_FRAMES = 108_000  # 30 minutes at 60 frames per second


def import_ale():
    try:
        import ale_py
        import ale_py.roms
        import cv2
    except ImportError as error:
        raise MissingDependencyError(
            'atari_ tasks need ale-py and OpenCV: pip install ale-py '
            f'opencv-python-headless ({error})') from error
    return ale_py, cv2


def games():
    """The game names of atari_<game> tasks."""
    ale_py, _ = import_ale()
    return sorted(ale_py.roms.get_all_rom_ids())


class Atari(SimulatorEnv):
    """game: an ale-py ROM id (atari_<game>). repeat: frames per agent step.
    size: (height, width) of the image. length: episode length in agent
    steps, 0 for none but the 108,000-frame cap (max_frames). sticky: the
    probability of sticky actions. noops: the most no-ops after a reset
    (at least 1 when above 0). gray: one grey channel instead of three.
    actions: 'full' or 'minimal'. camera and render have no effect: the
    image is the observation."""

    def __init__(
            self, game, repeat=4, size=(64, 64), camera=-1, length=0,
            render=True, seed=None, sticky=0.25, noops=30, gray=False,
            actions='full', max_frames=MAX_FRAMES):
        ale_py, cv2 = import_ale()
        if game not in ale_py.roms.get_all_rom_ids():
            raise unknown_task_error(
                f'atari_{game}', [f'atari_{name}' for name in games()])
        if not 0 <= sticky <= 1 or noops < 0 or int(repeat) < 1:
            raise ValueError(
                f'Atari needs 0 <= sticky <= 1, noops >= 0 and repeat >= 1, '
                f'got {sticky}, {noops}, {repeat}')
        if actions not in ACTION_SETS:
            raise ValueError(
                f"Atari's actions are full or minimal, got {actions!r}")
        self._cv2 = cv2
        self._frame_repeat = int(repeat)
        self._noops = int(noops)
        self._gray = bool(gray)
        # Set before the interface exists: it also silences its banner.
        ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)
        self._ale = ale = ale_py.ALEInterface()
        ale.setFloat('repeat_action_probability', float(sticky))
        ale.setInt('max_num_frames_per_episode', int(max_frames))
        # ale_py's AtariEnv.seed_game: one seed for the no-ops, one for ALE.
        np_seed, ale_seed = np.random.SeedSequence(seed).generate_state(2)
        self._rng = np.random.default_rng(int(np_seed))
        ale.setInt('random_seed', int(np.int32(ale_seed)))
        ale.loadROM(ale_py.roms.get_rom_path(game))
        self._actions = (
            ale.getLegalActionSet() if actions == 'full'
            else ale.getMinimalActionSet())
        self._noop = ale_py.Action.NOOP
        height, width = ale.getScreenDims()
        shape = (height, width) if gray else (height, width, 3)
        # The last two frames, newest first.
        self._frames = [np.zeros(shape, np.uint8) for _ in range(2)]
        self._pooled = np.zeros(shape, np.uint8)
        channels = 1 if gray else 3
        raw_spaces = {
            'image': Space(np.uint8, tuple(size) + (channels,)),
            'log_lives': Space(np.float32),
        }
        # The repeat is this class's (the pooling needs to know the last
        # frames); the base class steps once per agent step.
        super().__init__(
            Space(np.int32, (), 0, len(self._actions) - 1), raw_spaces, 1,
            size, False, length)

    def _reset(self):
        ale = self._ale
        ale.reset_game()
        count = self._rng.integers(1, self._noops + 1) if self._noops else 0
        for _ in range(count):
            ale.act(self._noop)
            if ale.game_over():
                ale.reset_game()
        self._capture()
        self._frames[1][:] = self._frames[0]
        return self._raw()

    def _step(self, action):
        ale = self._ale
        action = self._actions[int(action)]
        reward = 0.0
        terminal = truncated = False
        for _ in range(self._frame_repeat):
            reward += ale.act(action)
            self._capture()
            terminal = ale.game_over(with_truncation=False)
            truncated = ale.game_truncated()
            if terminal or truncated:
                break
        return self._raw(), float(reward), terminal or truncated, terminal

    def _capture(self):
        """Reads the current frame into the older buffer, which becomes the
        newest."""
        self._frames.reverse()
        if self._gray:
            self._ale.getScreenGrayscale(self._frames[0])
        else:
            self._ale.getScreenRGB(self._frames[0])

    def _raw(self):
        np.maximum(self._frames[0], self._frames[1], out=self._pooled)
        if self._pooled.shape[:2] == self._size:
            image = self._pooled.copy()
        else:
            image = self._cv2.resize(
                self._pooled, self._size[::-1],
                interpolation=self._cv2.INTER_AREA)
        if self._gray:
            image = image[..., None]
        return {'image': image, 'log_lives': np.float32(self._ale.lives())}
