"""Does each skill head of a trained MRS manager steer the imagined future?
From posterior states of replay chunks the probe imagines imag_horizon
steps with the choice forced to each head (the agent's own policy, choice
'fixed:i'), several times per start state with independently sampled
skills z, then with z shared by the samples of a start (the spread left
comes from the worker's actions and the model's stochastic states). Both
decide on the hierarchy's own decision steps (Hierarchy.pursue).
scripts/controllability.py prints and writes its table; the keys are
described there. TensorFlow is imported only inside functions."""

import numpy as np

import embodied

STARTS_PER_CHUNK = 16  # Fewer starts per replay chunk: less correlated.
STAT_KEYS = (
    'return', 'return_std', 'return_std_shared_z', 'state_spread',
    'state_spread_shared_z')


def start_states(agent, directory, count, rng):
    """`count` posterior states [count, ...] at random steps of replay
    chunks."""
    import tensorflow as tf
    replay = embodied.Replay(
        directory, agent.config.replay.size, agent.config.replay.chunk,
        seed=int(rng.integers(2 ** 31)), log=lambda _: None)
    if not replay.load():
        raise SystemExit(f'no replay episodes in {directory}')
    chunks = -(-count // STARTS_PER_CHUNK)
    post = agent.observe(replay.sample(chunks))
    flat = {k: tf.reshape(v, [-1] + v.shape[2:].as_list())
            for k, v in post.items()}
    total = int(flat['deter'].shape[0])
    index = rng.choice(total, count, replace=count > total)
    return {k: tf.gather(v, index) for k, v in flat.items()}


def probe(agent, starts, samples):
    """One row of statistics (see the module docstring) per skill head."""
    import tensorflow as tf
    from mrs_tf import nets
    from mrs_tf.distributions import normalized_entropy
    hierarchy = agent.hierarchy
    hierarchy.require_manager('controllability probes')
    heads, choice = hierarchy.manager.actor(nets.sg(starts))
    choice_probs = (
        tf.reduce_mean(choice.probs_parameter(), 0).numpy()
        if choice is not None else np.ones(1))
    tiled = {k: tf.repeat(v, samples, 0) for k, v in starts.items()}
    tiled['is_terminal'] = tf.zeros([tiled['deter'].shape[0]])
    rows = []
    for index, name in enumerate(hierarchy.skills.skills):
        varied = imagine(agent, tiled, fixed_head_policy(hierarchy, index))
        shared = imagine(agent, tiled, shared_z_policy(
            hierarchy, index, samples))
        stats = {**spread_stats(varied, samples, ''),
                 **spread_stats(shared, samples, '_shared_z')}
        goals = varied['goal'][0].numpy()
        rows.append({
            'head': str(name),
            'entropy': float(tf.reduce_mean(
                normalized_entropy(heads[index]))),
            'choice_prob': float(choice_probs[index]),
            'goal_spread': goal_spread(
                goals.reshape(-1, samples, goals.shape[-1])),
            **{key: stats[key] for key in STAT_KEYS}})
    return rows


def fixed_head_policy(hierarchy, index):
    choice = f'fixed:{index}'

    def policy(state, carry, t):
        dist, carry = hierarchy.policy(state, carry, choice=choice)
        return dist.sample(), carry
    return policy


def shared_z_policy(hierarchy, index, samples):
    """Like fixed_head_policy, but at every decision all samples of a start
    get the z drawn for the first of them; each decodes it from its own
    state. The carry's skill is left as it was: the probe reads goals."""
    import tensorflow as tf
    from mrs_tf import nets
    meta, skills = hierarchy.manager.actor, hierarchy.skills

    def policy(state, carry, t):
        def propose():
            first = {k: v[::samples] for k, v in state.items()}
            heads, _ = meta(nets.sg(first))
            z = tf.repeat(heads[index].sample(), samples, 0)
            goal = skills.decode(
                skills.skills[index], z, tf.cast(state['deter'], tf.float32))
            return {'skill': carry['skill'], 'goal': goal.mode()}
        dist, carry = hierarchy.pursue(state, carry, propose)
        return dist.sample(), carry
    return policy


def imagine(agent, start, policy):
    import tensorflow as tf
    traj = agent.hierarchy.imagine(start, policy)
    traj['deter'] = tf.cast(traj['deter'], tf.float32)
    return traj


def spread_stats(traj, samples, suffix):
    returns = traj['reward_extr'].numpy().sum(0).reshape(-1, samples)
    final = traj['deter'][-1].numpy()
    final = final.reshape(-1, samples, final.shape[-1])
    deviation = final - final.mean(1, keepdims=True)
    spread = np.sqrt((deviation ** 2).sum(-1).mean(1))
    norm = np.linalg.norm(final, axis=-1).mean(1)
    return {
        f'return{suffix}': float(returns.mean()),
        f'return_std{suffix}': float(returns.std(1).mean()),
        f'state_spread{suffix}': float((spread / norm).mean()),
    }


def goal_spread(goals):
    """Mean pairwise distance between the goals [starts, samples, D] of the
    same start, over the mean goal norm."""
    samples = goals.shape[1]
    distances = np.linalg.norm(goals[:, :, None] - goals[:, None], axis=-1)
    pairwise = distances.sum((1, 2)) / (samples * (samples - 1))
    norm = np.linalg.norm(goals, axis=-1).mean()
    return float(pairwise.mean() / max(norm, 1e-8))

