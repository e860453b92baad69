"""SIGTERM and Ctrl-C: the handler only records the signal, and the run
loops notice it after the environment step they are in, in evaluation
too. In-process, with stub environments and the random agent."""

import multiprocessing
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import embodied
from embodied.run.stop_signals import StopSignals, Stopped
from conftest import ROOT
from mrs_tf import configs
from mrs_tf.command import command


@pytest.fixture(autouse=True)
def interruptible():
    """Ctrl-C raises KeyboardInterrupt here and in the programs the tests
    start, also where this session was started with SIGINT ignored (a
    background job of a non-interactive shell): an ignored signal stays
    ignored across exec, a Python handler does not."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


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


def test_stop_signal_inside_interruptible_raises_at_once(sigterm_guard):
    stop = StopSignals()
    start = time.time()
    with pytest.raises(Stopped, match='stopped by SIGTERM'):
        with stop, stop.interruptible():
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
            except Stopped as e:  # As TensorFlow wraps it in a trace.
                raise RuntimeError('wrapped') from e
    assert time.time() - start < 1 and not sigterm_guard


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


class SignallingState:
    """Checkpointed state whose first save sends this process SIGTERM
    halfway through writing its file."""

    def __init__(self):
        self.saves = 0

    def save(self, directory):
        self.saves += 1
        with open(directory / 'state', 'w') as f:
            f.write('first half ')
            if self.saves == 1:
                os.kill(os.getpid(), signal.SIGTERM)
            f.write('second half')

    def load(self, directory):
        assert (directory / 'state').read_text() == 'first half second half'


def test_sigterm_while_a_checkpoint_is_written_completes_it_and_stops(
        tmp_path, sigterm_guard, capsys):
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.steps', '1000', '--run.train_fill', '50',
        '--run.eval_every', '0', '--run.save_every', '100',
        '--run.log_every', '0'])
    step = embodied.Counter()
    checkpoint = embodied.Checkpoint(tmp_path / 'checkpoint')
    checkpoint.register('counter', step)
    state = SignallingState()
    checkpoint.register('state', state)
    train_env = CountingEnv(length=50)
    driver = driver_of(train_env)
    agent = embodied.RandomAgent(driver.act_space)
    replay = embodied.Replay(tmp_path / 'replay', 1000, config.replay.chunk)
    embodied.run.train(
        agent, driver, driver_of(CountingEnv(length=50)), replay,
        embodied.Logger(step, []), checkpoint, config)
    assert not sigterm_guard
    # The interrupted write finished; the loop stopped before its next
    # environment step (at the policy call) and saved once more, at the
    # same step: the same checkpoint again, complete.
    assert state.saves == 2
    assert checkpoint.saved()[-1].name == f'ckpt-{int(step):012d}'
    assert f'SIGTERM: saving a checkpoint at step {int(step)}' in (
        capsys.readouterr().out)
    assert not list(checkpoint.directory.glob('*.tmp'))
    for path in checkpoint.saved():
        checkpoint.load(path)


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


# Ctrl-C and SIGTERM outside the run loops: no process is left behind.

SLOW_IMPORT = '''import sys, time
print('slow environment module importing', flush=True)
time.sleep(1000)
'''


def processes():
    """(pid, parent pid, process group) of every process, from /proc
    (Linux)."""
    for stat in pathlib.Path('/proc').glob('[0-9]*/stat'):
        try:
            fields = stat.read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        yield int(stat.parent.name), int(fields[1]), int(fields[2])


def child_pids():
    """This process's children but multiprocessing's resource tracker
    (started with the first spawned process, kept)."""
    from multiprocessing import resource_tracker
    tracker = resource_tracker._resource_tracker._pid
    return [pid for pid, parent, _ in processes()
            if parent == os.getpid() and pid != tracker]


def test_make_envs_interrupted_while_starting_leaves_no_process(
        tmp_path, monkeypatch):
    (tmp_path / 'slow_env_module.py').write_text(SLOW_IMPORT)
    monkeypatch.syspath_prepend(str(tmp_path))
    before = set(child_pids())
    timer = threading.Timer(2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    start = time.time()
    with pytest.raises(KeyboardInterrupt):
        embodied.make_envs(
            'gym_slow_env_module:Slow-v0', 2, render=False)
    timer.join()
    assert time.time() - start < 10
    assert set(child_pids()) <= before
    assert not multiprocessing.active_children()


def test_worker_exits_when_its_main_process_dies(tmp_path):
    (tmp_path / 'slow_env_module.py').write_text(SLOW_IMPORT)
    script = (
        'import os, sys, threading, embodied\n'
        'threading.Timer(3, lambda: (print(os.getpid(), flush=True), '
        'os._exit(0))).start()\n'
        'if __name__ == "__main__":\n'
        '    embodied.make_envs("gym_slow_env_module:Slow-v0", 1, '
        'render=False)\n')
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(tmp_path), str(ROOT)])}
    main = subprocess.run(
        [sys.executable, '-c', script], capture_output=True, text=True,
        env=env, start_new_session=True, timeout=60)
    # The main process led its own process group: the worker is in it.
    pgid = int(main.stdout.split()[-1])
    deadline = time.time() + 5
    while group_pids(pgid) and time.time() < deadline:
        time.sleep(0.2)
    assert not group_pids(pgid), main.stdout + main.stderr


def group_pids(pgid):
    """Pids of the processes in process group `pgid`."""
    return [pid for pid, _, group in processes() if group == pgid]


@pytest.mark.parametrize('signum, code', [
    (signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_command_turns_a_stop_into_one_line_and_exit_code(
        signum, code, capsys):
    def main(argv):
        os.kill(os.getpid(), signum)
        time.sleep(5)  # The signal raises here.
        raise AssertionError('not stopped')

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as exit:
        command(main, [])
    assert exit.value.code == code
    assert signal.getsignal(signal.SIGTERM) == previous
    err = capsys.readouterr().err
    assert err.splitlines() == [
        f'{signum.name}: stopped without saving; the same command resumes '
        'from the last checkpoint.']


PROGRAM = """import atexit, sys
from mrs_tf.command import command

class Teardown:
    def __del__(self):
        print('teardown', flush=True)

kept = Teardown()  # Deleted by Python's teardown, if it runs.

def main(argv):
    atexit.register(print, 'hook', argv, flush=True)
    {body}

command(main)
"""


@pytest.mark.parametrize('body, code, err', [
    ('return 3', 3, ''),
    ('sys.exit("no such flag")', 1, 'no such flag'),
    ('raise ValueError("a bug")', 1, 'ValueError: a bug'),
    ('raise KeyboardInterrupt', 130, 'SIGINT: stopped without saving'),
])
def test_a_program_ends_after_its_atexit_hooks_without_teardown(
        body, code, err):
    result = subprocess.run(
        [sys.executable, '-c', PROGRAM.format(body=body), '--flag'],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, 'PYTHONPATH': str(ROOT)})
    assert result.returncode == code, result.stderr
    assert result.stdout == "hook ['--flag']\n"
    assert err in result.stderr


def run_until(command, marker, signum, env, delay=0.0, timeout=300,
              times=1):
    """Starts `command` in its own process group, sends the group `signum`
    `delay` seconds after the `times`-th output line containing
    `marker`, and returns the exit code, the seconds from the signal to
    the exit, and the output. Fails if any process of the group
    survives."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env, start_new_session=True)
    lines, errors, seen = [], [], threading.Event()

    def read(stream, into):
        for line in stream:
            into.append(line)
            if sum(marker in seen_line for seen_line in into) >= times:
                seen.set()

    reader = threading.Thread(
        target=read, args=(process.stdout, lines), daemon=True)
    reader.start()
    threading.Thread(
        target=read, args=(process.stderr, errors), daemon=True).start()
    try:
        assert seen.wait(timeout), f'no {marker!r}:\n' + ''.join(
            lines[-20:] + errors[-20:])
        time.sleep(delay)
        start = time.time()
        os.killpg(process.pid, signum)
        code = process.wait(60)
        seconds = time.time() - start
        reader.join(5)
        deadline = time.time() + 5
        while group_pids(process.pid) and time.time() < deadline:
            time.sleep(0.1)
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)
    finally:
        if process.poll() is None or group_pids(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
    return code, seconds, ''.join(lines), ''.join(errors)


STOP_RUN = [
    sys.executable, str(ROOT / 'train.py'), '--configs', 'dmc_proprio',
    'debug', '--env.render', 'False', '--env.amount', '4']


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_stop_while_the_program_imports(tmp_path, signum):
    """Sent when the first module of numpy has loaded (Python's -X
    importtime lines), long before the environments start."""
    code, seconds, _, err = run_until(
        [sys.executable, '-X', 'importtime'] + STOP_RUN[1:] + [
            '--task', 'dmc_cartpole_swingup', '--logdir', str(tmp_path)],
        ' numpy', signum, {**os.environ, 'PYTHONUNBUFFERED': '1'}, timeout=60)
    lines = [l for l in err.splitlines() if not l.startswith('import time')]
    assert code == 128 + signum, err[-2000:]
    assert lines == [
        f'{signum.name}: stopped without saving; the same command resumes '
        'from the last checkpoint.'], lines
    assert seconds < 10


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_stop_while_environments_start(tmp_path, signum):
    (tmp_path / 'slow_env_module.py').write_text(SLOW_IMPORT)
    env = {**os.environ, 'PYTHONUNBUFFERED': '1',
           'PYTHONPATH': os.pathsep.join([str(tmp_path), str(ROOT)])}
    code, seconds, out, err = run_until(
        STOP_RUN + ['--task', 'gym_slow_env_module:Slow-v0',
                    '--logdir', str(tmp_path / 'run')],
        'slow environment module importing', signum, env, delay=1)
    print(f'{signum.name} while environments start: exit {code} after '
          f'{seconds:.1f} s')
    assert code == 128 + signum, out + err
    assert seconds < 10
    assert err.splitlines()[-1].startswith(f'{signum.name}: stopped'), err
    assert 'Traceback' not in err, err


@pytest.mark.slow
@pytest.mark.parametrize('moment, marker, times, delay, signum, flags', [
    # A longer prefill than debug's 80 steps (under a second).
    ('prefill', 'Prefilling', 1, 0.5, signal.SIGINT,
     ['--run.train_fill', '3000']),
    # The first train call traces for about a minute at debug size.
    ('tracing', 'Start training loop.', 1, 5, signal.SIGTERM, []),
    # Past the traces (the second train call traces again, with a state):
    # between train calls, at the second train metrics.
    ('training', 'train/model_loss', 2, 1, signal.SIGINT, []),
    # The second evaluation (its policy traced and optimised by the
    # first, which may spend half a minute in TensorFlow's C++): 2 s into
    # 40 episodes of 50 steps.
    ('evaluation', 'Evaluating', 2, 2, signal.SIGTERM,
     ['--run.eval_eps', '40', '--run.steps', '600']),
])
def test_stop_in_the_training_loop_saves_and_exits_0(
        tmp_path, moment, marker, times, delay, signum, flags):
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    logdir = tmp_path / 'run'
    code, seconds, out, err = run_until(
        STOP_RUN + ['--task', 'dmc_cartpole_swingup', '--logdir',
                    str(logdir)] + flags,
        marker, signum, env, delay=delay, times=times)
    print(f'{signum.name} during {moment}: exit {code} after '
          f'{seconds:.1f} s')
    assert code == 0, out[-3000:] + err[-3000:]
    assert seconds < 10
    assert f'{signum.name}: saving a checkpoint' in out
    if moment == 'evaluation':
        assert 'eval_episode/mean_score' not in out.split(marker)[-1]
    assert list((logdir / 'checkpoint').glob('ckpt-*[0-9]'))
    # The run resumes from that checkpoint (a trace cut short included).
    resumed = subprocess.run(
        STOP_RUN + ['--task', 'dmc_cartpole_swingup', '--logdir',
                    str(logdir), '--run.steps', '1'],
        capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr
    assert 'Loaded checkpoint' in resumed.stdout, resumed.stdout[-2000:]
    assert 'cannot load' not in resumed.stdout
