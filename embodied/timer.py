import collections
import contextlib
import time


class Timer:
    """Accumulates wall time per named section between two stats() calls."""

    def __init__(self):
        self._durations = collections.defaultdict(list)
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def section(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self._durations[name].append(time.perf_counter() - start)

    def wrap(self, name, obj, methods):
        for method in methods:
            original = getattr(obj, method)
            setattr(obj, method, self._timed(f'{name}.{method}', original))

    def _timed(self, name, fn):
        def wrapped(*args, **kwargs):
            with self.section(name):
                return fn(*args, **kwargs)
        return wrapped

    def stats(self, reset=True):
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        metrics = {}
        for name, durations in self._durations.items():
            metrics[f'{name}_count'] = len(durations)
            metrics[f'{name}_mean'] = sum(durations) / len(durations)
            metrics[f'{name}_frac'] = sum(durations) / elapsed
        if reset:
            self._durations.clear()
            self._start = time.perf_counter()
        return metrics
