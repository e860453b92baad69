"""Pin Pad, the hierarchy benchmark of Director (Hafner et al. 2022, "Deep
Hierarchical Planning from Pixels", Pin Pad tasks): walk over coloured pads
in a fixed order, a sparse reward that needs long sequences of moves.

The arena is a 16 x 14 grid of cells whose outer ring is wall; 3 to 8 pads
(one colour each, pad k has colour k) fill fixed rectangles inside it. Every
move that leads onto a pad records that pad in the sequence of the last
`pads` pads visited (standing on a pad records it once: no pad twice in a
row). When the sequence is pads 1, 2, ..., n in this order the agent gets
+10, the background turns green for a 10-step countdown, and when it ends the
player respawns at a uniformly random non-wall cell with an empty sequence.
Episodes last 2000 steps by default and never terminate.

The image (64 x 64 by default) shows the arena one 4 x 4 block per cell,
pads faded except the one the player stands on, the player black, and below
the arena a grey bar with the sequence so far. Without rendering, the same
facts are float vectors:

  position   one-hot of the player's column (16) then of its row (14)
  sequence   the bar's slots, oldest first: one-hot over the pads per slot,
             zeros for an empty slot (pads x pads values)
  countdown  1 while the countdown runs (the green background), else 0

Behaviour, layouts and colours follow Director's published environment;
tests/test_pinpad.py replays a recording of it.
"""

import numpy as np

from embodied.envs import SimulatorEnv
from embodied.space import Space

WIDTH, HEIGHT = 16, 14        # arena cells, walls included
BAR_ROWS = 2                  # image rows of cells below the arena
DEFAULT_LENGTH = 2000         # Director's episode length for Pin Pad
COUNTDOWN_STEPS = 10
SUCCESS_REWARD = 10.0

# Action index -> (dx, dy), Director's order; y grows downwards in the image.
MOVES = ((0, 0), (0, 1), (0, -1), (1, 0), (-1, 0))
MOVE_NAMES = ('stay', 'down', 'up', 'right', 'left')

WALL, FLOOR = -1, 0
WALL_GREY = (192, 192, 192)
BACKGROUND = {False: (255, 255, 255), True: (223, 255, 223)}  # countdown?
PLAYER = (0, 0, 0)
# Colour of pad k at index k - 1.
PAD_COLOURS = np.array([
    (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0),
    (255, 0, 255), (0, 255, 255), (128, 0, 128), (0, 128, 128)], np.int64)
# A pad the player is not on: 10% of its colour over 90% white, rounded down.
FADED_COLOURS = (PAD_COLOURS + 9 * 255) // 10

# Number of pads -> {pad: rectangles (x, y, width, height) of its cells}.
_SEVEN = {
    1: [(1, 1, 3, 2), (1, 3, 2, 1)], 2: [(13, 10, 2, 1), (12, 11, 3, 2)],
    3: [(1, 5, 2, 4)], 4: [(12, 1, 3, 2), (13, 3, 2, 1)], 5: [(13, 5, 2, 4)],
    6: [(1, 10, 2, 1), (1, 11, 3, 2)], 7: [(6, 11, 4, 2)]}
LAYOUTS = {
    3: {1: [(1, 1, 4, 4)], 2: [(6, 9, 4, 4)], 3: [(11, 1, 4, 4)]},
    4: {1: [(1, 1, 4, 4)], 2: [(11, 9, 4, 4)], 3: [(1, 9, 4, 4)],
        4: [(11, 1, 4, 4)]},
    5: {1: [(1, 2, 3, 4)], 2: [(11, 10, 4, 3)], 3: [(1, 8, 3, 4)],
        4: [(11, 1, 4, 3)], 5: [(12, 5, 3, 4)]},
    6: {1: [(1, 1, 3, 3)], 2: [(12, 10, 3, 3)], 3: [(1, 5, 2, 4)],
        4: [(1, 10, 3, 3)], 5: [(12, 1, 3, 3)], 6: [(13, 5, 2, 4)]},
    7: _SEVEN,
    8: {**_SEVEN, 8: [(6, 1, 4, 2)]},
}


def arena_cells(pads):
    """(HEIGHT, WIDTH) int array indexed [y, x]: WALL, FLOOR or the pad
    number."""
    cells = np.full((HEIGHT, WIDTH), WALL, np.int64)
    cells[1:-1, 1:-1] = FLOOR
    for pad, rectangles in LAYOUTS[pads].items():
        for x, y, width, height in rectangles:
            cells[y:y + height, x:x + width] = pad
    return cells


def sequence_progress(sequence):
    """How far along the order 1, 2, ... the player is: the largest k whose
    pads 1..k are the last k pads entered, from sequence observations
    [..., pads * pads] (0 to pads; pads is a completion). For judging
    agents that complete no sequence yet."""
    sequence = np.asarray(sequence)
    pads = int(round(np.sqrt(sequence.shape[-1])))
    slots = sequence.reshape(-1, pads, pads)
    entered = np.where(slots.any(-1), slots.argmax(-1) + 1, 0)
    progress = np.zeros(len(slots), np.int64)
    for row, pads_entered in enumerate(entered):
        visited = [int(pad) for pad in pads_entered if pad]
        for k in range(len(visited), 0, -1):
            if visited[-k:] == list(range(1, k + 1)):
                progress[row] = k
                break
    return progress.reshape(sequence.shape[:-1])


class PinPad(SimulatorEnv):
    """pads: 3 to 8 (task pinpad_three ... pinpad_eight). length 0 means
    Director's 2000 steps. The player moves one cell per step, so repeat
    must be 1; camera has no effect; render adds the image to the vectors.
    seed: the respawn positions."""

    def __init__(
            self, pads, repeat=1, size=(64, 64), camera=-1, length=0,
            render=True, seed=None):
        if pads not in LAYOUTS:
            raise ValueError(f'Pin Pad has 3 to 8 pads, got {pads}')
        if int(repeat) != 1:
            raise ValueError(
                f'Pin Pad moves one cell per step, as in Director: '
                f'env.repeat must be 1, got {repeat}')
        self._pads = pads
        self._target = list(range(1, pads + 1))
        self._cells = arena_cells(pads)
        self._free_cells = [
            (int(x), int(y)) for y, x in np.argwhere(self._cells != WALL)]
        self._pad_masks = {pad: self._cells == pad for pad in self._target}
        self._rng = np.random.default_rng(seed)
        height, width = size
        total_rows = HEIGHT + BAR_ROWS
        self._pixel_rows = np.arange(height) * total_rows // height
        self._pixel_cols = np.arange(width) * WIDTH // width
        self._backgrounds = {
            running: self._background(colour)
            for running, colour in BACKGROUND.items()}
        self._position = None
        self._sequence = []
        self._countdown = 0
        raw_spaces = {
            'position': Space(np.float32, (WIDTH + HEIGHT,), 0, 1),
            'sequence': Space(np.float32, (pads * pads,), 0, 1),
            'countdown': Space(np.float32, (), 0, 1),
        }
        super().__init__(
            Space(np.int32, (), 0, len(MOVES) - 1), raw_spaces, 1, size,
            render, length or DEFAULT_LENGTH)

    def _reset(self):
        self._countdown = 0
        self._respawn()
        return self._raw()

    def _step(self, action):
        if self._countdown:
            self._countdown -= 1
            if not self._countdown:
                self._respawn()
        dx, dy = MOVES[int(action)]
        x = min(max(self._position[0] + dx, 0), WIDTH - 1)
        y = min(max(self._position[1] + dy, 0), HEIGHT - 1)
        cell = self._cells[y, x]
        if cell != WALL:
            self._position = (x, y)
            if cell != FLOOR and self._sequence[-1:] != [cell]:
                self._sequence = (self._sequence + [int(cell)])[-self._pads:]
        reward = 0.0
        if not self._countdown and self._sequence == self._target:
            reward = SUCCESS_REWARD
            self._countdown = COUNTDOWN_STEPS
        return self._raw(), reward, False, False

    def _respawn(self):
        self._position = self._random_free_cell()
        self._sequence = []

    def _random_free_cell(self):
        return self._free_cells[self._rng.integers(len(self._free_cells))]

    def _raw(self):
        x, y = self._position
        position = np.zeros(WIDTH + HEIGHT, np.float32)
        position[x] = position[WIDTH + y] = 1
        sequence = np.zeros((self._pads, self._pads), np.float32)
        for slot, pad in enumerate(self._sequence):
            sequence[slot, pad - 1] = 1
        return {'position': position, 'sequence': sequence.reshape(-1),
                'countdown': np.float32(self._countdown > 0)}

    def _background(self, colour):
        """The cells that do not change within a countdown state, indexed
        [row, column]: floor, walls, faded pads and the empty bar."""
        cells = np.zeros((HEIGHT + BAR_ROWS, WIDTH, 3), np.uint8)
        cells[:] = colour
        cells[:HEIGHT][self._cells == WALL] = WALL_GREY
        for pad, mask in self._pad_masks.items():
            cells[:HEIGHT][mask] = FADED_COLOURS[pad - 1]
        cells[HEIGHT:] = WALL_GREY
        return cells

    def _render_image(self):
        cells = self._backgrounds[self._countdown > 0].copy()
        x, y = self._position
        pad = self._cells[y, x]
        if pad > FLOOR:
            cells[:HEIGHT][self._pad_masks[pad]] = PAD_COLOURS[pad - 1]
        cells[y, x] = PLAYER
        for slot, pad in enumerate(self._sequence):
            cells[HEIGHT, 2 * slot + 1] = PAD_COLOURS[pad - 1]
        return cells[self._pixel_rows][:, self._pixel_cols]
