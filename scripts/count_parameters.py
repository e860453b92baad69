"""Prints per-module trainable parameter counts as one JSON object:

    python scripts/count_parameters.py --configs dmc_vision director

Takes the same presets and flags as train.py. `total` sums the optimised
parameters (the critics' slow target copies are listed but not summed).
Module names follow upstream Director's, so counts can be compared.
"""

import json

from mrs_tf import configs, launch
from mrs_tf.command import command


def count(argv):
    """Parameter counts per module of the agent that train.py would build
    for these flags."""
    config = configs.parse(argv).update(agent='mrs')
    agent = launch.make_agent(config, announce=False)
    agent.build()
    from mrs_tf import parameter_counts
    return parameter_counts.count(agent)


def main(argv):
    print(json.dumps(count(argv), indent=1))


if __name__ == '__main__':
    command(main)
