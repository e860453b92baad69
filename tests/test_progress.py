"""The progress line on a clock (run.progress_every), with a fake clock that
the stub environments and agent advance: no test sleeps."""

import io
import re
import sys

import numpy as np

import embodied
from embodied.run.progress import Progress
from mrs_tf import configs


class FakeClock:

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lines_come_every_period_with_rates_and_eta():
    clock, lines = FakeClock(), []
    step = embodied.Counter()
    progress = Progress(
        60, step, 1000, repeat=2, eval_episodes=2, clock=clock,
        write=lambda line: lines.append((clock.now, line)))
    progress.start('prefill', 100)
    for _ in range(100):  # One second per step.
        clock.now += 1
        step.increment()
        progress.env_step()
    progress.start('train')
    for _ in range(20):  # Ten steps of a second, then a train call of 5.
        for _ in range(10):
            clock.now += 1
            step.increment()
            progress.env_step()
        clock.now += 5
        progress.train_step()
    for _ in range(2):  # Two evaluation episodes of 40 steps.
        for _ in range(40):
            clock.now += 1
            progress.env_step(evaluation=True)
        progress.episode(evaluation=True)
    clock.now += 1
    step.increment()
    progress.env_step()
    assert [time for time, _ in lines] == [60, 120, 180, 240, 300, 360, 420,
                                           480]
    text = [line for _, line in lines]
    # 60 frames (two per step) in 60 s; 40 steps to go at one per second.
    assert text[0] == (
        '[prefill 60/100] step 60/1,000 (6.0%) | env 2.00 fps | '
        'train 0.00 steps/s | ETA 0:00:40 (prefill)')
    # Training began at 100 s and step 100: 15 steps and one train call
    # in 20 s; 885 steps to go at 15 per 20 s.
    assert text[1] == (
        '[train] step 115/1,000 (11.5%) | env 1.50 fps | '
        'train 0.05 steps/s | ETA 0:19:40')
    assert text[3] == (
        '[train] step 195/1,000 (19.5%) | env 1.33 fps | '
        'train 0.07 steps/s | ETA 0:19:46')
    # The evaluation began at 400 s (step 300): its steps and episodes,
    # the run's ETA at the pace since training began (evaluation included).
    assert text[6] == (
        '[eval 0/2 episodes] step 300/1,000 (30.0%) | env 2.00 fps | '
        'train 0.00 steps/s | ETA 0:18:40')
    assert text[7].startswith('[eval 1/2 episodes] step 300/1,000')
    # Back in training: the window starts with its first step.
    assert progress.line() == (
        '[train] step 301/1,000 (30.1%) | env 2.00 fps | '
        'train 0.00 steps/s | ETA 0:22:04')


def test_a_long_call_delays_the_line_to_its_end_and_zero_turns_it_off():
    clock, lines = FakeClock(), []
    progress = Progress(60, clock=clock, write=lines.append)
    progress.start('eval', 3, 'episodes')
    clock.now = 59
    progress.env_step()
    clock.now = 200  # A call of 141 s (a trace): the line comes after it.
    progress.env_step()
    progress.episode()
    assert lines == [
        '[eval 0/3 episodes] env 0.01 fps | train 0.00 steps/s | ETA -']
    clock.now = 300
    progress.episode()
    assert lines[1] == (
        '[eval 2/3 episodes] env 0.00 fps | train 0.00 steps/s | '
        'ETA 0:02:30 (eval)')
    silent = Progress(0, clock=clock, write=lines.append)
    silent.start('train')
    clock.now = 10_000
    silent.env_step()
    assert len(lines) == 2


class ClockedEnv(embodied.Env):
    """Episodes of `length` steps, each advancing the fake clock by a
    second."""

    obs_space = {
        'reward': embodied.Space(np.float32),
        'is_first': embodied.Space(bool), 'is_last': embodied.Space(bool),
        'is_terminal': embodied.Space(bool)}
    act_space = {
        'action': embodied.Space(np.float32, (1,), -1, 1),
        'reset': embodied.Space(bool)}

    def __init__(self, clock, length):
        self.clock = clock
        self.length = length
        self.episode_step = 0

    def step(self, action):
        self.clock.now += 1
        self.episode_step = 0 if action['reset'] else self.episode_step + 1
        return {'reward': np.float32(1), 'is_first': bool(action['reset']),
                'is_last': self.episode_step == self.length,
                'is_terminal': False}


class ClockedAgent(embodied.RandomAgent):
    """A random policy whose train calls take 20 s of the fake clock."""

    def __init__(self, act_space, clock):
        super().__init__(act_space)
        self.clock = clock

    def train(self, batch, state=None):
        self.clock.now += 20
        return state, {}


class StampedOutput(io.StringIO):
    """Stdout that notes the fake time of every progress line, and how
    many there were at each flush."""

    def __init__(self, clock):
        super().__init__()
        self.clock = clock
        self.stamped = []
        self.flushes = []

    def write(self, text):
        if text.startswith('['):
            self.stamped.append((self.clock.now, text))
        return super().write(text)

    def flush(self):
        self.flushes.append(len(self.stamped))
        super().flush()


def driver_of(env):
    return embodied.Driver([embodied.InProcessEnv(lambda: env)])


def test_training_reports_prefill_training_and_evaluation_on_the_clock(
        tmp_path, monkeypatch):
    clock = FakeClock()
    out = StampedOutput(clock)
    monkeypatch.setattr(sys, 'stdout', out)
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.steps', '500', '--run.train_fill', '150',
        '--run.eval_every', '300', '--run.eval_eps', '1',
        '--run.save_every', '0', '--run.log_every', '0',
        '--run.progress_every', '60'])
    step = embodied.Counter()
    checkpoint = embodied.Checkpoint(tmp_path / 'checkpoint')
    checkpoint.register('counter', step)
    driver = driver_of(ClockedEnv(clock, 50))
    agent = ClockedAgent(driver.act_space, clock)
    replay = embodied.Replay(tmp_path / 'replay', 1000, config.replay.chunk)
    embodied.run.train(
        agent, driver, driver_of(ClockedEnv(clock, 200)), replay,
        embodied.Logger(step, []), checkpoint, config, clock=clock)
    monkeypatch.undo()
    times = [0] + [time for time, _ in out.stamped] + [clock.now]
    lines = [line for _, line in out.stamped]
    # One line at the first step boundary after every 60 s: later only by
    # the step or train call (20 s) in progress.
    assert all(60 <= b - a <= 60 + 20 for a, b in zip(times, times[1:-1]))
    assert times[-1] - times[-2] <= 60 + 20
    # Each line is flushed before the next: a job's log file shows it now.
    assert set(range(1, len(lines) + 1)) <= set(out.flushes)
    phases = [re.match(r'\[(\w+)', line)[1] for line in lines]
    assert phases[:2] == ['prefill', 'prefill'] and 'train' in phases
    assert 'eval' in phases and phases[-1] == 'train'
    assert all(' | ETA ' in line and ' fps | train ' in line
               for line in lines)
    # Training: 8 steps of 1 s and a train call of 20 s.
    train = [line for line in lines if line.startswith('[train]')][1]
    fps = float(re.search(r'env ([\d.]+) fps', train)[1])
    assert abs(fps - 8 / 28) < 0.1, train


def test_eval_only_reports_its_episodes(tmp_path, monkeypatch):
    clock = FakeClock()
    out = StampedOutput(clock)
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.eval_eps', '3', '--run.progress_every', '60'])
    driver = driver_of(ClockedEnv(clock, 50))

    class Loaded:
        directory = 'stub'

        def load(self, path=None):
            return 'ckpt-stub'

    monkeypatch.setattr(sys, 'stdout', out)
    embodied.run.eval_only(
        embodied.RandomAgent(driver.act_space), driver,
        embodied.Logger(embodied.Counter(), []), Loaded(), config,
        clock=clock)
    monkeypatch.undo()
    lines = [line for _, line in out.stamped]
    # Episodes of 51 transitions (the reset's and 50 steps), 1 s each: one
    # finished after 60 s, two to go at that pace.
    assert [time for time, _ in out.stamped] == [60, 120]
    assert lines[0] == (
        '[eval 1/3 episodes] env 1.00 fps | train 0.00 steps/s | '
        'ETA 0:02:00 (eval)')
