import numpy as np


def episode_metrics(episode, video_keys=()):
    """Score, length, the mean of every `log_*` key the policy recorded
    (per element for vectors) and, for the given image keys, the episode as
    a video."""
    metrics = {
        'score': float(episode['reward'].astype(np.float64).sum()),
        'length': len(episode['reward']) - 1,
    }
    for key, value in episode.items():
        if key.startswith('log_'):
            mean = value[1:].astype(np.float64).mean(0)
            if mean.ndim == 0:
                metrics[f'mean_{key}'] = float(mean)
            else:
                for index, element in enumerate(mean.reshape(-1)):
                    metrics[f'mean_{key}_{index}'] = float(element)
    for key in video_keys:
        if key in episode:
            metrics[f'video_{key}'] = episode[key]
    return metrics
