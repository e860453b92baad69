"""SIGTERM and Ctrl-C: the handler only records the signal, and the run
loops notice it after the environment step they are in, in evaluation
too. In-process, with stub environments and the random agent."""

import os
import signal
import sys

import numpy as np
import pytest

import embodied
from embodied.run.stop_signals import StopSignals, Stopped
from mrs_tf import configs


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


OBS_SPACE = {
    'reward': embodied.Space(np.float32), 'is_first': embodied.Space(bool),
    'is_last': embodied.Space(bool), 'is_terminal': embodied.Space(bool)}


class CountingEnv(embodied.Env):
    """Episodes of `length` steps; with `signal_at`, it sends this process
    SIGTERM from inside its step number `signal_at` (counted over all
    episodes) and counts the steps it is made to take after that."""

    obs_space = OBS_SPACE
    act_space = {
        'action': embodied.Space(np.float32, (1,), -1, 1),
        'reset': embodied.Space(bool)}

    def __init__(self, length, signal_at=None):
        self.length = length
        self.signal_at = signal_at
        self.steps = 0
        self.episode_step = 0
        self.after_signal = None

    def step(self, action):
        self.steps += 1
        if self.after_signal is not None:
            self.after_signal += 1
        if self.steps == self.signal_at:
            self.after_signal = 0
            os.kill(os.getpid(), signal.SIGTERM)
        self.episode_step = 0 if action['reset'] else self.episode_step + 1
        return {'reward': np.float32(1), 'is_first': bool(action['reset']),
                'is_last': self.episode_step == self.length,
                'is_terminal': False}


@pytest.fixture
def sigterm_guard():
    """A SIGTERM that no StopSignals catches fails the test instead of
    killing pytest; the loops under test restore this handler on exit."""
    received = []
    previous = signal.signal(
        signal.SIGTERM, lambda signum, frame: received.append(signum))
    yield received
    signal.signal(signal.SIGTERM, previous)


def driver_of(env):
    return embodied.Driver([embodied.InProcessEnv(lambda: env)])


def test_sigterm_during_training_evaluation_stops_within_one_step(
        tmp_path, sigterm_guard, capsys):
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.steps', '1000', '--run.train_fill', '50',
        '--run.eval_every', '100', '--run.save_every', '100',
        '--run.eval_eps', '2', '--run.log_every', '0'])
    step = embodied.Counter()
    logger = embodied.Logger(step, [])
    checkpoint = embodied.Checkpoint(tmp_path / 'checkpoint')
    checkpoint.register('counter', step)
    train_env = CountingEnv(length=50)
    driver = driver_of(train_env)
    # An evaluation episode far longer than the test may take.
    eval_env = CountingEnv(length=100_000, signal_at=3)
    agent = embodied.RandomAgent(driver.act_space)
    replay = embodied.Replay(tmp_path / 'replay', 1000, config.replay.chunk)
    embodied.run.train(
        agent, driver, driver_of(eval_env), replay, logger, checkpoint,
        config)
    assert not sigterm_guard
    assert eval_env.after_signal == 0  # The signalling step was the last.
    out = capsys.readouterr().out
    assert f'SIGTERM: saving a checkpoint at step {int(step)}' in out
    assert checkpoint.load().name == f'ckpt-{int(step):012d}'


class StubCheckpoint:
    directory = 'stub'

    def load(self, path=None):
        return 'ckpt-stub'


def test_sigterm_during_eval_only_stops_within_one_step(
        tmp_path, sigterm_guard, capsys):
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.eval_eps', '2'])
    env = CountingEnv(length=100_000, signal_at=5)
    driver = driver_of(env)
    agent = embodied.RandomAgent(driver.act_space)
    logger = embodied.Logger(embodied.Counter(), [])
    result = embodied.run.eval_only(
        agent, driver, logger, StubCheckpoint(), config)
    assert not sigterm_guard
    assert result is None and env.after_signal == 0
    assert not list(tmp_path.glob('eval_scores_*.json'))
    out = capsys.readouterr().out
    assert 'SIGTERM: evaluation stopped before 2 episodes finished' in out
