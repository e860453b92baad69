"""Acting, training and periodic evaluation in one loop (Director's schedule:
one train call every `run.train_every` environment steps)."""

import collections
import pathlib
import time

import numpy as np

from .. import when
from ..checkpoint import Checkpoint
from ..random_agent import RandomAgent
from ..timer import Timer
from .episodes import episode_metrics
from .progress import Progress
from .stop_signals import StopSignals, Stopped


class NonFiniteError(RuntimeError):
    """A loss or gradient norm became NaN or infinite."""


def train(agent, driver, eval_driver, replay, logger, checkpoint, config,
          clock=time.monotonic):
    run = config.run
    step = logger.step
    timer = Timer()
    timer.wrap('agent', agent, ['policy', 'train', 'report'])
    should_train = when.Every(run.train_every)
    should_log = when.Every(run.log_every)
    should_video = when.Every(run.video_every)
    should_eval = when.Every(run.eval_every)
    should_save = when.Every(run.save_every)
    video_keys = tuple(run.video_keys)

    def log_episode(episode, worker):
        keys = video_keys if should_video(step) else ()
        logger.add(
            episode_metrics(episode, keys, run.log_keys_max),
            prefix='episode')
        logger.add(replay.stats, prefix='replay')
        logger.write()

    def log_restart(worker):
        logger.add({'restarts': driver.restarts, 'restarted_worker': worker},
                   prefix='env')
        logger.write()

    driver.on_step(lambda tran, worker: step.increment())
    driver.on_step(replay.add)
    driver.on_restart(replay.drop)
    driver.on_restart(log_restart)
    driver.on_episode(log_episode)
    progress = Progress(
        run.progress_every, step, run.steps, config.env.repeat, run.eval_eps,
        clock)
    progress.report_from(driver, eval_driver)

    restored = checkpoint.load() is not None
    if not restored and config.from_checkpoint:
        _load_pretrained(agent, config.from_checkpoint)
    elif not restored:
        print('No checkpoint found: starting a new run.')
    # One resume rule (docs/RUNNING.md, Resuming): the run goes on from the restored
    # step, or from step 0 without a checkpoint, and what a killed attempt
    # logged or stored after that step is dropped.
    logger.resume(restored)
    loaded = replay.load(until=int(step))
    print(f'Replay holds {len(replay)} steps ({loaded} episodes loaded '
          f'from {replay.directory}).')
    # Checked after every environment step, evaluation's too: a stop never
    # waits for an episode to end.
    stop = StopSignals()
    driver.on_step(lambda tran, worker: stop.check())
    eval_driver.on_step(lambda tran, worker: stop.check())
    batches = None
    metrics = collections.defaultdict(list)
    counts = {'train': 0, 'time': time.time()}

    def train_step(tran, worker):
        if not should_train(step):
            return
        for _ in range(run.train_steps):
            with timer.section('replay.sample'):
                batch = next(batches)
            with stop.interruptible():
                state[0], mets = agent.train(batch, state[0])
            counts['train'] += 1
            progress.train_step()
            if run.check_finite_every_step:
                check_finite(mets, step)
            for key, value in mets.items():
                metrics[key].append(value)
        if should_log(step):
            _log_training(logger, agent, batch, metrics, timer, counts, stop)

    # Agent calls may be cut short by a stop: the first ones trace (a
    # minute at debug size), and no environment is mid-step meanwhile.
    def policy(obs, state, mode='train'):
        with stop.interruptible():
            return agent.policy(obs, state, mode=mode)

    state = [None]
    eval_policy = lambda obs, state: policy(obs, state, mode='eval')
    try:
        with stop:
            _prefill(driver, replay, config, progress)
            batches = agent.dataset(lambda: replay.dataset(config.batch_size))
            driver.on_step(train_step)
            print('Start training loop.')
            progress.start('train')
            while step < run.steps:
                # 0 turns evaluation or saving off: it sets no period.
                period = min(
                    [p for p in (run.eval_every, run.save_every) if p > 0],
                    default=run.steps)
                driver(policy, steps=min(period, run.steps - int(step)))
                if should_eval(step) and run.eval_eps:
                    _evaluate(
                        eval_driver, eval_policy, logger, run.eval_eps,
                        video_keys, run.log_keys_max)
                if should_save(step):
                    check_finite(metrics, step)  # Never save diverged weights.
                    checkpoint.save(step)
    except Stopped as e:
        print(f'{e.name}: saving a checkpoint at step {int(step)} (again to '
              'quit at once); the same command resumes the run.')
    finally:
        # The driver keeps train_step, and with it the prefetching batch
        # iterator, until interpreter exit, where finalising the iterator
        # fails (a TensorFlow warning line). Released here instead.
        batches = None
    check_finite(metrics, step)
    checkpoint.save(step)
    logger.write()


def _load_pretrained(agent, path):
    """Starts from the weights of another run (a logdir or one of its
    ckpt-* directories); the step counter and replay start fresh."""
    path = pathlib.Path(path)
    logdir = (path / 'checkpoint').is_dir()
    pretrained = Checkpoint(path / 'checkpoint' if logdir else path.parent)
    pretrained.register('agent', agent)
    loaded = pretrained.load(None if logdir else path)
    if loaded is None:
        raise FileNotFoundError(f'no checkpoint to start from in {path}')
    print(f'Fine-tuning from the weights of {loaded}.')


def _prefill(driver, replay, config, progress):
    needed = config.run.train_fill - len(replay)
    if needed <= 0 and replay.stats['sampleable']:
        return
    print(f'Prefilling replay with a random policy ({max(needed, 0)} steps, '
          'then until an episode can be sampled).')
    progress.start('prefill', max(needed, 0))
    random_agent = RandomAgent(driver.act_space, seed=config.seed)
    policy = lambda obs, state: random_agent.policy(obs, state)
    driver(policy, steps=max(needed, 0))
    while not replay.stats['sampleable']:
        driver(policy, episodes=1)


def check_finite(metrics, step):
    """Raises on the first loss or gradient norm that is not finite; costs
    nothing extra at log time, where the values are on the host anyway."""
    for name, values in metrics.items():
        if ('loss' in name or 'grad_norm' in name) and \
                not np.isfinite(values).all():
            raise NonFiniteError(
                f'train/{name} is not finite at step {int(step)}; the run '
                'stopped and its last checkpoint was kept')


def mean_metrics(metrics):
    """Each metric's mean over the train calls since the last log. A
    gradient norm `X_grad_norm` is averaged over the calls whose step was
    applied (`X_grad_overflow` 0): a skipped float16 step reports 0."""
    means = {}
    for name, values in metrics.items():
        skipped = metrics.get(name.replace('_grad_norm', '_grad_overflow'))
        if name.endswith('_grad_norm') and skipped is not None:
            applied = [v for v, s in zip(values, skipped) if not s]
            values = applied or [np.nan]
        means[name] = np.mean(values, dtype=np.float64)
    return means


def _log_training(logger, agent, batch, metrics, timer, counts, stop):
    check_finite(metrics, logger.step)
    with stop.interruptible():  # Not the writes: no half line in the logs.
        report = agent.report(batch)
    for name, value in mean_metrics(metrics).items():
        logger.scalar('train/' + name, value)
    metrics.clear()
    logger.add(report, prefix='report')
    logger.add(timer.stats(), prefix='timer')
    now = time.time()
    logger.scalar(
        'fps/train', counts['train'] / max(now - counts['time'], 1e-9))
    counts['train'], counts['time'] = 0, now
    logger.write(fps=True)


def _evaluate(eval_driver, policy, logger, episodes, video_keys, max_keys):
    print(f'Evaluating {episodes} episodes at step {int(logger.step)}.')
    eval_driver.reset()
    finished = eval_driver.collect_episodes(policy, episodes)
    for index, episode in enumerate(finished):
        keys = video_keys if index == 0 else ()
        logger.add(
            episode_metrics(episode, keys, max_keys), prefix='eval_episode')
        logger.write()
    scores = [episode_metrics(ep)['score'] for ep in finished]
    logger.scalar('eval_episode/mean_score', np.mean(scores))
    logger.write()
