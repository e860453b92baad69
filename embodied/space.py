import numpy as np


class Space:
    """Dtype, shape and bounds of one observation or action key."""

    def __init__(self, dtype, shape=(), low=None, high=None):
        self.dtype = np.dtype(dtype)
        if shape is None:
            shape = np.broadcast(low, high).shape if low is not None else ()
        self.shape = tuple(int(x) for x in shape)
        self.low = self._bound(
            low, -np.inf if self._floating else self._limits[0])
        self.high = self._bound(
            high, np.inf if self._floating else self._limits[1])

    @property
    def discrete(self):
        return not self._floating

    @property
    def _floating(self):
        return np.issubdtype(self.dtype, np.floating)

    @property
    def _limits(self):
        if self.dtype == bool:
            return (False, True)
        info = np.iinfo(self.dtype)
        return (info.min, info.max)

    def _bound(self, value, default):
        value = default if value is None else value
        return np.broadcast_to(
            np.asarray(value, self.dtype), self.shape).copy()

    def contains(self, value):
        value = np.asarray(value)
        if value.shape != self.shape or value.dtype != self.dtype:
            return False
        return bool(np.all(value >= self.low) and np.all(value <= self.high))

    def sample(self, rng=np.random):
        """Uniform sample from np.random, a RandomState or a Generator;
        unbounded float dimensions are drawn from [-1, 1]."""
        if self.dtype == bool:
            return rng.uniform(size=self.shape) < 0.5
        if self._floating:
            low = np.maximum(self.low, -1.0)
            high = np.minimum(self.high, 1.0)
            return rng.uniform(low, high, self.shape).astype(self.dtype)
        high = self.high.astype(np.int64) + 1
        # numpy Generators call it integers, RandomState and np.random randint.
        draw = getattr(rng, 'integers', None) or rng.randint
        return draw(
            self.low.astype(np.int64), high, self.shape).astype(self.dtype)

    def __repr__(self):
        bounds = ''
        if self.low.size and not self.dtype == bool:
            bounds = f', low={self.low.min()}, high={self.high.max()}'
        return f'Space({self.dtype.name}, {self.shape}{bounds})'

    def __eq__(self, other):
        return (
            isinstance(other, Space) and self.dtype == other.dtype and
            self.shape == other.shape and
            np.array_equal(self.low, other.low) and
            np.array_equal(self.high, other.high))
