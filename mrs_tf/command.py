"""How every program here ends: one line and an exit code for a user
error, a diverged run or a stop signal, instead of a traceback.

Imports only the standard library, so that a program installs its stop
handling before it loads anything heavy: a Ctrl-C or SIGTERM during its
own imports also ends in one line (train.py imports the rest inside its
main)."""

import atexit
import os
import signal
import sys
import traceback


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt for SIGINT wherever no
    StopSignals handles it (before the training loop, or a second one)."""


def command(main, argv=None):
    """Runs a program's main(argv) and exits with its return code (an int;
    anything else counts as success); a user error (config, task,
    checkpoint) ends it with one `error:` line and exit code 2, a diverged
    run with one such line and exit code 1. Ctrl-C or SIGTERM that no run
    loop handles ends it with one line and exit code 130 or 143 (128 +
    the signal's number, as a shell reports a process the signal ended);
    the environment processes are gone by then.

    Without argv (a program's own command line), the process then ends
    without Python's teardown of its objects, after every atexit hook:
    once an agent was built that teardown takes seconds (tens on a busy
    machine), and a stop signal's grace period may run out in it."""
    if argv is not None:
        sys.exit(exit_code(main, argv))
    status = [1]
    atexit.register(_end_without_teardown, status)  # The last hook to run.
    try:
        status[0] = exit_code(main, sys.argv[1:])
    except SystemExit as e:  # From main itself, as an argument parser's.
        status[0] = _system_exit_status(e)
    except BaseException:
        traceback.print_exc()
    sys.exit(status[0])


def exit_code(main, argv):
    """main(argv)'s exit code; a bug's exception propagates."""
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = main(argv)
    except (KeyboardInterrupt, Terminated) as e:
        signum = (signal.SIGINT if isinstance(e, KeyboardInterrupt)
                  else signal.SIGTERM)
        print(f'{signum.name}: stopped without saving; the same command '
              'resumes from the last checkpoint.', file=sys.stderr)
        return 128 + signum
    except Exception as e:
        code = _error_code(e)
        if code is None:
            raise
        print(f'error: {e}', file=sys.stderr)
        return code
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0


def _raise_terminated(signum, frame):
    raise Terminated()


def _error_code(error):
    """2 for a user's error, 1 for a diverged run, None for a bug."""
    import embodied
    from .launch import USER_ERRORS
    if isinstance(error, USER_ERRORS):
        return 2
    if isinstance(error, embodied.run.NonFiniteError):
        return 1
    return None


def _system_exit_status(error):
    """The status sys.exit(error.code) gives: None 0, an int itself, any
    other value printed and 1."""
    if error.code is None or isinstance(error.code, int):
        return error.code or 0
    print(error.code, file=sys.stderr)
    return 1


def _end_without_teardown(status):
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status[0])
