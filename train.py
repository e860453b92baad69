"""Train or evaluate an agent:

    python train.py --configs dmc_vision --task dmc_hopper_hop

Environment processes are spawned from this file: it imports nothing of
TensorFlow at import time (mrs_tf.launch loads it when it builds the
agent). main imports the rest of the program itself, so that the stop
handling of `command` is in place first: a Ctrl-C or SIGTERM while it
loads also ends in one line.
"""

from mrs_tf.command import command

SUMMARY_KEYS = (
    'task', 'agent', 'run.script', 'seed', 'logdir', 'env.amount',
    'env.repeat', 'env.parallel', 'batch_size', 'replay.chunk', 'run.steps',
    'run.train_every')


def main(argv):
    from mrs_tf import configs, launch
    if {'-h', '--help'} & set(argv):
        print(configs.usage('train.py'))
        return 0
    config = configs.parse(argv)
    print('\n'.join(configs.summary(config, SUMMARY_KEYS)))
    launch.run(config)


if __name__ == '__main__':
    command(main)
