"""SIGTERM and Ctrl-C: the handler only records the signal."""

import signal
import sys

import pytest

from embodied.run.stop_signals import StopSignals, Stopped


class NoWrites:
    """A stream that fails the test on any use."""

    def write(self, text):
        raise AssertionError(f'I/O in a signal handler: {text!r}')

    def flush(self):
        raise AssertionError('I/O in a signal handler')


def test_stop_signal_handler_only_records_the_signal(monkeypatch):
    previous = signal.getsignal(signal.SIGTERM)
    stop = StopSignals()
    with stop:
        handler = signal.getsignal(signal.SIGTERM)
        stop.check()  # Nothing received yet.
        with monkeypatch.context() as patch:
            patch.setattr(sys, 'stdout', NoWrites())
            patch.setattr(sys, 'stderr', NoWrites())
            handler(signal.SIGTERM, None)
        # A second signal has its previous effect (quit at once).
        assert signal.getsignal(signal.SIGTERM) == previous
        with pytest.raises(Stopped, match='stopped by SIGTERM'):
            stop.check()
    assert signal.getsignal(signal.SIGTERM) == previous
