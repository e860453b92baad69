"""Views of an imagined trajectory for the worker and the manager.

A trajectory is a dict of tensors with time as the first axis. State-like
keys have T + 1 steps; keys containing 'reward' have T steps, where
reward[t] belongs to the transition from step t to step t + 1. T must be a
multiple of the manager interval k.
"""

import tensorflow as tf


def split_traj(traj, k, discount):
    """Cuts the trajectory into T / k pieces of k steps for the worker.

    Piece n covers steps n*k .. (n+1)*k, so neighbouring pieces share a
    step. Pieces are stacked into the batch axis at index n * B + b: state
    keys become [k + 1, N * B, ...], reward keys [k, N * B, ...]. In every
    piece the goal of the last step is replaced by the piece's own goal, so
    the worker bootstraps against the goal it was pursuing, not the next one.
    Adds 'weight', the discounted continuation product over the piece.
    """
    _check_horizon(traj, k)
    pieces = {}
    for key, value in traj.items():
        shared = 0 if 'reward' in key else 1
        pieces[key] = _merge_piece_and_batch(_windows(value, k, shared))
    goal = pieces['goal']
    pieces['goal'] = tf.concat([goal[:-1], goal[:1]], 0)
    pieces['weight'] = _weight(pieces['cont'], discount)
    return pieces


def abstract_traj(traj, k, discount):
    """Summarises the trajectory at one step per k steps for the manager.

    The skill becomes the action (the 'skill' key is removed). State keys
    keep steps 0, k, ..., T. Rewards become the mean over each block of
    reward[t] * cont[block start] * ... * cont[t]; the continuation product
    starts at the block's first state, like Director. cont becomes cont[0]
    followed by the product of cont over each block's k next states.
    Adds 'weight', the discounted continuation product.
    """
    _check_horizon(traj, k)
    traj = dict(traj)
    traj['action'] = traj.pop('skill')
    cont = traj['cont']
    reward_weight = tf.math.cumprod(_blocks(cont[:-1], k), 1)
    abstract = {}
    for key, value in traj.items():
        if 'reward' in key:
            weighted = _blocks(value, k) * reward_weight
            abstract[key] = tf.reduce_mean(weighted, 1)
        elif key == 'cont':
            block_cont = tf.reduce_prod(_blocks(cont[1:], k), 1)
            abstract[key] = tf.concat([cont[:1], block_cont], 0)
        else:
            abstract[key] = value[::k]
    abstract['weight'] = _weight(abstract['cont'], discount)
    return abstract


def goal_reward_cosine_max(deter, goal):
    """Worker reward <g, s> / max(|g|, |s|)^2 for steps 1 .. T.

    Unlike the cosine, it is maximal (1) only when the state equals the goal
    in direction and magnitude. No gradient flows into the goal.
    """
    goal = tf.stop_gradient(goal)
    goal_norm = tf.norm(goal, axis=-1, keepdims=True) + 1e-12
    deter_norm = tf.norm(deter, axis=-1, keepdims=True) + 1e-12
    norm = tf.maximum(goal_norm, deter_norm)
    return tf.reduce_sum((goal / norm) * (deter / norm), -1)[1:]


def _check_horizon(traj, k):
    horizon = traj['cont'].shape[0] - 1
    if horizon % k:
        raise ValueError(f'Horizon {horizon} is not a multiple of {k}.')
    return horizon


def _blocks(x, k):
    # [T, B, ...] -> [T / k, k, B, ...]
    return tf.reshape(x, [x.shape[0] // k, k, -1] + list(x.shape[2:]))


def _windows(x, k, shared):
    """[T, ...] -> [k + shared, T // k, ...]: piece n is x[n*k : n*k + k +
    shared]. Cut by one split, whose gradient is one concat; a slice per
    piece would write a zero tensor of x's full size in its gradient."""
    count = (x.shape[0] - shared) // k
    if not shared:
        return tf.stack(tf.split(x, count), 1)
    # Piece n is [step n*k, steps n*k+1 .. n*k+k-1, step (n+1)*k].
    parts = tf.split(x, [1, k - 1] * count + [1])
    starts, middles = parts[0::2], parts[1::2]
    return tf.stack([
        tf.concat([starts[n], middles[n], starts[n + 1]], 0)
        for n in range(count)], 1)


def _merge_piece_and_batch(windows):
    # [steps, pieces, batch, ...] -> [steps, pieces * batch, ...]
    steps = windows.shape[0]
    return tf.reshape(windows, [steps, -1] + list(windows.shape[3:]))


def _weight(cont, discount):
    # Divided by the discount so the first step gets weight cont[0].
    return tf.math.cumprod(discount * cont, 0) / discount
