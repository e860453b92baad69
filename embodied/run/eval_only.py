"""Loads a checkpoint, runs episodes with the evaluation policy and writes
their scores and choice frequencies as JSON, one file per choice policy
(`eval_choice`), so evaluations with different choice policies sit side by
side: <logdir>/eval_scores_learned.json, eval_scores_fixed_1.json, ..."""

import json
import pathlib
import re
import time

import numpy as np

from .episodes import episode_metrics
from .progress import Progress
from .stop_signals import StopSignals, Stopped

CHOICE_KEY = re.compile(r'^mean_log_choice_(\d+)$')


def eval_only(agent, driver, logger, checkpoint, config, path=None,
              clock=time.monotonic):
    loaded = checkpoint.load(path or None)
    if loaded is None:
        raise FileNotFoundError(
            f'no checkpoint to evaluate in {checkpoint.directory}; pass '
            '--from_checkpoint or train first')
    # What was pruned is known once the weights are loaded.
    agent.check_eval_choice()
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
    tag = choice_tag(config.eval_choice)
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
    result = summarize(metrics, config, loaded)
    path = pathlib.Path(config.logdir) / f'eval_scores_{tag}.json'
    path.write_text(json.dumps(result, indent=2) + '\n')
    spread = ('' if result['std'] is None else
              f" ± {result['std']:.2f} (sample std, ddof=1)")
    print(f'Evaluated {len(scores)} episodes with choice '
          f"{config.eval_choice}: mean {result['mean']:.2f}{spread} -> "
          f'{path}')
    return result


def choice_tag(choice):
    """The choice policy as a file-name-safe word: fixed:1 -> fixed_1."""
    return re.sub(r'[^A-Za-z0-9_-]', '_', choice)


def choice_frequencies(metrics):
    """Share of the episode's steps spent on each resolution, in resolution
    order, from episode_metrics' mean_log_choice_<i> entries (empty for an
    agent that records no choice)."""
    found = {
        int(match.group(1)): value for key, value in metrics.items()
        if (match := CHOICE_KEY.match(key))}
    return [found[i] for i in sorted(found)]


def summarize(metrics, config, checkpoint):
    scores = [m['score'] for m in metrics]
    frequencies = [choice_frequencies(m) for m in metrics]
    mean_frequency = np.mean(frequencies, 0).tolist() if frequencies else []
    return {
        'checkpoint': str(checkpoint), 'task': config.task,
        'eval_choice': config.eval_choice,
        'resolutions': list(config.mrs.skills),
        'episodes': len(scores), 'scores': scores,
        'mean': float(np.mean(scores)),
        # Sample std over episodes; none for one episode.
        'std': float(np.std(scores, ddof=1)) if len(scores) > 1 else None,
        'std_ddof': 1,
        'choice_frequencies': frequencies,
        'mean_choice_frequency': mean_frequency,
    }
