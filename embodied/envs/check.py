"""Steps environments with random actions and reports their speed.

    python -m embodied.envs.check dmc_walker_walk gymr_fetch_push --steps 100
    python -m embodied.envs.check pinpad_four --no-render

Every task runs in its own spawned process, so a crash in one simulator (or
TensorFlow imported by the caller) cannot affect the others.
"""

import argparse
import concurrent.futures
import multiprocessing
import os
import sys
import time

import numpy as np

from embodied.envs import make_env


def run_in_subprocess(function, *args, **kwargs):
    """Returns function(*args, **kwargs) computed in a fresh spawned process.

    The function must be defined at the top level of an importable module.
    Exceptions raised there are re-raised here.
    """
    context = multiprocessing.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        return pool.submit(function, *args, **kwargs).result()


def random_rollout(task, steps, repeat=1, seed=0, render=True):
    """Steps the task `steps` times with uniform random actions; render
    False leaves out the image (env.render)."""
    start = time.perf_counter()
    env = make_env(task, repeat=repeat, seed=seed, render=render)
    build_seconds = time.perf_counter() - start
    spaces = {
        name: {key: repr(space) for key, space in getattr(env, name).items()}
        for name in ('obs_space', 'act_space')}
    action_space = env.act_space['action']
    rng = np.random.default_rng(seed)
    try:
        env.step({'action': np.zeros(action_space.shape), 'reset': True})
        returns, episode_return = [], 0.0
        start = time.perf_counter()
        for _ in range(steps):
            obs = env.step(
                {'action': action_space.sample(rng), 'reset': False})
            episode_return += float(obs['reward'])
            if obs['is_last']:
                returns.append(episode_return)
                episode_return = 0.0
        seconds = time.perf_counter() - start
    finally:
        env.close()
    return dict(
        **spaces,
        total_return=sum(returns) + episode_return,
        episode_returns=returns,
        steps_per_second=steps / seconds,
        build_seconds=build_seconds)


def gl_info(size=64):
    """The OpenGL vendor, renderer and version that dm_control renders a
    frame with (MUJOCO_GL, default egl), and the frame's mean pixel value.
    Run it in its own process: Mesa crashes next to TensorFlow."""
    os.environ.setdefault('MUJOCO_GL', 'egl')
    from dm_control import suite
    from OpenGL import GL
    physics = suite.load('cartpole', 'swingup').physics
    frame = physics.render(size, size)
    with physics.contexts.gl.make_current():
        info = {
            name.lower(): GL.glGetString(getattr(GL, f'GL_{name}')).decode()
            for name in ('VENDOR', 'RENDERER', 'VERSION')}
    return {'backend': os.environ['MUJOCO_GL'], **info,
            'frame_mean': float(frame.mean())}


def print_report(task, steps, result):
    print(f'== {task}')
    for name in ('obs_space', 'act_space'):
        print(f'{name}:')
        for key, space in result[name].items():
            print(f'  {key}: {space}')
    returns = ', '.join(f'{x:.2f}' for x in result['episode_returns'])
    print(
        f"return over {steps} steps: {result['total_return']:.2f}; "
        f"{len(result['episode_returns'])} episodes ended [{returns}]")
    print(
        f"{result['steps_per_second']:.1f} steps/s, "
        f"built in {result['build_seconds']:.2f}s")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('tasks', nargs='+', metavar='TASK')
    parser.add_argument('--steps', type=int, default=100)
    parser.add_argument('--repeat', type=int, default=1)
    parser.add_argument(
        '--no-render', dest='render', action='store_false',
        help='leave out the image observation (env.render False)')
    args = parser.parse_args(argv)
    failures = []
    for task in args.tasks:
        try:
            result = run_in_subprocess(
                random_rollout, task, args.steps, args.repeat,
                render=args.render)
        except Exception as error:
            message = (str(error).splitlines() or [''])[0]
            failures.append(
                f'FAILED {task}: {type(error).__name__}: {message}')
            continue
        print_report(task, args.steps, result)
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
