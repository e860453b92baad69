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


# Matrix products and convolutions: the ops whose dtype decides a reduced
# precision's speed (tf.tensordot and Linear's parts are MatMuls).
PRODUCT_OPS = (
    'MatMul', 'BatchMatMul', 'BatchMatMulV2', 'BatchMatMulV3', 'Conv2D',
    'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'Conv3D',
    'DepthwiseConv2dNative', 'Einsum')
# Ops that run other functions: their bodies are not in the graph's ops.
CALL_OPS = (
    'While', 'StatelessWhile', 'If', 'StatelessIf', 'Case', 'StatelessCase',
    'PartitionedCall', 'StatefulPartitionedCall')


def product_flops_by_dtype(graph):
    """{dtype name: FLOPs} of the graph's matrix products and convolutions
    (PRODUCT_OPS, the counts of TensorFlow's profiler), by the dtype they
    compute in as traced. Raises for an op it cannot count (an Einsum, a
    product of unknown shape) and for a graph that calls functions (a
    tf.scan: the loop's trip count is not in the graph), so nothing is
    left out silently."""
    from tensorflow.python.framework import ops
    from tensorflow.python.profiler.internal import flops_registry
    del flops_registry  # Imported for its registered counts.
    counts = {}
    for op in graph.get_operations():
        if op.type in CALL_OPS:
            raise ValueError(
                f'{op.name} ({op.type}) runs a function whose products are '
                'not counted')
        if op.type not in PRODUCT_OPS:
            continue
        try:
            flops = ops.get_stats_for_node_def(
                graph, op.node_def, 'flops').value
        except ValueError:  # A shape the count needs is unknown.
            flops = None
        if flops is None:
            raise ValueError(f'no FLOP count for {op.name} ({op.type})')
        dtype = op.get_attr('T').name
        counts[dtype] = counts.get(dtype, 0) + int(flops)
    return counts
