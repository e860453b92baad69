"""Immutable nested configuration with dotted, nested and regex updates."""

import copy
import difflib
import functools
import re

import numpy as np
from ruamel.yaml import YAML

_REGEX_CHARS = set('*+?[]()^$|\\')


class ConfigError(ValueError):
    """A bad key, value or preset; its message is one line for the user."""


class Config:
    """Flat mapping from dotted keys to values, read as a nested object.

    `config.rssm.deter` and `config['rssm.deter']` give the same value.
    `update()` returns a new Config and checks every key and type against
    the existing entries, so the defaults define the schema.
    """

    def __init__(self, flat=None, _prefix=''):
        self._flat = dict(flat or {})
        self._prefix = _prefix

    @classmethod
    def from_nested(cls, nested):
        return cls(_flatten(nested))

    @classmethod
    def load(cls, path):
        with open(path) as f:
            text = f.read()
        # A copy: values such as an empty dict are mutable.
        return cls(copy.deepcopy(_parsed(text)))

    def flat(self):
        return dict(self._flat)

    def nested(self):
        result = {}
        for key, value in self._flat.items():
            node = result
            *parents, leaf = key.split('.')
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = list(value) if isinstance(value, tuple) else value
        return result

    def __getattr__(self, name):
        if name.startswith('_'):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f'config has no key {self._prefix + name!r}')

    def __getitem__(self, key):
        if key in self._flat:
            return self._flat[key]
        prefix = key + '.'
        children = {
            k[len(prefix):]: v for k, v in self._flat.items()
            if k.startswith(prefix)}
        if not children:
            raise KeyError(key)
        return Config(children, self._prefix + prefix)

    def __contains__(self, key):
        try:
            self[key]
            return True
        except KeyError:
            return False

    def keys(self):
        return list(dict.fromkeys(k.split('.')[0] for k in self._flat))

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def items(self):
        return [(k, self[k]) for k in self.keys()]

    def __eq__(self, other):
        return isinstance(other, Config) and self._flat == other._flat

    def update(self, *mappings, **kwargs):
        """New config with values overridden; keys may be dotted or regexes."""
        flat = dict(self._flat)
        for mapping in mappings + (kwargs,):
            for key, value in _flatten(mapping).items():
                for target in _resolve_key(key, flat):
                    flat[target] = _coerce(target, value, flat[target])
        return Config(flat, self._prefix)

    def save(self, path):
        with open(path, 'w') as f:
            YAML(typ='safe', pure=True).dump(self.nested(), f)

    def __str__(self):
        width = max((len(k) for k in self._flat), default=0)
        return '\n'.join(
            f'{k:<{width}}  {_format(v)}' for k, v in self._flat.items())


@functools.lru_cache(maxsize=16)
def _parsed(text):
    """The flat mapping of a YAML text, cached by content: every config
    parse reads configs.yaml, slow for the pure-Python YAML parser."""
    return _flatten(YAML(typ='safe').load(text))


def _flatten(mapping, prefix=''):
    if isinstance(mapping, Config):
        mapping = mapping.flat()
    flat = {}
    for key, value in mapping.items():
        key = prefix + str(key)
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, key + '.'))
        else:
            flat[key] = tuple(value) if isinstance(value, list) else value
    return flat


def _resolve_key(key, flat):
    if key in flat:
        return [key]
    if _REGEX_CHARS & set(key):
        try:
            pattern = re.compile(key)
        except re.error as e:
            raise ConfigError(f'invalid regex config key {key!r}: {e}')
        matches = [k for k in flat if pattern.fullmatch(k)]
        if matches:
            return matches
        raise ConfigError(f'config regex {key!r} matches no key')
    close = difflib.get_close_matches(key, list(flat), n=3, cutoff=0.5)
    hint = f"; did you mean: {', '.join(close)}?" if close else ''
    raise ConfigError(f'unknown config key {key!r}{hint}')


def _coerce(key, value, default):
    """Checks `value` against the type of `default` and converts it."""
    if isinstance(value, str) and not isinstance(default, str):
        value = parse_scalar(value) if not isinstance(default, tuple) \
            else parse_list(value)
    if default is None:
        return value
    if isinstance(default, bool):
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
    elif isinstance(default, int):
        if (isinstance(value, (int, np.integer))
                and not isinstance(value, bool)):
            return int(value)
        if isinstance(value, float) and value.is_integer():
            return int(value)
    elif isinstance(default, float):
        if isinstance(value, (int, float, np.number)) and \
                not isinstance(value, bool):
            return float(value)
    elif isinstance(default, str):
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # e.g. tf.precision: auto | 16 | 32 | bf16
    elif isinstance(default, tuple):
        if isinstance(value, (list, tuple)):
            return _coerce_list(key, value, default)
        return _coerce_list(key, (value,), default)
    raise ConfigError(
        f'config key {key!r} expects {type(default).__name__}, '
        f'got {value!r} ({type(value).__name__})')


def _coerce_list(key, values, default):
    """Elements keep the types of the default's elements; a list with
    strings in its default (e.g. [8, 16, inf]) takes any scalars."""
    allowed = {type(x) for x in default}
    result = []
    for value in values:
        if isinstance(value, str):
            value = parse_scalar(value)
        if allowed and str not in allowed and type(value) not in allowed:
            if float in allowed and isinstance(value, int):
                value = float(value)
            else:
                names = '/'.join(sorted(t.__name__ for t in allowed))
                raise ConfigError(
                    f'config key {key!r} expects a list of {names}, '
                    f'got element {value!r} ({type(value).__name__})')
        result.append(value)
    return tuple(result)


def parse_scalar(text):
    """Reads a command-line string the way YAML reads a scalar."""
    text = text.strip()
    if text.lower() in ('true', 'false'):
        return text.lower() == 'true'
    if text.lower() in ('none', 'null'):
        return None
    if re.fullmatch(r'[-+]?\d+', text):
        return int(text)
    if re.fullmatch(r'[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?', text):
        return float(text)
    return text


def parse_list(text):
    text = text.strip()
    if text.startswith('[') and text.endswith(']'):
        text = text[1:-1]
    if not text:
        return ()
    return tuple(parse_scalar(x) for x in text.split(','))


def _format(value):
    if isinstance(value, tuple):
        return '[' + ', '.join(str(x) for x in value) + ']'
    return str(value)
