"""The train.py commands behind a table of the paper, printed, run one
after the other, or written as a SLURM job array:

    python scripts/sweep.py --table 1 [--run | --slurm table1.sbatch]

Every table and option: python scripts/sweep.py --help (mrs_tf/sweeps.py).
"""

from mrs_tf import sweeps
from mrs_tf.command import command

if __name__ == '__main__':
    command(sweeps.main)
