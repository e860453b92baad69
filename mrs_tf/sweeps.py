"""The paper's sweeps (scripts/sweep.py is their command line): prints,
or with --run executes one after the other, the train.py commands behind a
table of the paper:

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

On a SLURM cluster, --slurm FILE writes a training table as one job-array
script (--dry-run prints it instead): array task i runs command i from the
repository root, and fine-tuning runs are submitted by their pre-training
task to start once it ended well (--dependency=afterok). A task whose
logdir's newest checkpoint is short of run.steps when train.py exits
requeues itself, whatever the exit code, and one that saved no newer
checkpoint in --stalls attempts in a row gives up (exit 1). SLURM sends the
run SIGTERM --term-before seconds before the time limit (--signal, to the
srun step: train.py saves a checkpoint and exits 0; its environment
processes ignore SIGTERM). --time, --sbatch (more #SBATCH options) and
--parallel (tasks at once) go into its #SBATCH lines; the jobs' output goes
to --slurm-logs (default: <root>/slurm).

    python scripts/sweep.py --table 1 --slurm table1.sbatch
    sbatch table1.sbatch
"""

import argparse
import pathlib
import shlex
import subprocess
import sys

import embodied
from mrs_tf import configs
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
    if args.slurm:
        script = slurm_script(args, commands)
        if args.dry_run:
            print(script, end='')
        else:
            write_slurm_script(args, script)
        return commands
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
    slurm = parser.add_argument_group('SLURM (training tables)')
    slurm.add_argument(
        '--slurm', type=pathlib.Path, metavar='FILE',
        help='write the commands as one sbatch job-array script to FILE')
    slurm.add_argument(
        '--dry-run', action='store_true',
        help='print the --slurm script instead of writing it')
    slurm.add_argument(
        '--time', default='24:00:00', help='time limit of one attempt')
    slurm.add_argument(
        '--term-before', type=int, default=300, metavar='SECONDS',
        help='SIGTERM this long before the time limit (SLURM may send it '
             'up to 60 s earlier)')
    slurm.add_argument(
        '--sbatch', type=shlex.split, metavar='OPTIONS',
        default=['--gpus=1', '--cpus-per-task=8', '--mem=32G'],
        help='more #SBATCH options, e.g. --sbatch="--partition=gpu '
             '--gres=gpu:1 --mem=32G" (default: %(default)s)')
    slurm.add_argument(
        '--parallel', type=int, default=0, metavar='N',
        help='at most N array tasks at once (0: no limit)')
    slurm.add_argument(
        '--stalls', type=int, default=3, metavar='N',
        help='give a task up after N attempts in a row without a newer '
             'checkpoint')
    slurm.add_argument(
        '--slurm-logs', type=pathlib.Path, default=None, metavar='DIR',
        help='where the jobs write their output (default: <root>/slurm)')
    slurm.add_argument(
        '--python', default='python',
        help='the interpreter the jobs run train.py with')
    args = parser.parse_args(argv)
    args.argv = argv
    if args.table == '3' and not args.logdirs:
        parser.error('--table 3 evaluates trained runs: pass --logdirs')
    if args.collect and args.table != '3':
        parser.error('--collect goes with --table 3')
    if args.slurm and (args.table == '3' or args.run or args.collect):
        parser.error('--slurm writes a training table (not --table 3), '
                     'instead of --run')
    if args.dry_run and not args.slurm:
        parser.error('--dry-run prints the script of --slurm FILE')
    if args.stalls < 1 or args.term_before < 0 or args.parallel < 0:
        parser.error('--stalls must be at least 1, --term-before and '
                     '--parallel at least 0')
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
        '--logdir', logdir,
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
        choices = args.choices or default_choices(config.mrs)
        for choice in choices:
            commands.append([
                'train.py', '--configs', *args.configs, '--task', config.task,
                '--seed', str(config.seed), '--logdir', str(logdir),
                *render_flags(config.env.render),
                '--run.script', 'eval_only', '--eval_choice', choice,
                '--run.eval_eps', str(args.eval_eps), *args.extra])
    return commands


def render_flags(render):
    """The run's own env.render, whatever the presets now say: its
    checkpoint expects the observations it was trained with."""
    return ['--env.render', str(bool(render))]


def default_choices(mrs):
    """Paper Table 3's choice policies; the flat baseline has no choice."""
    if not mrs.manager:
        return ['learned']
    return ['learned', 'random'] + [
        f'fixed:{i}' for i in range(len(mrs.skills))]


SLURM_HEADER = """\
#!/bin/bash
# {title}: {count} train.py runs as one SLURM job array, written by
#   python scripts/sweep.py {argv}
# Submit it with `sbatch {script}`: array task i runs command i below from
# the repository root. While the newest checkpoint in the task's logdir is
# short of its run.steps when train.py exits (SIGTERM came {lead} s before
# the time limit and it saved; or it failed), the task requeues itself,
# whatever the exit code; after {stalls} attempts in a row without a newer
# checkpoint it gives up. A pre-training task submits the fine-tuning runs
# that start from its weights, to run once it ended well.
{directives}
set -u
cd {root} || exit 1
SCRIPT={script}
PYTHON={python}
STALLS={stalls}

# Array task -> its run: logdir, run.steps, the array tasks to submit after
# it (fine-tuning from its weights), the task it fine-tunes from, and the
# command.
run_of() {{
  then='' after=''
  case "$1" in
{cases}
    *) echo "sweep: no run for array task $1 (0-{last})" >&2; exit 2 ;;
  esac
}}
"""

SLURM_BODY = r"""
# The step of the newest checkpoint in logdir $1 (its counter.json), 0
# without one.
checkpoint_step() {
  local step=0 counter
  for counter in "$1"/checkpoint/ckpt-*[0-9]/counter/counter.json; do
    [ -f "$counter" ] && step=$(cat "$counter")
  done
  case "$step" in ''|*[!0-9]*) step=0 ;; esac
  echo "$step"
}

task=${SLURM_ARRAY_TASK_ID:?is set by SLURM: submit this script with sbatch}
if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
  export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK  # srun no longer inherits it
fi
run_of "$task"
if [ -n "$after" ]; then
  run_of "$after"
  done_steps=$(checkpoint_step "$logdir")
  if [ "$done_steps" -lt "$steps" ]; then
    echo "sweep: task $task fine-tunes from $logdir, at step $done_steps" \
      "of $steps: not from unfinished weights" >&2
    exit 1
  fi
  run_of "$task"
fi
if [ -n "$then" ] && [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
  for next in $then; do
    sbatch --array="$next" --dependency="afterok:$SLURM_JOB_ID" \
      --kill-on-invalid-dep=yes "$SCRIPT"
  done
fi
before=$(checkpoint_step "$logdir")
if [ "$before" -ge "$steps" ]; then
  echo "sweep: $logdir is done (step $before of $steps)"
  exit 0
fi
srun "$PYTHON" "${command[@]}"
code=$?
now=$(checkpoint_step "$logdir")
if [ "$now" -ge "$steps" ]; then
  echo "sweep: $logdir is done (step $now of $steps)"
  exit 0
fi
mkdir -p "$logdir"
stalls=0
if [ "$now" -le "$before" ]; then
  stalls=$(( $(cat "$logdir/sweep_stalls" 2>/dev/null || echo 0) + 1 ))
fi
echo "$stalls" > "$logdir/sweep_stalls"
if [ "$stalls" -ge "$STALLS" ]; then
  echo "sweep: $logdir saved no checkpoint past step $now in $stalls" \
    "attempts in a row (exit code $code): given up" >&2
  exit 1
fi
echo "sweep: $logdir at step $now of $steps (exit code $code): requeued"
scontrol requeue "$SLURM_JOB_ID"
"""


def slurm_runs(commands):
    """Per command, from its config: the logdir, run.steps and the index
    of the command whose logdir it fine-tunes from (--from_checkpoint), or
    None."""
    parsed = [configs.parse(command[1:]) for command in commands]
    index = {
        pathlib.Path(config.logdir).resolve(): i
        for i, config in enumerate(parsed)}
    return [{
        'logdir': config.logdir, 'steps': config.run.steps,
        'after': index.get(pathlib.Path(config.from_checkpoint).resolve())
        if config.from_checkpoint else None} for config in parsed]


def slurm_script(args, commands):
    """The job-array script of a training table's commands."""
    runs = slurm_runs(commands)
    then = {i: [] for i in range(len(runs))}
    for i, run in enumerate(runs):
        if run['after'] is not None:
            then[run['after']].append(i)
    first = [i for i, run in enumerate(runs) if run['after'] is None]
    array = compress_ranges(first)
    if args.parallel:
        array += f'%{args.parallel}'
    table = f'table{args.table}' if args.table.isdigit() else args.table
    logs = (args.slurm_logs or pathlib.Path(args.root) / 'slurm').resolve()
    directives = [
        f'--job-name=mrs-{table}', f'--array={array}',
        f'--output={logs}/{table}-%A_%a.out', '--open-mode=append',
        '--requeue', f'--signal=TERM@{args.term_before}',
        f'--time={args.time}', *args.sbatch]
    cases = []
    for i, (command, run) in enumerate(zip(commands, runs)):
        cases.append(
            f"    {i}) logdir={shlex.quote(run['logdir'])} "
            f"steps={run['steps']}"
            + (f" then='{' '.join(map(str, then[i]))}'" if then[i] else '')
            + (f" after={run['after']}" if run['after'] is not None else '')
            + f'\n       command=({shlex.join(command)}) ;;')
    title = (f'Table {args.table}' if args.table.isdigit()
             else f'The {args.table} table')
    header = SLURM_HEADER.format(
        title=title, count=len(commands),
        argv=shlex.join(
            a for a in (sys.argv[1:] if args.argv is None else args.argv)
            if a != '--dry-run'),
        script=shlex.quote(str(args.slurm.resolve())),
        lead=args.term_before, stalls=args.stalls,
        directives='\n'.join(f'#SBATCH {d}' for d in directives),
        root=shlex.quote(str(ROOT)), python=shlex.quote(args.python),
        cases='\n'.join(cases), last=len(commands) - 1)
    return header + SLURM_BODY


def write_slurm_script(args, script):
    """Writes the script (executable) and the directory for the jobs'
    output, which SLURM does not create."""
    logs = (args.slurm_logs or pathlib.Path(args.root) / 'slurm').resolve()
    logs.mkdir(parents=True, exist_ok=True)
    args.slurm.parent.mkdir(parents=True, exist_ok=True)
    args.slurm.write_text(script)
    args.slurm.chmod(0o755)
    print(f'Wrote {args.slurm}: {script.count(" command=(")} runs; submit '
          f'it with: sbatch {shlex.quote(str(args.slurm))}')


def compress_ranges(indices):
    """[0, 1, 2, 5, 7, 8] -> '0-2,5,7-8' (SLURM's --array syntax)."""
    parts, start = [], None
    for i, index in enumerate(indices):
        if start is None:
            start = index
        if i + 1 == len(indices) or indices[i + 1] != index + 1:
            parts.append(str(start) if start == index else f'{start}-{index}')
            start = None
    return ','.join(parts)


def format_command(command):
    return 'python ' + shlex.join(command)


def run(command):
    result = subprocess.run([sys.executable, *command], cwd=ROOT)
    if result.returncode:
        sys.exit(f'failed (exit code {result.returncode}): '
                 f'{format_command(command)}')
