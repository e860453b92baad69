"""How every program here ends: one line and an exit code for a user
error, a diverged run or a stop signal, instead of a traceback.

Imports only the standard library, so that a program installs its stop
handling before it loads anything heavy: a Ctrl-C or SIGTERM during its
own imports also ends in one line (train.py imports the rest inside its
main)."""

import signal
import sys


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt for SIGINT wherever no
    StopSignals handles it (before the training loop, or a second one)."""


def _raise_terminated(signum, frame):
    raise Terminated()


def command(main, argv=None):
    """Runs a program's main(argv) and exits with its return code (an int;
    anything else counts as success); a user error (config, task,
    checkpoint) ends it with one `error:` line and exit code 2, a diverged
    run with one such line and exit code 1. Ctrl-C or SIGTERM that no run
    loop handles ends it with one line and exit code 130 or 143 (128 +
    the signal's number, as a shell reports a process the signal ended);
    the environment processes are gone by then."""
    argv = sys.argv[1:] if argv is None else argv
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        code = main(argv)
    except (KeyboardInterrupt, Terminated) as e:
        signum = (signal.SIGINT if isinstance(e, KeyboardInterrupt)
                  else signal.SIGTERM)
        print(f'{signum.name}: stopped without saving; the same command '
              'resumes from the last checkpoint.', file=sys.stderr)
        code = 128 + signum
    except Exception as e:
        code = _error_code(e)
        if code is None:
            raise
        print(f'error: {e}', file=sys.stderr)
    finally:
        signal.signal(signal.SIGTERM, previous)
    sys.exit(code if isinstance(code, int) else 0)


def _error_code(error):
    """2 for a user's error, 1 for a diverged run, None for a bug."""
    import embodied
    from .launch import USER_ERRORS
    if isinstance(error, USER_ERRORS):
        return 2
    if isinstance(error, embodied.run.NonFiniteError):
        return 1
    return None
