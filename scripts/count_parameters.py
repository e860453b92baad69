"""Prints per-module trainable parameter counts as one JSON object:

    python -m mrs_tf.inspect --configs dmc_vision director

Takes the same presets and flags as train.py. `total` sums the optimised
parameters (the critics' slow target copies are listed but not summed).
Module names follow upstream Director's, so counts can be compared.
"""

import json
import sys

import numpy as np
import tensorflow as tf


def count_parameters(agent):
    wm, hier = agent.wm, agent.hierarchy
    skills = hier.skills
    counts = {
        'wm/encoder': _count(wm.encoder),
        'wm/rssm': _count(wm.rssm),
        'wm/decoder': _count(wm.heads['decoder']),
        'wm/reward_head': _count(wm.heads['reward']),
        'wm/cont_head': _count(wm.heads['cont']),
    }
    counts['wm/total_optimized'] = sum(counts.values())
    counts['hier/goal_encoder'] = _count(skills.encoder, skills.encoder_heads)
    counts['hier/goal_decoder'] = _count(
        skills.decoder_inputs, skills.decoder, skills.decoder_head)
    for name, actor_critic in (
            ('manager', hier.manager), ('worker', hier.worker)):
        counts[f'hier/{name}_actor'] = _count(actor_critic.actor)
        for key, critic in actor_critic.critics.items():
            counts[f'hier/{name}_critic_{key}/net'] = _count(critic.net)
            counts[f'hier/{name}_critic_{key}/slow_target'] = _count(
                critic.target_net)
    counts['total'] = sum(
        v for k, v in counts.items()
        if k != 'wm/total_optimized' and not k.endswith('slow_target'))
    return counts


def _count(*modules):
    variables = {}
    for module in tf.nest.flatten(modules):
        for var in module.trainable_variables:
            variables[var.ref()] = var
    return int(sum(np.prod(v.shape) for v in variables.values()))


def build(agent):
    """Creates every variable by one eager train step on a batch of zeros
    long enough for the longest skill."""
    lengths = agent.hierarchy.skills.lengths
    steps = max(lengths, default=1) + 1
    data = {
        k: np.zeros((1, steps) + v.shape, v.dtype)
        for k, v in agent.obs_space.items()}
    data['action'] = np.zeros((1, steps) + agent.act_space.shape, np.float32)
    agent._train(agent._inputs(data))


def main(argv):
    import embodied
    import train
    from .agent import Agent, setup_tensorflow
    config = train.parse_config(argv).update(agent='mrs')
    env = train.make_envs(config, 1, seed=config.seed)[0]
    obs_space, act_space = env.obs_space, env.act_space
    env.close()
    setup_tensorflow(config)
    agent = Agent(obs_space, act_space, embodied.Counter(), config)
    build(agent)
    print(json.dumps(count_parameters(agent), indent=1))


if __name__ == '__main__':
    main(sys.argv[1:])
