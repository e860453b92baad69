"""sweep.py --slurm: the job-array script run as SLURM would run its array
tasks, with stub sbatch, srun, scontrol and python on PATH that record
their calls (python also writes the checkpoint step a run would reach)."""

import os
import pathlib
import subprocess

import pytest

from mrs_tf import sweeps

STEPS = 5000
# The stub python: records its arguments, then writes a checkpoint at step
# $STUB_STEP into the --logdir it was given (none when unset) and exits
# with $STUB_EXIT.
PYTHON = r'''#!/bin/bash
printf '%s\n' "$@" > "$STUB_LOG/python.$SLURM_JOB_ID"
logdir=''
while [ $# -gt 0 ]; do
  [ "$1" = --logdir ] && logdir=$2
  shift
done
if [ -n "${STUB_STEP:-}" ]; then
  dir="$logdir/checkpoint/ckpt-$(printf %012d "$STUB_STEP")/counter"
  mkdir -p "$dir" && echo "$STUB_STEP" > "$dir/counter.json"
fi
exit "${STUB_EXIT:-0}"
'''
STUBS = {
    'python': PYTHON,
    'srun': '#!/bin/bash\necho "$@" >> "$STUB_LOG/srun"\nexec "$@"\n',
    'scontrol': '#!/bin/bash\necho "$@" >> "$STUB_LOG/scontrol"\n',
    'sbatch': ('#!/bin/bash\necho "$@" >> "$STUB_LOG/sbatch"\n'
               'echo "Submitted batch job 999"\n'),
}


@pytest.fixture
def cluster(tmp_path):
    """The ablations table for one task and seed (7 runs, a fine-tuning
    run among them) as a job-array script, its commands, and a function
    that runs one array task with the stubs."""
    bin_dir, log = tmp_path / 'bin', tmp_path / 'log'
    bin_dir.mkdir()
    log.mkdir()
    for name, text in STUBS.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    script = tmp_path / 'ablations.sbatch'
    commands = sweeps.main([
        '--table', 'ablations', '--tasks', 'dmc_cartpole_swingup',
        '--seeds', '0', '--steps', str(STEPS), '--root',
        str(tmp_path / 'logdir'), '--slurm', str(script), '--time',
        '4:00:00', '--term-before', '240'])

    def run_task(index, job=None, **env):
        job = 100 + index if job is None else job
        env = {**os.environ, 'PATH': f"{bin_dir}:{os.environ['PATH']}",
               'STUB_LOG': str(log), 'SLURM_JOB_ID': str(job),
               'SLURM_ARRAY_TASK_ID': str(index), **env}
        result = subprocess.run(
            ['bash', str(script)], env=env, capture_output=True, text=True,
            timeout=60)
        python = log / f'python.{job}'
        argv = python.read_text().splitlines() if python.exists() else None
        calls = {name: read_lines(log / name)
                 for name in ('srun', 'scontrol', 'sbatch')}
        for path in log.iterdir():
            path.unlink()
        return result, argv, calls

    return script, commands, run_task


def read_lines(path):
    return path.read_text().splitlines() if path.exists() else []


def logdir_of(command):
    return pathlib.Path(command[command.index('--logdir') + 1])


def test_each_array_task_runs_exactly_its_command(cluster):
    script, commands, run_task = cluster
    text = script.read_text()
    assert len(commands) == 7
    assert '#SBATCH --array=0-5\n' in text  # 6 fine-tunes from 5.
    # SIGTERM goes to the srun step (train.py; its environment processes
    # ignore it), not to this batch shell, which requeues afterwards.
    assert '#SBATCH --signal=TERM@240\n' in text
    assert '#SBATCH --time=4:00:00\n' in text
    finetune = commands[6]
    pretrained = logdir_of(commands[5])
    assert finetune[finetune.index('--from_checkpoint') + 1] == str(
        pretrained)
    step = pretrained / 'checkpoint' / f'ckpt-{STEPS:012d}' / 'counter'
    step.mkdir(parents=True)
    (step / 'counter.json').write_text(str(STEPS))
    for index, command in enumerate(commands):
        if index == 5:
            continue  # Done already: its run would not start.
        result, argv, calls = run_task(index, STUB_STEP=str(STEPS))
        assert result.returncode == 0, result.stderr
        assert argv == command, index
        assert calls['srun'] == ['python ' + ' '.join(command)]
        assert calls['scontrol'] == []  # Finished: not requeued.
        assert f'is done (step {STEPS} of {STEPS})' in result.stdout
    result, _, _ = run_task(7)
    assert result.returncode == 2 and 'no run for array task 7' in (
        result.stderr)


def test_a_pretraining_task_submits_its_finetuning_run_after_it(cluster):
    script, commands, run_task = cluster
    result, argv, calls = run_task(5, STUB_STEP='1000')
    assert argv == commands[5]
    assert calls['sbatch'] == [
        f'--array=6 --dependency=afterok:105 --kill-on-invalid-dep=yes '
        f'{script}']
    assert calls['scontrol'] == ['requeue 105']
    # Requeued attempts do not submit it again.
    _, _, calls = run_task(5, SLURM_RESTART_COUNT='1', STUB_STEP='2000')
    assert calls['sbatch'] == [] and calls['scontrol'] == ['requeue 105']
    # The fine-tuning run never starts from unfinished weights.
    result, argv, calls = run_task(6)
    assert result.returncode == 1 and argv is None
    assert 'at step 2000 of 5000: not from unfinished weights' in (
        result.stderr)


@pytest.mark.parametrize('code', [0, 1, 143])
def test_a_task_short_of_its_steps_is_requeued_whatever_the_exit_code(
        cluster, code):
    _, commands, run_task = cluster
    result, argv, calls = run_task(
        0, STUB_STEP='1500', STUB_EXIT=str(code))
    assert argv == commands[0]
    assert calls['scontrol'] == ['requeue 100']
    assert f'at step 1500 of 5000 (exit code {code}): requeued' in (
        result.stdout)


def test_a_finished_run_is_not_requeued_whatever_the_exit_code(cluster):
    _, _, run_task = cluster
    result, _, calls = run_task(0, STUB_STEP=str(STEPS), STUB_EXIT='1')
    assert result.returncode == 0 and calls['scontrol'] == []
    # Submitted again, a finished run does not start.
    result, argv, calls = run_task(0)
    assert result.returncode == 0 and argv is None and not calls['srun']


def test_a_task_that_saves_nothing_three_times_in_a_row_gives_up(cluster):
    _, commands, run_task = cluster
    _, _, calls = run_task(1, STUB_STEP='100')
    assert calls['scontrol'] == ['requeue 101']
    for attempt in (1, 2):  # No checkpoint past step 100.
        _, _, calls = run_task(1, STUB_EXIT='1')
        assert calls['scontrol'] == ['requeue 101'], attempt
    result, argv, calls = run_task(1, STUB_EXIT='1')
    assert argv == commands[1] and calls['scontrol'] == []
    assert result.returncode == 1
    assert 'in 3 attempts in a row (exit code 1): given up' in result.stderr
    # Progress resets the count.
    _, _, calls = run_task(1, STUB_STEP='200')
    assert calls['scontrol'] == ['requeue 101']
    _, _, calls = run_task(1, STUB_EXIT='1')
    assert calls['scontrol'] == ['requeue 101']


def test_dry_run_prints_the_script_and_writes_nothing(tmp_path, capsys):
    script = tmp_path / 'table1.sbatch'
    commands = sweeps.main([
        '--table', '1', '--tasks', 'dmc_hopper_hop', '--seeds', '0',
        '--slurm', str(script), '--dry-run', '--parallel', '2'])
    out = capsys.readouterr().out
    assert not script.exists() and out.startswith('#!/bin/bash\n')
    assert '#SBATCH --array=0-3%2\n' in out
    for index, command in enumerate(commands):
        assert f'    {index}) logdir=' in out
        assert ' '.join(command) in out
    result = subprocess.run(['bash', '-n'], input=out, text=True)
    assert result.returncode == 0


def test_compress_ranges():
    assert sweeps.compress_ranges([0, 1, 2, 5, 7, 8]) == '0-2,5,7-8'
    assert sweeps.compress_ranges([3]) == '3'
