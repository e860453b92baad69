import subprocess
import sys

import pytest

import embodied
from embodied.config import Config, ConfigError

from conftest import ROOT

PRESETS = ROOT / 'configs.yaml'


def write_presets(tmp_path, text):
    path = tmp_path / 'configs.yaml'
    path.write_text(text)
    return path


@pytest.fixture
def presets(tmp_path):
    return write_presets(tmp_path, '''
defaults:
  task: a
  seed: 0
  lr: 1e-4
  flag: True
  sizes: [1, 2]
  rssm: {deter: 1024, units: 1024}
  actor: {units: 512, layers: 4}
first:
  task: b
  rssm.deter: 512
second:
  task: c
  .*\\.units: 64
''')


def test_merge_order_left_to_right(presets):
    config = embodied.load_config(presets, ['--configs', 'first', 'second'])
    assert config.task == 'c'
    assert config.rssm.deter == 512
    config = embodied.load_config(presets, ['--configs', 'second', 'first'])
    assert config.task == 'b'


def test_regex_key_inside_preset(presets):
    config = embodied.load_config(presets, ['--configs', 'second'])
    assert config.rssm.units == 64 and config.actor.units == 64
    assert config.rssm.deter == 1024 and config.actor.layers == 4


def test_flags_override_presets_with_dotted_keys(presets):
    config = embodied.load_config(
        presets, ['--configs', 'first', '--rssm.deter', '256', '--seed=3'])
    assert config.rssm.deter == 256 and config.seed == 3
    assert isinstance(config.lr, float) and config.lr == 1e-4


def test_flag_types(presets):
    config = embodied.load_config(
        presets, ['--flag', 'False', '--sizes', '3', '4', '5', '--lr', '3'])
    assert config.flag is False
    assert config.sizes == (3, 4, 5)
    assert config.lr == 3.0 and isinstance(config.lr, float)
    config = embodied.load_config(presets, ['--sizes', '7,8', '--seed', '1e3'])
    assert config.sizes == (7, 8) and config.seed == 1000


@pytest.mark.parametrize('argv, message', [
    (['--rssm.detr', '5'], "did you mean: rssm.deter"),
    (['--seed', 'abc'], "expects int, got 'abc'"),
    (['--seed', '1.5'], 'expects int'),
    (['--flag', '3'], 'expects bool'),
    (['--sizes', 'x'], 'expects a list of int'),
    (['--configs', 'frist'], "did you mean: first"),
    (['--zz.*', '1'], 'matches no key'),
    (['stray'], 'unexpected argument'),
])
def test_errors_are_one_clear_line(presets, argv, message):
    with pytest.raises(ConfigError) as info:
        embodied.load_config(presets, argv)
    assert message in str(info.value)
    assert '\n' not in str(info.value)


def test_nested_access_and_roundtrip(tmp_path):
    config = Config.from_nested({'a': {'b': 1, 'c': [1.0]}, 'd': 'x'})
    assert dict(config.a) == {'b': 1, 'c': (1.0,)}
    assert config['a.b'] == 1 and 'a' in config and 'z' not in config
    config.save(tmp_path / 'c.yaml')
    assert Config.load(tmp_path / 'c.yaml') == config
    with pytest.raises(AttributeError):
        config.missing


def test_project_presets_load():
    presets = Config.load(PRESETS).nested()
    for name in presets:
        if name != 'defaults':
            embodied.load_config(PRESETS, ['--configs', name])


@pytest.mark.parametrize('argv, message', [
    (['--configs', 'dmc_visoin'], 'did you mean: dmc_vision'),
    (['--rssm_deter', '3'], 'unknown config key'),
    (['--run.steps', 'many'], 'expects int'),
    (['--task', 'dmc_walker_wlk'], 'dmc_walker_walk'),
    (['--tf.devices', '3'], 'tf.devices must be positive and divide'),
    (['--tf.jit', 'True'], 'tf.jit must be auto, xla or graph'),
])
def test_train_py_bad_input_exits_2_with_one_line(argv, message):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'train.py')] + argv,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert 'Traceback' not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_mixed_lists_keep_numbers_and_strings():
    config = embodied.load_config(
        PRESETS, ['--configs', 'director', '--mrs.skills', '8', '16', 'inf'])
    assert config.mrs.skills == (8, 16, 'inf')
    config = embodied.load_config(PRESETS, ['--configs', 'director'])
    assert config.mrs.skills == ('inf',)


@pytest.mark.parametrize('agent', ['mrs', 'director', 'director_upstream'])
def test_cpu_small_after_an_agent_preset_sets_its_update_rate(agent):
    config = embodied.load_config(
        PRESETS, ['--configs', 'dmc_proprio', agent, 'cpu_small'])
    alone = embodied.load_config(PRESETS, ['--configs', agent])
    assert config.run.train_every == 4 != alone.run.train_every
    assert config.mrs == alone.mrs
    assert config.skill_kl.scale == alone.skill_kl.scale


def test_eval_only_plays_on_the_evaluation_environments_seeds(
        tmp_path, monkeypatch):
    from mrs_tf import configs, launch
    seeds = []

    def record(task, amount, seed, **kwargs):
        seeds.append(seed)
        raise InterruptedError  # No environments needed past this point.

    monkeypatch.setattr(embodied, 'make_envs', record)
    config = configs.parse(
        ['--configs', 'debug', '--seed', '3', '--logdir', str(tmp_path)])
    for script in ('train', 'eval_only'):
        with pytest.raises(InterruptedError):
            launch.run(config.update({'run.script': script}))
    assert seeds == [3, launch.env_seed(config, evaluation=True)]
    assert seeds[1] != 3
