"""Where a train step's time goes, op by op: TensorFlow's profiler over
a few train calls, read back per op type and per name scope of the step
(the scopes agent.py and hierarchy.py open)."""

import collections
import pathlib
import re
import statistics
import tempfile

from .timing import timed

# Ops that only run other ops (function calls, loops, conditionals): their
# self time is waiting for their bodies, counted apart from compute.
CONTROL_OPS = (
    'While', 'StatelessWhile', 'If', 'StatelessIf', 'PartitionedCall',
    'StatefulPartitionedCall', 'Case', 'StatelessCase')
# The name scopes agent.py and hierarchy.py open around the parts of a step.
STEP_SCOPES = (
    'world_model', 'skills', 'imagine', 'rewards', 'exploration', 'worker',
    'manager')
OP_EVENT = re.compile(r'^[^\s:]+:[A-Za-z0-9_]+$')


def op_profile(agent, batch, calls):
    """Per op type and per name scope (op_scope), the self time per train
    call (ms, summed over the threads that ran it), its share of all
    compute ops' time, and its count per call; from a trace of `calls`
    train calls by TensorFlow's profiler. 'wall_ms' is the calls' median
    wall time."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2
    with tempfile.TemporaryDirectory() as directory:
        tf.profiler.experimental.start(directory)
        durations = [timed(agent.train, batch) for _ in range(calls)]
        tf.profiler.experimental.stop()
        [path] = pathlib.Path(directory).rglob('*.xplane.pb')
        space = xplane_pb2.XSpace.FromString(path.read_bytes())
    ops = [op for plane in space.planes for line in plane.lines
           for op in op_self_times(line, plane.event_metadata)]
    compute = sum(t for _, kind, t in ops if kind not in CONTROL_OPS)
    scopes = [(op_scope(name), t) for name, kind, t in ops
              if kind not in CONTROL_OPS]
    return {'wall_ms': 1000 * statistics.median(durations),
            'compute_ms': compute / 1e9 / calls,
            'ops': tabulate([(kind, t) for _, kind, t in ops], calls, compute),
            'scopes': tabulate(scopes, calls, compute)}


def tabulate(times, calls, compute):
    """{key: ms per call, share of the compute time, count per call} from
    (key, ps) pairs, slowest first; control ops get no share."""
    total, count = collections.Counter(), collections.Counter()
    for key, ps in times:
        total[key] += ps
        count[key] += 1
    return {
        key: {'ms': ps / 1e9 / calls,
              'share': None if key in CONTROL_OPS else ps / compute,
              'count': count[key] / calls}
        for key, ps in total.most_common()}


def op_scope(name):
    """The agent's step scopes an op ran in, outermost first (those of its
    forward op for a gradient), e.g. 'imagine/rewards/exploration'; for
    ops outside them, the op's first name scope."""
    parts = name.split('/')[:-1]
    if parts and parts[0] == 'gradient_tape':
        parts = parts[1:]
    # TensorFlow numbers a scope opened again in one graph: 'worker_1'.
    steps = [re.sub(r'_\d+$', '', part) for part in parts]
    steps = [part for part in steps if part in STEP_SCOPES]
    if steps:
        return '/'.join(steps)
    return parts[0] if parts else '(no scope)'


def op_self_times(line, metadata):
    """(op name, op type, self time in ps) of the TensorFlow op events of
    one thread's trace line, named `name:Type`; an op's self time excludes
    the ops nested in it on the same thread."""
    events = sorted(
        (e.offset_ps, e.duration_ps, metadata[e.metadata_id].name)
        for e in line.events)
    stack, result = [], []
    for start, length, event in events:
        if not OP_EVENT.match(event):
            continue
        while stack and stack[-1][0] <= start:
            stack.pop()
        if stack:
            stack[-1][1][2] -= length
        entry = [*event.rsplit(':', 1), length]
        stack.append((start + length, entry))
        result.append(entry)
    return [tuple(entry) for entry in result]
