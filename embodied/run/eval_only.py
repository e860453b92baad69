"""Loads a checkpoint, runs episodes with the agent's evaluation policy
(`policy(obs, state, mode='eval')`) and writes their scores as JSON, one
file per evaluation variant, so evaluations of different variants sit side
by side: <logdir>/eval_scores_<variant>.json.

What it asks of the agent beyond policy() and load() (see README, Your own
agent):

    eval_variant()         called once the weights are loaded: the name of
                           the evaluation policy (any string; made
                           file-name safe for the file and metric names);
                           raises ConfigError if the loaded weights cannot
                           run it
    eval_summary(metrics)  extra fields for the scores file from the
                           episodes' episode_metrics() dicts (e.g. how
                           often the agent took each option)
"""

import json
import pathlib
import re
import time

import numpy as np

from .episodes import episode_metrics
from .progress import Progress
from .stop_signals import StopSignals, Stopped


def eval_only(agent, driver, logger, checkpoint, config, path=None,
              clock=time.monotonic):
    loaded = checkpoint.load(path or None)
    if loaded is None:
        raise FileNotFoundError(
            f'no checkpoint to evaluate in {checkpoint.directory}; pass '
            '--from_checkpoint or train first')
    # Whether the weights can run the variant is known once they are loaded.
    variant = agent.eval_variant()
    stop = StopSignals()

    def policy(obs, state):  # Its first call traces: a stop cuts it short.
        with stop.interruptible():
            return agent.policy(obs, state, mode='eval')

    driver.on_step(lambda tran, worker: stop.check())
    progress = Progress(
        config.run.progress_every, repeat=config.env.repeat, clock=clock)
    progress.report_from(driver)
    progress.start('eval', config.run.eval_eps, 'episodes')
    try:
        with stop:
            episodes = driver.collect_episodes(policy, config.run.eval_eps)
    except Stopped as e:
        # Fewer episodes than asked for would pass for a full evaluation.
        print(f'{e.name}: evaluation stopped before {config.run.eval_eps} '
              'episodes finished; no scores written.')
        return None
    episodes = episodes[:config.run.eval_eps]
    video_keys = tuple(config.run.video_keys)
    metrics = [
        episode_metrics(
            episode, video_keys if index == 0 else (),
            config.run.log_keys_max)
        for index, episode in enumerate(episodes)]
    tag = file_tag(variant)
    # Not 'eval_episode': these episodes must not enter the learning curves
    # that training writes to the same metrics.jsonl.
    prefix = f'eval_only_{tag}'
    for summary in metrics:
        logger.add(summary, prefix=prefix)
        # One write per episode: metrics.jsonl keeps one value per name and
        # write, and all these episodes share the checkpoint's step.
        logger.write()
    scores = [m['score'] for m in metrics]
    logger.scalar(f'{prefix}/mean_score', np.mean(scores))
    logger.write()
    result = summarize(metrics, config.task, variant, loaded)
    result.update(agent.eval_summary(metrics))
    path = pathlib.Path(config.logdir) / f'eval_scores_{tag}.json'
    path.write_text(json.dumps(result, indent=2) + '\n')
    spread = ('' if result['std'] is None else
              f" ± {result['std']:.2f} (sample std, ddof=1)")
    print(f'Evaluated {len(scores)} episodes with variant '
          f"{variant}: mean {result['mean']:.2f}{spread} -> "
          f'{path}')
    return result


def file_tag(variant):
    """The variant as a file-name-safe word: fixed:1 -> fixed_1."""
    return re.sub(r'[^A-Za-z0-9_-]', '_', variant)


def summarize(metrics, task, variant, checkpoint):
    scores = [m['score'] for m in metrics]
    return {
        'checkpoint': str(checkpoint), 'task': task, 'variant': variant,
        'episodes': len(scores), 'scores': scores,
        'mean': float(np.mean(scores)),
        # Sample std over episodes; none for one episode.
        'std': float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
        'std_ddof': 1,
    }
