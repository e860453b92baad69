import subprocess
import sys

import pytest

import embodied
from embodied.config import Config, ConfigError
from mrs_tf import config_rules, configs
from mrs_tf.command import command

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


def test_a_file_loads_what_it_holds_now_and_loads_are_independent(
        tmp_path):
    # Loads are cached by the file's text: a rewrite at the same path
    # loads anew, and changing one load's mutable value spares the next.
    path = tmp_path / 'c.yaml'
    Config.from_nested({'a': 1, 'kwargs': {}}).save(path)
    first = Config.load(path)
    first['kwargs']['x'] = 2  # An empty mapping is a value, mutable.
    assert Config.load(path)['kwargs'] == {}
    Config.from_nested({'a': 2, 'kwargs': {}}).save(path)
    assert Config.load(path).a == 2


def test_project_presets_load():
    presets = Config.load(PRESETS).nested()
    for name in presets:
        if name != 'defaults':
            config_rules.check(
                embodied.load_config(PRESETS, ['--configs', name]))


@pytest.mark.parametrize('argv, message', [
    (['--configs', 'dmc_visoin'], 'did you mean: dmc_vision'),
    (['--rssm_deter', '3'], 'unknown config key'),
    (['--run.steps', 'many'], 'expects int'),
    (['--task', 'dmc_walker_wlk'], 'dmc_walker_walk'),
    (['--tf.devices', '3'], 'tf.devices (3) must divide batch_size (16)'),
    (['--tf.jit', 'True'], 'tf.jit must be auto, xla or graph'),
    (['--tf.precision', 'bfloat16'],
     "tf.precision must be auto, 16, 32 or bf16, got 'bfloat16'"),
    (['--batch_size', '0'], 'batch_size must be at least 1, got 0'),
    (['--env.amount', '0'], 'env.amount must be at least 1, got 0'),
    (['--skill_duration', '0'], 'skill_duration must be at least 1'),
    (['--seed', '-1'], 'seed must be between 0 and 4294967295, got -1'),
    (['--run.steps', '-5'], 'run.steps must be at least 1, got -5'),
    (['--discount', '1.5'], 'discount must be between 0 and 1'),
    (['--env.parallel', 'thread'], 'env.parallel must be process or none'),
    (['--from_checkpoint', '/nonexistent/run'],
     'from_checkpoint /nonexistent/run: no such file or directory'),
    (['--env.length', '10'], 'env.length 10 makes episodes of 11 steps'),
    (['--env.size', '32', '32'], 'produce 64x64 images'),
    (['--task', 'gym_CartPole-v1', '--env.kwargs', '{a: 1'],
     'is not YAML'),
    (['--env.kwargs', '{max_episode_steps: 9}'],
     'env.kwargs and env.obs_keys apply to gym_ tasks, not dmc_walker_walk'),
    (['--run.log_keys_max', '(a'], 'is not a regex'),
    (['--task', 'gym_NoSuchEnv-v0'], "Unknown Gymnasium id 'NoSuchEnv-v0'"),
    (['--task', 'dmc_nope_run'], 'Unknown task'),
    (['--tf.platform', 'tpu'], 'tf.platform must be'),
    (['--env.amount', 'two'], "expects int, got 'two'"),
])
def test_train_py_bad_input_exits_2_with_one_line(argv, message, capsys):
    """train.py's main under command, in this process: a traceback
    would be an exception here rather than the exit."""
    import train
    with pytest.raises(SystemExit) as exit_:
        command(train.main, argv)
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2, stderr
    assert message in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize('argv, message', [
    (['--configs', 'dmc_visoin'], 'did you mean: dmc_vision'),
    (['--task', 'gym_NoSuchEnv-v0'], "Unknown Gymnasium id 'NoSuchEnv-v0'"),
])
def test_train_py_program_exits_2_with_one_line(argv, message):
    """The same as a user runs it: its own process, its exit code."""
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
    from mrs_tf import launch
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


def test_every_key_has_a_declared_rule():
    for key, value in configs.defaults().flat().items():
        kind = config_rules.rule(key)[0]
        values = value if isinstance(value, tuple) else [value]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool)
               for v in values):
            assert kind == 'range', key  # Numbers are never left free.


def test_activation_choices_are_the_networks_activations():
    from mrs_tf import nets
    assert set(config_rules.ACTIVATIONS) == set(nets.ACTIVATIONS)


def just_outside(key, value):
    """A value of the key's type just outside its declared range or set, or
    None where the rule leaves the key free."""
    kind, *limits = config_rules.rule(key)
    first = value[0] if isinstance(value, tuple) else value
    if kind == 'range':
        low, high = limits
        step = 1 if isinstance(first, int) else 0.01
        bad = low - step if low is not None else (
            high + step if high is not None else None)
    elif kind == 'choices':
        bad = 'bogus'
    else:
        return None
    if bad is None:
        return None
    return (bad,) + tuple(value[1:]) if isinstance(value, tuple) else bad


@pytest.mark.parametrize('key', [
    k for k, v in configs.defaults().flat().items()
    if just_outside(k, v) is not None])
def test_each_constrained_key_refuses_a_value_just_outside(key):
    defaults = configs.defaults()
    bad = just_outside(key, defaults.flat()[key])
    with pytest.raises(ConfigError) as error:
        config_rules.check(defaults.update({key: bad}))
    message = str(error.value)
    assert message.startswith(f'{key} must be '), message
    assert '\n' not in message


def test_a_run_config_that_cannot_be_read_is_one_line(tmp_path):
    (tmp_path / 'config.yaml').write_text('seed: [unclosed\n')
    with pytest.raises(ConfigError, match=r'^cannot read .*config\.yaml'):
        configs.load_run(tmp_path)
    with pytest.raises(ConfigError, match=r'^cannot read .*config\.yaml'):
        configs.load_run(tmp_path / 'missing')


def test_a_logdir_that_is_a_file_is_one_line(tmp_path, capsys):
    import train
    path = tmp_path / 'run'
    path.write_text('')
    with pytest.raises(SystemExit) as exit_:
        command(train.main, ['--logdir', str(path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == (
        f'error: logdir {path} is a file, not a directory\n')


@pytest.mark.parametrize('flag', ['--help', '-h'])
def test_help_prints_the_usage_and_every_preset(flag, capsys):
    import train
    with pytest.raises(SystemExit) as exit:
        command(train.main, ['--configs', 'debug', flag])
    assert exit.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith('usage: python train.py [--configs PRESET ...]')
    listed = ' '.join(out.split('presets: ')[1].split())
    presets = [k for k in embodied.Config.load(configs.PATH).nested()
               if k != 'defaults']
    assert listed == ', '.join(presets)
