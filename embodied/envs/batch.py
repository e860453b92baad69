import functools
import os
import sys

from ..parallel import InProcessEnv, ProcessEnv


def make_envs(task, amount, parallel='process', seed=0, **kwargs):
    """`amount` environments of one task, each with its own seed, running in
    their own processes (`parallel='process'`) or in this one ('none')."""
    from . import SOFTWARE_RENDERED, make_env
    if parallel not in ('process', 'none'):
        raise ValueError(
            f"env.parallel must be 'process' or 'none', got {parallel!r}")
    if (parallel == 'none' and kwargs.get('render', True)
            and not task.startswith(SOFTWARE_RENDERED)
            and 'tensorflow' in sys.modules):
        raise ValueError(
            'env.parallel none cannot render in a process that imported '
            'TensorFlow (Mesa crashes); use env.parallel process or '
            'env.render False')
    if parallel == 'none' and not kwargs.get('render', True):
        # dm_control with an EGL backend aborts at exit beside TensorFlow.
        os.environ['MUJOCO_GL'] = 'disable'
    runner = ProcessEnv if parallel == 'process' else InProcessEnv
    envs = []
    try:
        for index in range(amount):
            ctor = functools.partial(
                make_env, task, seed=seed * 1000 + index, **kwargs)
            envs.append(runner(ctor))
    except BaseException:
        # Ctrl-C and SIGTERM too: no environment process outlives the call.
        for env in envs:
            env.close()
        raise
    return envs
