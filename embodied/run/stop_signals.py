"""SIGTERM and SIGINT as a request to stop cleanly: clusters (SLURM),
`docker stop` and Kubernetes send SIGTERM before they kill a job, a user
presses Ctrl-C. The loop finishes the step it is in, saves and exits 0."""

import contextlib
import signal

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
    """Raised at a step boundary after a stop signal arrived."""

    def __init__(self, signum):
        self.name = signal.Signals(signum).name
        super().__init__(f'stopped by {self.name}')


class StopSignals:
    """While active, the first SIGTERM or SIGINT is remembered and raised as
    Stopped by the next check(); a second one has its default effect (a
    user who presses Ctrl-C twice quits at once).

    The handler only records the signal and restores the previous
    handlers: it may interrupt a print or a write in progress, and
    buffered I/O is not reentrant ("reentrant call inside
    <_io.BufferedWriter>"). The loop that catches Stopped says what
    happens.

    Inside `interruptible()` (an agent call: its first call traces for
    a minute, no environment is mid-step) the handler raises Stopped at
    once instead."""

    def __init__(self):
        self._received = None
        self._previous = {}
        self._interruptible = False
        self._raised = False

    def __enter__(self):
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum, frame):
        self._received = signum
        for each in SIGNALS:
            signal.signal(each, self._previous[each])
        if self._interruptible:
            self._interruptible = False
            self._raised = True
            raise Stopped(signum)

    @contextlib.contextmanager
    def interruptible(self):
        """A stop signal raises Stopped as soon as it arrives here (once
        the C++ call in progress, such as an XLA compile, returns)."""
        self.check()
        self._interruptible, self._raised = True, False
        try:
            yield
        except Exception:
            # TensorFlow wraps what a trace raises (StagingError).
            if self._raised:
                raise Stopped(self._received) from None
            raise
        finally:
            self._interruptible = False

    def check(self):
        if self._received is not None:
            raise Stopped(self._received)
