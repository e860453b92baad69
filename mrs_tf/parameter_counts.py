"""Trainable parameters per module, under upstream Director's module names
so the counts can be compared with its."""

import numpy as np
import tensorflow as tf


def count_for_flags(argv):
    """count() of the agent that train.py would build for these flags
    (an MRS agent, whatever `agent` says)."""
    from . import configs, launch
    config = configs.parse(argv).update(agent='mrs')
    agent = launch.make_agent(config, announce=False)
    agent.build()
    return count(agent)


def count(agent):
    """{name: parameters}; `total` sums the optimised ones (the critics'
    slow target copies are listed but not summed); flat has no goal
    autoencoder and no manager entries. The agent's variables must exist
    (Agent.build)."""
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
    if skills:
        counts['hier/goal_encoder'] = _count(
            skills.encoder, skills.encoder_heads)
        counts['hier/goal_decoder'] = _count(
            skills.decoder_inputs, skills.decoder, skills.decoder_head)
    for name, actor_critic in (
            ('manager', hier.manager), ('worker', hier.worker)):
        if not actor_critic:
            continue
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
