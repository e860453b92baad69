"""Train or evaluate an agent:

    python train.py --configs dmc_vision --task dmc_hopper_hop

Environment processes are spawned from this file: it imports nothing of
TensorFlow at import time (mrs_tf.launch loads it when it builds the
agent).
"""

from mrs_tf import configs, launch

SUMMARY_KEYS = (
    'task', 'agent', 'run.script', 'seed', 'logdir', 'env.amount',
    'env.repeat', 'env.parallel', 'batch_size', 'replay.chunk', 'run.steps',
    'run.train_every')


def main(argv):
    config = configs.parse(argv)
    print('\n'.join(configs.summary(config, SUMMARY_KEYS)))
    launch.run(config)


if __name__ == '__main__':
    launch.command(main)
