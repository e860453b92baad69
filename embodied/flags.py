"""Command line: `--configs a b` picks presets, `--key value` overrides."""

import difflib

from .config import Config, ConfigError


def load_config(presets_file, argv, extra_presets=()):
    """Defaults, then presets left to right, then `--key value` flags."""
    presets = Config.load(presets_file).nested()
    names, overrides = parse_argv(argv)
    config = Config.from_nested(presets['defaults'])
    for name in list(extra_presets) + names:
        if name not in presets:
            available = [k for k in presets if k != 'defaults']
            close = difflib.get_close_matches(name, available, n=3, cutoff=0.4)
            hint = f"did you mean: {', '.join(close)}? " if close else ''
            raise ConfigError(
                f"unknown preset {name!r}; {hint}available: "
                f"{', '.join(available)}")
        config = config.update(presets[name])
    for key, values in overrides:
        config = config.update({key: _flag_value(config, key, values)})
    return config


def parse_argv(argv):
    names, overrides = [], []
    argv = list(argv)
    while argv:
        token = argv.pop(0)
        if not token.startswith('--'):
            raise ConfigError(
                f'unexpected argument {token!r}; flags look like --key value')
        key, _, inline = token[2:].partition('=')
        values = [inline] if inline else []
        while argv and not argv[0].startswith('--'):
            values.append(argv.pop(0))
        if key == 'configs':
            names += [n for v in values for n in v.split(',') if n]
        elif not values:
            raise ConfigError(f'flag --{key} needs a value')
        else:
            overrides.append((key, values))
    return names, overrides


def _flag_value(config, key, values):
    flat = config.flat()
    is_list = key in flat and isinstance(flat[key], tuple)
    if is_list:
        return [x for v in values for x in v.strip('[]').split(',') if x]
    if len(values) > 1:
        raise ConfigError(f'flag --{key} takes one value, got {values}')
    return values[0]
