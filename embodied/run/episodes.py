import re

import numpy as np


def episode_metrics(episode, video_keys=(), max_keys='^$'):
    """Score, length, the mean of every `log_*` key the policy or the
    environment recorded (per element for vectors; the maximum instead for
    keys that match the regex `max_keys`, e.g. Crafter's achievement
    counts) and, for the given image keys, the episode as a video."""
    metrics = {
        'score': float(episode['reward'].astype(np.float64).sum()),
        'length': len(episode['reward']) - 1,
    }
    for key, value in episode.items():
        if key.startswith('log_'):
            values = value[1:].astype(np.float64)
            kind = 'max' if re.search(max_keys, key) else 'mean'
            summary = values.max(0) if kind == 'max' else values.mean(0)
            if summary.ndim == 0:
                metrics[f'{kind}_{key}'] = float(summary)
            else:
                for index, element in enumerate(summary.reshape(-1)):
                    metrics[f'{kind}_{key}_{index}'] = float(element)
    for key in video_keys:
        if key in episode:
            metrics[f'video_{key}'] = episode[key]
    return metrics
