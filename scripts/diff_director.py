"""Differential harness: runs our ports of Director's functions on inputs.

    python scripts/diff_director.py IN.npz OUT.npz

IN.npz holds the input arrays (`*_in_*`, `*_in`) documented in
tests/data/director_functions.json (any sizes of that layout). OUT.npz gets
every output array of that file, computed by mrs_tf, for comparison with
the outputs of upstream Director.
"""

import argparse

import numpy as np
import tensorflow as tf

from mrs_tf.autoadapt import AutoAdapt
from mrs_tf.normalizer import Normalizer
from mrs_tf.returns import lambda_return
from mrs_tf.symlog import symexp, symlog
from mrs_tf.trajectory import abstract_traj, goal_reward_cosine_max, split_traj

# Director's defaults (configs.yaml) for the golden data.
DISCOUNT = 0.99
RETURN_LAMBDA = 0.95
SKILL_DURATION = 8
NORMALIZERS = {
    'advnorm': dict(impl='mean_std', decay=0.99, max=1e8),
    'retnorm': dict(impl='std', decay=0.999, max=1e2),
    'expl_retnorm': dict(impl='std', decay=0.999, max=1e8),
    'scorenorm_off': dict(impl='off', decay=0.99, max=1e8),
}
AUTO_ADAPTS = {
    'wmkl': dict(
        impl='mult', scale=0.1, target=3.5, min=1e-5, max=1.0, vel=0.1),
    'actent_perdim': dict(
        impl='mult', scale=3e-3, target=0.5, min=1e-5, max=1e2, vel=0.1,
        inverse=True),
    'encdec_kl': dict(impl='mult', scale=0.0, target=10.0, min=1e-5, max=1.0),
}
PER_DIMENSION = {'actent_perdim'}


def run_lambda_return(inputs):
    returns, baseline = lambda_return(
        inputs['lambda_in_reward'], inputs['lambda_in_value'],
        inputs['lambda_in_cont'], DISCOUNT, RETURN_LAMBDA)
    return {'lambda_out_gve_return': returns, 'lambda_out_baseline': baseline}


def run_hierarchy(inputs):
    prefix = 'hier_in_'
    traj = {
        key[len(prefix):]: value for key, value in inputs.items()
        if key.startswith(prefix)}
    outputs = {}
    for name, fn in (('split', split_traj), ('abstract', abstract_traj)):
        for key, value in fn(traj, SKILL_DURATION, DISCOUNT).items():
            outputs[f'{name}_out_{key}'] = value
    return outputs


def run_goal_reward(inputs):
    reward = goal_reward_cosine_max(
        inputs['goalrew_in_deter'], inputs['goalrew_in_goal'])
    return {'goalrew_out_cosine_max': reward}


def run_symlog(inputs):
    x = inputs['sym_in_x']
    return {
        'sym_out_symlog': symlog(x),
        'sym_out_symexp': symexp(inputs['sym_in_symexp_x']),
        'sym_out_roundtrip': symexp(symlog(x)),
    }


def run_normalizers(inputs):
    batches = inputs['norm_in_values']
    outputs = {}
    for name, settings in NORMALIZERS.items():
        norm = Normalizer(**settings)
        updated, first_batch = [], []
        for values in batches:
            updated.append(norm(values))
            first_batch.append(norm(batches[0], update=False))
        outputs[f'norm_{name}_out'] = tf.stack(updated)
        outputs[f'norm_{name}_out_noupdate_on_values0'] = tf.stack(first_batch)
    return outputs


def run_auto_adapts(inputs):
    outputs = {}
    for name, settings in AUTO_ADAPTS.items():
        regs = inputs[f'autoadapt_{name}_in']
        shape = regs.shape[-1:] if name in PER_DIMENSION else ()
        adapt = AutoAdapt(shape, **settings)
        losses, scales = [], []
        for reg in regs:
            losses.append(adapt(reg)[0])
            scales.append(adapt.scale())
        outputs[f'autoadapt_{name}_loss'] = tf.stack(losses)
        outputs[f'autoadapt_{name}_scale'] = tf.stack(scales)
    return outputs


GROUPS = (
    run_lambda_return, run_hierarchy, run_goal_reward, run_symlog,
    run_normalizers, run_auto_adapts)


def is_input(name):
    return '_in_' in name or name.endswith('_in')


def run_all(inputs):
    """Maps input arrays to every output array, as numpy."""
    inputs = {key: tf.constant(value) for key, value in inputs.items()}
    outputs = {}
    for group in GROUPS:
        outputs.update(group(inputs))
    return {key: value.numpy() for key, value in outputs.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('inputs', help='.npz with the *_in_* arrays')
    parser.add_argument('outputs', help='.npz to write')
    args = parser.parse_args()
    tf.config.set_visible_devices([], 'GPU')
    with np.load(args.inputs) as data:
        inputs = {key: data[key] for key in data.files if is_input(key)}
    outputs = run_all(inputs)
    np.savez(args.outputs, **outputs)
    print(f'Wrote {len(outputs)} arrays from {len(inputs)} inputs '
          f'to {args.outputs}.')


if __name__ == '__main__':
    main()
