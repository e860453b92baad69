"""Prints, or with --run executes one after the other, the train.py
commands behind a table of the paper:

    python scripts/sweep.py --table 1
        DMC: mrs, director, flat (the DreamerV3 column's role) and
        random_choice (the HiPPO column's role)
    python scripts/sweep.py --table sparse
        Fetch and AntMaze: the same four
    python scripts/sweep.py --table adaptive
        DMC: mrs and mrs_adaptive (dense resolutions, pruned in training)
    python scripts/sweep.py --table ablations
        single_8/16/32, no_inf, vanilla_expl, explore_only then fine-tuning
    python scripts/sweep.py --table 3 --logdirs logdir/table1/*-mrs-*
        eval_only with the choice head learned, random and fixed:i

Options: --tasks, --seeds, --steps (agent steps per training run), --env
(the preset for dmc_* tasks: dmc_vision or dmc_proprio), --root (where the
logdirs go), --extra (flags appended to every command, e.g.
--extra="--env.amount 8"). For --table 3: --configs (the presets the runs
were trained with), --choices (default: learned, random and fixed:i for
every resolution in the run's config.yaml) and --eval-eps; afterwards
--table 3 --collect with the same --logdirs prints the table from their
eval_scores_<choice>.json files (± the sample std over runs, ddof=1) and,
per run, Welch's t-test of learned against every other choice policy on
the episode scores.
Commands are meant to run from the repository root; --run runs them there
and stops at the first failure.
"""

import argparse
import pathlib
import shlex
import subprocess
import sys

import embodied
from mrs_tf.analysis.evaluations import collect_evaluations

ROOT = pathlib.Path(__file__).resolve().parent.parent

DMC_TASKS = (
    'dmc_walker_walk', 'dmc_walker_run', 'dmc_quadruped_walk',
    'dmc_quadruped_run', 'dmc_cheetah_run', 'dmc_hopper_hop',
    'dmc_cartpole_swingup', 'dmc_pendulum_swingup')
SPARSE_TASKS = (
    'gymr_fetch_push', 'gymr_fetch_pick_and_place', 'antmaze_medium',
    'antmaze_large')
BASELINES = ('mrs', 'director', 'flat', 'random_choice')
TRAINING_TABLES = {
    '1': (DMC_TASKS, BASELINES),
    'sparse': (SPARSE_TASKS, BASELINES),
    'adaptive': (DMC_TASKS, ('mrs', 'mrs_adaptive')),
    'ablations': (
        DMC_TASKS,
        ('single_8', 'single_16', 'single_32', 'no_inf', 'vanilla_expl')),
}
TABLES = tuple(TRAINING_TABLES) + ('3',)


def main(argv=None):
    args = parse_args(argv)
    if args.collect:
        return collect_evaluations(args.logdirs)
    if args.table == '3':
        commands = evaluation_commands(args)
    else:
        commands = training_commands(args)
    for command in commands:
        print(format_command(command), flush=True)
        if args.run:
            run(command)
    return commands


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument('--table', required=True, choices=TABLES)
    parser.add_argument('--tasks', nargs='+', default=None)
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--steps', type=int, default=1_000_000)
    parser.add_argument(
        '--env', default='dmc_vision', choices=('dmc_vision', 'dmc_proprio'))
    parser.add_argument('--root', default='logdir')
    parser.add_argument('--extra', type=shlex.split, default=[])
    parser.add_argument('--logdirs', nargs='+', type=pathlib.Path, default=[])
    parser.add_argument('--configs', nargs='+', default=['dmc_vision'])
    parser.add_argument('--choices', nargs='+', default=None)
    parser.add_argument('--eval-eps', type=int, default=10)
    parser.add_argument('--run', action='store_true')
    parser.add_argument(
        '--collect', action='store_true',
        help='--table 3: print the table from the eval_scores_*.json files')
    args = parser.parse_args(argv)
    if args.table == '3' and not args.logdirs:
        parser.error('--table 3 evaluates trained runs: pass --logdirs')
    if args.collect and args.table != '3':
        parser.error('--collect goes with --table 3')
    return args


def env_preset(task, dmc_preset):
    """The configs.yaml environment preset of a task."""
    for prefix, preset in (('gymr_', 'gymr'), ('antmaze_', 'antmaze')):
        if task.startswith(prefix):
            return preset
    return dmc_preset


def training_commands(args):
    default_tasks, presets = TRAINING_TABLES[args.table]
    commands = []
    for task in args.tasks or default_tasks:
        for seed in args.seeds:
            for preset in presets:
                commands.append(train_command(args, task, seed, preset))
            if args.table == 'ablations':
                commands += explore_then_finetune(args, task, seed)
    return commands


def train_command(args, task, seed, preset, name=None, extra=()):
    """Training with the agent preset `preset` into a logdir named after
    `name` (default: the preset)."""
    logdir = run_logdir(args, task, name or preset, seed)
    env = env_preset(task, args.env)
    return [
        'train.py', '--configs', env, preset, '--task', task,
        '--seed', str(seed), '--run.steps', str(args.steps),
        '--logdir', logdir, *render_flags(env != 'dmc_proprio'),
        *extra, *args.extra]


def explore_then_finetune(args, task, seed):
    """Exploration-only pre-training, then MRS with task reward starting
    from its weights (fresh replay and step counter)."""
    pretrained = run_logdir(args, task, 'explore_only', seed)
    return [
        train_command(args, task, seed, 'explore_only'),
        train_command(
            args, task, seed, 'mrs', name='explore_finetune',
            extra=['--from_checkpoint', pretrained]),
    ]


def run_logdir(args, task, name, seed):
    table = f'table{args.table}' if args.table.isdigit() else args.table
    return f'{args.root}/{table}/{task}-{name}-seed{seed}'


def evaluation_commands(args):
    commands = []
    for logdir in args.logdirs:
        logdir = logdir.resolve()  # --run runs from the repository root.
        config = embodied.Config.load(logdir / 'config.yaml')
        choices = args.choices or default_choices(config.mrs.skills)
        for choice in choices:
            commands.append([
                'train.py', '--configs', *args.configs, '--task', config.task,
                '--seed', str(config.seed), '--logdir', str(logdir),
                *render_flags(config.env.render),
                '--run.script', 'eval_only', '--eval_choice', choice,
                '--run.eval_eps', str(args.eval_eps), *args.extra])
    return commands


def render_flags(render):
    """Proprio-only runs skip rendering, which would only cost time (and
    their checkpoints expect no image observation)."""
    return [] if render else ['--env.render', 'False']


def default_choices(skills):
    return ['learned', 'random'] + [f'fixed:{i}' for i in range(len(skills))]


def format_command(command):
    return 'python ' + shlex.join(command)


def run(command):
    result = subprocess.run([sys.executable, *command], cwd=ROOT)
    if result.returncode:
        sys.exit(f'failed (exit code {result.returncode}): '
                 f'{format_command(command)}')


if __name__ == '__main__':
    main()
