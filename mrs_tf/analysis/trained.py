"""A trained run's agent for the analyses: loaded from its checkpoint,
rolled out with its evaluation policy, observing replayed episodes, and
its decoded candidate goals (scripts/analyze.py, scripts/controllability.py).
TensorFlow is imported only by the agent: environment processes are
spawned by these programs and must never load it."""

import numpy as np

import embodied
from mrs_tf import launch

IMAGE_KEY = 'image'


def load_agent(config, obs_space, act_space, logdir, checkpoint=None):
    """The run's agent with the weights of `checkpoint` (a ckpt-* directory;
    default: the newest of logdir/checkpoint), and the directory loaded."""
    agent = launch.make_agent(config, obs_space, act_space, announce=False)
    checkpoints = embodied.Checkpoint(logdir / 'checkpoint')
    checkpoints.register('agent', agent)
    loaded = checkpoints.load(checkpoint)
    if loaded is None:
        raise embodied.ConfigError(f'no checkpoint in {logdir / "checkpoint"}')
    return agent, loaded


def load_run_agent(config, logdir, checkpoint=None, seed=0):
    """load_agent with the spaces of one environment of the run's task (in
    its own process)."""
    config = config.update({'env.parallel': 'process'})
    obs_space, act_space = launch.env_spaces(config, seed=seed)
    return load_agent(config, obs_space, act_space, logdir, checkpoint)


def rollout(agent, envs, episodes):
    """Episodes of the evaluation policy; each step also records the
    policy's latent deter state as log_deter."""
    driver = embodied.Driver(envs)

    def policy(obs, state):
        outs, state = agent.policy(obs, state, mode='eval')
        outs['log_deter'] = np.asarray(state[0]['deter'], np.float32)
        return outs, state

    return driver.collect_episodes(policy, episodes)[:episodes]


def replay_episodes(directory):
    episodes = []
    for path in sorted(directory.glob('*.npz')):
        with np.load(path) as data:
            episodes.append({k: data[k] for k in data.files})
    return episodes


def random_starts(episodes, count, rng):
    """(episode, t) pairs drawn uniformly over episodes, then steps."""
    return [
        (episodes[i], rng.integers(len(episodes[i]['is_first'])))
        for i in rng.integers(len(episodes), size=count)]


def posterior_at(agent, episode, t):
    """The world model's posterior state [1, ...] after observing the
    episode up to and including step t."""
    post = agent.observe({k: v[None, :t + 1] for k, v in episode.items()})
    return {k: v[:, -1] for k, v in post.items()}


def decode_goals(agent, starts):
    """For (episode, t) pairs: the observed frames [R, H, W, C], the
    decoded candidate goals [R, N, H, W, C] (uint8) from the posterior
    state at t, and the resolution the choice head picks there [R]."""
    latents = [posterior_at(agent, episode, t) for episode, t in starts]
    latent = {
        k: np.concatenate([l[k] for l in latents], 0) for k in latents[0]}
    goals, chosen = agent.goal_observations(latent)
    frames = np.stack([episode[IMAGE_KEY][t] for episode, t in starts])
    return frames, _to_uint8(goals[IMAGE_KEY]), chosen


def goal_distances(agent, starts, resolutions):
    """Proprio runs: per resolution, how far its decoded goal lies from the
    observed state at the (episode, t) `starts`, and from the state l steps
    later in the episode (finite l, where the episode lasts), against how
    far the state really moved in l steps; with the share of starts at
    which the choice head picks it. Returns the decoder keys measured and
    {resolution: distances}."""
    keys = sorted(agent.wm.heads['decoder'].mlp_shapes)
    latents = [posterior_at(agent, episode, t) for episode, t in starts]
    latent = {
        k: np.concatenate([l[k] for l in latents], 0) for k in latents[0]}
    goals, chosen = agent.goal_observations(latent)
    flat = lambda parts: np.concatenate(
        [np.reshape(p, p.shape[:1] + (-1,)) for p in parts], -1)
    goal = np.stack([
        flat([goals[k][:, i] for k in keys]) for i in range(len(resolutions))],
        1)
    observed = lambda offset: flat([np.stack([
        episode[k][min(t + offset, len(episode[k]) - 1)]
        for episode, t in starts]) for k in keys])
    now = observed(0)
    summary = {}
    for i, name in enumerate(resolutions):
        entry = {
            'goal_to_now': float(np.linalg.norm(goal[:, i] - now, axis=-1)
                                 .mean()),
            'chosen_share': float((chosen == i).mean())}
        if name != 'inf':
            length = int(name)
            valid = np.array([
                t + length < len(episode['is_first'])
                for episode, t in starts])
            later = observed(length)[valid]
            entry.update(
                goal_to_later=float(np.linalg.norm(
                    goal[valid, i] - later, axis=-1).mean()),
                later_to_now=float(np.linalg.norm(
                    later - now[valid], axis=-1).mean()),
                starts_with_later=int(valid.sum()))
        summary[name] = entry
    return keys, summary


def _to_uint8(images):
    images = np.clip(np.asarray(images, np.float32), 0, 1)
    return (images * 255).astype(np.uint8)
