"""Loading configs: the defaults and presets of configs.yaml, command-line
flags, the rules of config_rules, and the config a run saved. Imports no
TensorFlow."""

import pathlib
import textwrap

import embodied

from . import config_rules

# The top-level configs.yaml, which users edit; the package's
# mrs_tf/configs.yaml links to it and builds copy it into the package.
PATH = pathlib.Path(__file__).resolve().parent / 'configs.yaml'


def defaults():
    return embodied.load_config(PATH, [])


def usage(program):
    """What --help prints: the command line's form and the presets."""
    presets = [
        k for k in embodied.Config.load(PATH).nested() if k != 'defaults']
    return '\n'.join([
        f'usage: python {program} [--configs PRESET ...] [--KEY VALUE ...]',
        '',
        'Presets apply left to right over the defaults, then the flags',
        '(nested keys with dots: --run.steps 1000 --rssm.deter 512).',
        f'Every key and its default: {PATH.resolve()}',
        ''] + textwrap.wrap('presets: ' + ', '.join(presets), 72))


def parse(argv):
    """The config of train.py's command line (`--configs a b --key value`),
    checked; without --logdir, one named after the task, presets and seed
    under logdir/ of the current directory."""
    config = embodied.load_config(PATH, argv)
    config_rules.check(config)
    if not config.logdir:
        names, _ = embodied.flags.parse_argv(argv)
        tag = '-'.join([config.task] + names + [f'seed{config.seed}'])
        logdir = pathlib.Path('logdir', tag).resolve()
        config = config.update(logdir=str(logdir))
    return config


def load_run(logdir):
    """The config.yaml a run saved, over today's defaults: runs from older
    code lack the keys added since and get their defaults (reported). How
    TensorFlow executes (tf.*) is this machine's, not the run's: a run
    trained on GPUs in float16 is analysed on a laptop's CPU."""
    base = defaults()
    path = pathlib.Path(logdir) / 'config.yaml'
    try:
        saved = embodied.Config.load(path)
    except Exception as e:
        raise embodied.ConfigError(
            f'cannot read {path}: {type(e).__name__}: {e}') from None
    missing = sorted(set(base.flat()) - set(saved.flat()))
    if missing:
        print(f"{logdir}: config.yaml predates {', '.join(missing)}; "
              'using their defaults')
    execution = {k: v for k, v in base.flat().items() if k.startswith('tf.')}
    config = base.update(saved, execution)
    config_rules.check(config)
    return config


def summary(config, keys):
    """Lines listing `keys` and every key changed from the defaults."""
    base = defaults().flat()
    flat = config.flat()
    changed = [k for k in flat if flat[k] != base.get(k)]
    keys = list(keys) + [k for k in changed if k not in keys]
    width = max(len(k) for k in keys)
    return ['Config (core keys and those changed from the defaults):'] + [
        f'  {key:<{width}}  {flat[key]}' for key in keys]
