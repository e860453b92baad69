"""Does each skill head of a trained MRS manager steer the imagined future?
The probe behind docs/RESULTS.md's diagnosis of collapsed skill modules:

    python scripts/controllability.py --logdir LOGDIR [--checkpoint DIR] \
        [--starts 256] [--samples 8] [--out FILE.json]

From posterior states of replay chunks it imagines imag_horizon steps with
the choice forced to each head (the agent's own policy, choice 'fixed:i'),
--samples times per start state with independently sampled skills z. It
then does the same with z shared by the samples of a start: what spread is
left then comes from the worker's actions and the model's stochastic
states, not from z. Per head it prints and writes:

  entropy             the head's normalised entropy at the start states
  choice_prob         the learned choice head's probability of the head
  goal_spread         mean distance between goals decoded from different z
                      at the same start, over the mean goal norm
                      (0: the module ignores z)
  return              mean imagined extrinsic return (sum over the horizon)
  return_std          std of that return across z at the same start
                      (population std, ddof=0: a spread, not an error bar)
  return_std_shared_z the same with z shared (the noise floor)
  state_spread        std (ddof=0) of the final deter state across z, over
                      its norm
  state_spread_shared_z  the same with z shared

goal_spread separates informative skill modules from collapsed ones (on
cartpole at the cpu_small size: 0.07-0.17 for the finite heads of a
collapsed run, 0.16-0.31 for a learning one). The return and state spreads
say whether z matters over the imagination horizon beyond the worker's
own action noise; there, both runs stayed at their shared-z floors
(docs/RESULTS.md). Like analyze.py, this file imports TensorFlow only
inside functions.
"""

import argparse
import json
import pathlib

import numpy as np

import analyze
import embodied
from mrs_tf import configs, launch
from mrs_tf.command import command

STARTS_PER_CHUNK = 16  # Fewer starts per replay chunk: less correlated.
STAT_KEYS = (
    'return', 'return_std', 'return_std_shared_z', 'state_spread',
    'state_spread_shared_z')


def main(argv=None):
    args = parse_args(argv)
    config = configs.load_run(args.logdir)
    agent, checkpoint = load_agent(config, args)
    import tensorflow as tf
    tf.random.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with agent.scope():
        starts = start_states(
            agent, args.logdir / 'replay', args.starts, rng)
        rows = probe(agent, starts, args.samples)
    print(f'{checkpoint}: {args.starts} start states x {args.samples} z')
    print(format_table(rows))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            'checkpoint': str(checkpoint), 'starts': args.starts,
            'samples': args.samples, 'heads': rows}, indent=1))
        print(args.out)
    return rows


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--logdir', required=True, type=pathlib.Path)
    parser.add_argument(
        '--checkpoint', type=pathlib.Path, default=None,
        help='a ckpt-* directory (default: the newest of the logdir)')
    parser.add_argument('--starts', type=int, default=256)
    parser.add_argument('--samples', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', type=pathlib.Path, default=None)
    args = parser.parse_args(argv)
    if args.samples < 2:
        parser.error('--samples must be at least 2 to measure a spread')
    return args


def load_agent(config, args):
    """The run's agent with the checkpoint's weights; one environment (in
    its own process) supplies the spaces."""
    config = config.update({'env.parallel': 'process'})
    obs_space, act_space = launch.env_spaces(config, seed=args.seed)
    return analyze.load_agent(config, obs_space, act_space, args)


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
    state."""
    import tensorflow as tf
    from mrs_tf import nets
    meta, skills = hierarchy.manager.actor, hierarchy.skills

    def policy(state, carry, t):
        first = {
            k: v[::samples] for k, v in state.items()}
        heads, _ = meta(nets.sg(first))
        z = tf.repeat(heads[index].sample(), samples, 0)
        goal = skills.decode(
            skills.skills[index], z, tf.cast(state['deter'], tf.float32))
        switch = carry['step'] % hierarchy.duration == 0
        carry = {
            **carry, 'step': carry['step'] + 1,
            'goal': nets.where_rows(switch, goal.mode(), carry['goal'])}
        dist = hierarchy.worker.actor(
            nets.sg({**state, 'goal': carry['goal']}))
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


def format_table(rows):
    keys = [k for k in rows[0] if k != 'head']
    widths = [max(len(k), 8) for k in keys]
    lines = ['head  ' + '  '.join(f'{k:>{w}}' for k, w in zip(keys, widths))]
    for row in rows:
        lines.append(f"{row['head']:>4}  " + '  '.join(
            f'{row[k]:{w}.3f}' for k, w in zip(keys, widths)))
    return '\n'.join(lines)

if __name__ == '__main__':
    command(main)
