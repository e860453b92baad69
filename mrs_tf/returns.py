"""Lambda-returns used as critic targets and actor scores (paper App. C,
Eq. 8-11, after Director)."""

import tensorflow as tf


def lambda_return(reward, value, cont, discount, lam):
    """TD(lambda) return of an imagined trajectory, bootstrapped at the end.

    reward: [T, ...], reward of the transition from step t to step t + 1.
    value: [T + 1, ...], critic value of every state.
    cont: [T + 1, ...], continuation flag (or probability) of every state.

    With d_t = discount * cont[t + 1]:
        R_T = value[T]
        R_t = reward[t] + d_t * ((1 - lam) * value[t + 1] + lam * R_{t + 1})

    Returns (returns [T, ...], baseline [T, ...]) with baseline = value[:-1].
    """
    horizon = reward.shape[0]
    if value.shape[0] != horizon + 1 or cont.shape[0] != horizon + 1:
        raise ValueError(
            f'Need value and cont of length {horizon + 1} for {horizon} '
            f'rewards, got {value.shape[0]} and {cont.shape[0]}.')
    disc = cont[1:] * discount
    one_step = reward + disc * value[1:] * (1 - lam)
    one_step, disc = tf.unstack(one_step), tf.unstack(disc)
    ret = value[-1]
    returns = []
    for t in reversed(range(horizon)):
        ret = one_step[t] + disc[t] * lam * ret
        returns.append(ret)
    return tf.stack(returns[::-1]), value[:-1]
