"""The key under which a tf.train.Checkpoint stores each variable of an
object graph, so that a load can check which variables a checkpoint holds
before reading it (tf.train.list_variables gives the keys it holds)."""

import tensorflow as tf

VALUE_SUFFIX = '/.ATTRIBUTES/VARIABLE_VALUE'


def variables_by_key(root):
    """{checkpoint key: variable} for every variable reachable from root.
    The walk is breadth first in the order of each object's children, as
    the checkpoint's own object graph is: a variable reachable along
    several paths (an optimizer's list of what it trains) gets the path
    found first, the one its value is saved under."""
    found, seen, queue = {}, {id(root)}, [(root, '')]
    while queue:
        parent, path = queue.pop(0)
        children = tf.train.TrackableView(parent).children(parent)
        for name, child in children.items():
            if id(child) in seen:
                continue
            seen.add(id(child))
            child_path = f'{path}/{name}' if path else name
            if isinstance(child, tf.Variable):
                found[child_path + VALUE_SUFFIX] = child
            queue.append((child, child_path))
    return found
