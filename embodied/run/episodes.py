import numpy as np


def episode_metrics(episode, video_keys=()):
    """Score, length and (for the given image keys) the episode as a video."""
    metrics = {
        'score': float(episode['reward'].astype(np.float64).sum()),
        'length': len(episode['reward']) - 1,
    }
    for key in video_keys:
        if key in episode:
            metrics[f'video_{key}'] = episode[key]
    return metrics
