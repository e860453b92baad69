"""Schedules that decide, from the step counter, when something happens."""


class Every:
    """True once per `every` steps: at the first call, then whenever the step
    has advanced by `every` since the last time it was True."""

    def __init__(self, every):
        self._every = every
        self._last = None

    def __call__(self, step):
        step = int(step)
        if self._every <= 0:
            return False
        if self._last is None or step >= self._last + self._every:
            self._last = step - (step % self._every)
            return True
        return False


class Ratio:
    """How many updates to run so that updates / steps stays at `ratio`."""

    def __init__(self, ratio):
        if ratio < 0:
            raise ValueError(f'ratio must be >= 0, got {ratio}')
        self._ratio = ratio
        self._last = None

    def __call__(self, step):
        step = int(step)
        if self._ratio == 0:
            return 0
        if self._last is None:
            self._last = step
            return 1
        repeats = int((step - self._last) * self._ratio)
        self._last += repeats / self._ratio
        return repeats

