"""Counting a traced graph's floating-point operations (for the
benchmark and the precision tests)."""

import tensorflow as tf


def graph_flops(graph):
    """Float operations of a graph, from tf.compat.v1.profiler."""
    profiler = tf.compat.v1.profiler
    options = profiler.ProfileOptionBuilder(
        profiler.ProfileOptionBuilder.float_operation()).with_empty_output()
    return int(profiler.profile(graph, options=options.build()).total_float_ops)


def step_flops(agent, data, obs):
    """Floating-point operations of one train step of `agent` on the batch
    `data` and of one policy step on the observations `obs` (a batch of
    environments), counted by TensorFlow's profiler on the traced graphs
    (ops it has no count for add nothing)."""
    return {name: graph_flops(graph)
            for name, graph in agent.graphs(data, obs).items()}
