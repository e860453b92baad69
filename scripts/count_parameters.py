"""Prints per-module trainable parameter counts as one JSON object:

    python scripts/count_parameters.py --configs dmc_vision director

Takes the same presets and flags as train.py. `total` sums the optimised
parameters (the critics' slow target copies are listed but not summed).
Module names follow upstream Director's, so counts can be compared.
"""

import json

from mrs_tf.command import command


def main(argv):
    from mrs_tf import parameter_counts
    print(json.dumps(parameter_counts.count_for_flags(argv), indent=1))


if __name__ == '__main__':
    command(main)
