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
(docs/RESULTS.md). The probe is mrs_tf/analysis/controllability.py. Like
analyze.py, this file imports TensorFlow only inside functions.
"""

import argparse
import json
import pathlib

import numpy as np

from mrs_tf import config_rules, configs
from mrs_tf.analysis import controllability, trained
from mrs_tf.command import command


def main(argv=None):
    args = parse_args(argv)
    config = configs.load_run(args.logdir)
    config_rules.require_manager(config, 'controllability probes')
    agent, checkpoint = trained.load_run_agent(
        config, args.logdir, args.checkpoint, args.seed)
    import tensorflow as tf
    tf.random.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with agent.scope():
        starts = controllability.start_states(
            agent, args.logdir / 'replay', args.starts, rng)
        rows = controllability.probe(agent, starts, args.samples)
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
