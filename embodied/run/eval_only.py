"""Loads a checkpoint, runs episodes with the evaluation policy and writes
their scores as JSON."""

import json
import pathlib

import numpy as np

from .episodes import episode_metrics


def eval_only(agent, driver, logger, checkpoint, config, path=None):
    loaded = checkpoint.load(path or None)
    if loaded is None:
        raise FileNotFoundError(
            f'no checkpoint to evaluate in {checkpoint.directory}; pass '
            '--from_checkpoint or train first')
    policy = lambda obs, state: agent.policy(obs, state, mode='eval')
    episodes = driver.collect_episodes(policy, config.run.eval_eps)
    episodes = episodes[:config.run.eval_eps]
    scores = [episode_metrics(ep)['score'] for ep in episodes]
    for index, episode in enumerate(episodes):
        keys = tuple(config.run.video_keys) if index == 0 else ()
        logger.add(episode_metrics(episode, keys), prefix='eval_episode')
    logger.scalar('eval_episode/mean_score', np.mean(scores))
    logger.write()
    result = {
        'checkpoint': str(loaded), 'task': config.task, 'scores': scores,
        'mean': float(np.mean(scores)), 'std': float(np.std(scores)),
        'episodes': len(scores)}
    path = pathlib.Path(config.logdir) / 'eval_scores.json'
    path.write_text(json.dumps(result, indent=2) + '\n')
    print(f"Evaluated {len(scores)} episodes: mean {result['mean']:.2f} "
          f"± {result['std']:.2f} -> {path}")
    return result

