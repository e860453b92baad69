"""Environments in their own processes.

Workers are started with the 'spawn' method so they never inherit the
parent's TensorFlow: Mesa's software renderer crashes in any process that
has loaded TensorFlow.
"""

import atexit
import multiprocessing
import os
import pickle
import signal
import threading
import traceback
import weakref


class EnvError(RuntimeError):
    """The environment process raised an exception or died."""

    def __init__(self, message, original=None):
        super().__init__(message)
        self.original = original


class ProcessEnv:
    """Runs `ctor()` in a child process and forwards calls to it.

    `ctor` must be picklable (a top-level function or functools.partial).
    Steps are split into `step_async()` and `step_wait()` so that a batch of
    environments can step at the same time.
    """

    def __init__(self, ctor):
        self._ctor = ctor
        self._context = multiprocessing.get_context('spawn')
        self._start()

    def _start(self):
        self._conn, child = self._context.Pipe()
        self._process = self._context.Process(
            target=_worker, args=(self._ctor, child), daemon=True)
        self._process.start()
        _LIVE.add(self)
        child.close()
        try:
            self.obs_space, self.act_space = self._receive()
        except BaseException as e:
            self._terminate()
            if not isinstance(e, EnvError):
                raise  # Ctrl-C or SIGTERM while the environment starts.
            # Construction errors (unknown task, missing package) are the
            # user's to fix: re-raise them as they are, not as a crash.
            if e.original:
                raise e.original from None
            raise EnvError(
                f'{e} while starting. Environment processes are spawned: '
                'they import the main script again, so a script that '
                "starts environments must do so under `if __name__ == "
                "'__main__':`.") from None

    def restart(self):
        self._terminate()
        self._start()

    @property
    def pid(self):
        return self._process.pid

    def step(self, action):
        self.step_async(action)
        return self.step_wait()

    def step_async(self, action):
        try:
            self._conn.send(('step', action))
        except (BrokenPipeError, OSError) as e:
            raise EnvError(f'environment process died ({e})') from e

    def step_wait(self):
        return self._receive()

    def _receive(self):
        try:
            status, payload = self._conn.recv()
        except (EOFError, ConnectionResetError, OSError) as e:
            self._process.join(1)  # Its pipe closed: it is exiting.
            code = self._process.exitcode
            raise EnvError(
                f'environment process died (exit code {code})') from e
        if status == 'error':
            original, text = payload
            raise EnvError(f'environment raised:\n{text}', original)
        return payload

    def close(self, timeout=5):
        """Asks the process to close its environment and waits `timeout`
        seconds for it, then kills it; it is gone when this returns, even
        when a signal interrupts the wait."""
        try:
            self._conn.send(('close', None))
            self._process.join(timeout)
        except (BrokenPipeError, OSError):
            pass
        finally:
            self._terminate()

    def _terminate(self):
        if self._process.is_alive():
            self._process.kill()  # Workers ignore SIGTERM.
            self._process.join(5)
        self._conn.close()
        _LIVE.discard(self)


# Every started environment process, until it is closed. At exit,
# multiprocessing sends the ones left SIGTERM, which they ignore, and waits
# for them without a timeout; this hook (run first: atexit runs hooks in
# reverse order of registration) kills them instead.
_LIVE = weakref.WeakSet()


@atexit.register
def _kill_left_processes():
    for env in list(_LIVE):
        env._terminate()


def _worker(ctor, conn):
    # Stop signals are the main process's to act on (it closes its
    # environments when it has saved); Ctrl-C and SLURM reach every process
    # of the job. A worker whose main process died gets EOFError instead.
    # It exits with the main process in any case: a watcher thread ends
    # it when the main process is gone, even while `ctor()` or a step runs.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        env = ctor()
        conn.send(('ok', (env.obs_space, env.act_space)))
        while True:
            method, payload = conn.recv()
            if method == 'close':
                env.close()
                conn.close()
                # Skip interpreter teardown: Mesa's EGL can crash in it.
                os._exit(0)
            conn.send(('ok', env.step(payload)))
    except EOFError:
        pass
    except Exception as e:
        try:
            conn.send(('error', (_picklable(e), traceback.format_exc())))
        except (BrokenPipeError, OSError):
            pass


def _exit_with_parent():
    multiprocessing.parent_process().join()
    os._exit(1)


def _picklable(error):
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return None


class InProcessEnv:
    """The same interface as ProcessEnv, running the env in this process
    (`env.parallel: none`); for environments that do not render."""

    def __init__(self, ctor):
        self._ctor = ctor
        self._env = ctor()
        self.obs_space, self.act_space = (
            self._env.obs_space, self._env.act_space)
        self._action = None

    def restart(self):
        self._env.close()
        self._env = self._ctor()

    def step(self, action):
        self.step_async(action)
        return self.step_wait()

    def step_async(self, action):
        self._action = action

    def step_wait(self):
        try:
            return self._env.step(self._action)
        except Exception as e:
            raise EnvError(
                f'environment raised:\n{traceback.format_exc()}') from e

    def close(self):
        self._env.close()
