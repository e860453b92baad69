import json

import numpy as np
import pytest

import embodied
from embodied import when


def test_every_fires_once_per_period():
    every = when.Every(10)
    fired = [s for s in range(0, 50, 3) if every(s)]
    assert fired == [0, 12, 21, 30, 42]
    assert not any(when.Every(0)(s) for s in range(5))


def test_ratio_keeps_updates_per_step():
    ratio = when.Ratio(0.125)
    total = sum(ratio(step) for step in range(0, 801, 4))
    assert total == 101


def test_counter_checkpoint_roundtrip(tmp_path):
    step = embodied.Counter()
    step.increment(5)
    ckpt = embodied.Checkpoint(tmp_path / 'ckpt', keep=2)
    ckpt.register('counter', step)
    for _ in range(3):
        step.increment(10)
        ckpt.save(step)
    assert [p.name for p in ckpt.saved()] == [
        'ckpt-000000000025', 'ckpt-000000000035']
    restored = embodied.Counter()
    fresh = embodied.Checkpoint(tmp_path / 'ckpt')
    fresh.register('counter', restored)
    assert fresh.load().name == 'ckpt-000000000035' and restored == 35


def test_checkpoint_falls_back_past_a_corrupt_one(tmp_path):
    step = embodied.Counter(7)
    ckpt = embodied.Checkpoint(tmp_path, log=lambda m: None)
    ckpt.register('counter', step)
    ckpt.save(7)
    step.increment()
    newest = ckpt.save(8)
    (newest / 'counter' / 'counter.json').write_text('{broken')
    (tmp_path / 'ckpt-000000000009.tmp').mkdir()  # Killed mid-save.
    step.value = 0
    assert ckpt.load().name == 'ckpt-000000000007' and step == 7


def test_random_agent_respects_space():
    space = {'action': embodied.Space(np.float32, (3,), -2, 2),
             'reset': embodied.Space(bool)}
    agent = embodied.RandomAgent(space)
    acts, _ = agent.policy({'is_first': np.zeros(5, bool)})
    assert set(acts) == {'action'} and acts['action'].shape == (5, 3)
    assert all(space['action'].contains(a) for a in acts['action'])


def test_logger_writes_jsonl_and_tensorboard(tmp_path, capsys):
    step = embodied.Counter(10)
    logger = embodied.Logger(step, [
        embodied.TerminalOutput('score'),
        embodied.JSONLOutput(tmp_path),
        embodied.TensorBoardOutput(tmp_path),
    ], multiplier=2)
    logger.add({'score': 3.5, 'video': np.zeros((4, 8, 8, 3), np.uint8)},
               prefix='episode')
    logger.write(fps=True)
    step.increment(10)
    logger.scalar('episode/score', 4.0)
    logger.write(fps=True)
    logger.close()
    lines = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').open()]
    assert lines[0] == {'step': 20, 'episode/score': 3.5}
    assert lines[1]['step'] == 40 and lines[1]['fps/env'] > 0
    assert list(tmp_path.glob('events.out.tfevents.*'))
    out = capsys.readouterr().out
    assert out.splitlines() == ['episode/score 3.5', 'episode/score 4']
    with pytest.raises(ValueError, match='expected a scalar'):
        logger.add({'bad': np.zeros(3)})


def test_gif_encoding_has_all_frames():
    from PIL import Image
    import io
    frames = np.random.RandomState(0).randint(0, 255, (6, 16, 16, 3), np.uint8)
    gif = Image.open(io.BytesIO(embodied.logger.encode_gif(frames, 10)))
    assert gif.n_frames == 6 and gif.size == (16, 16)


def test_logged_grad_norm_averages_the_applied_steps_only():
    metrics = {
        'model_grad_norm': [0.0, 800.0, 900.0, 0.0],
        'model_grad_overflow': [1.0, 0.0, 0.0, 1.0],
        'critic_grad_norm': [2.0, 4.0],  # float32: no overflow metric
        'model_loss': [3.0, 5.0, 7.0, 9.0]}
    means = embodied.run.mean_metrics(metrics)
    assert means['model_grad_norm'] == 850.0
    assert means['model_grad_overflow'] == 0.5
    assert means['critic_grad_norm'] == 3.0 and means['model_loss'] == 6.0
    only_skipped = {'a_grad_norm': [0.0], 'a_grad_overflow': [1.0]}
    assert np.isnan(embodied.run.mean_metrics(only_skipped)['a_grad_norm'])


def test_resumed_logger_drops_lines_past_the_restored_step(tmp_path):
    step = embodied.Counter()
    logger = embodied.Logger(
        step, [embodied.JSONLOutput(tmp_path)], multiplier=2)
    for value in range(1, 6):
        step.increment()
        logger.scalar('x', value)
        logger.write()
    with (tmp_path / 'metrics.jsonl').open('a') as f:
        f.write('{"step": 12, "x"')  # cut off by a kill
    resumed = embodied.Counter()
    for _ in range(3):
        resumed.increment()
    embodied.Logger(
        resumed, [embodied.JSONLOutput(tmp_path)], multiplier=2).resume()
    lines = (tmp_path / 'metrics.jsonl').read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {'step': 2, 'x': 1.0}, {'step': 4, 'x': 2.0}, {'step': 6, 'x': 3.0}]


@pytest.mark.parametrize('rng', [
    np.random, np.random.RandomState(0), np.random.default_rng(0)])
def test_space_samples_with_every_numpy_generator(rng):
    discrete = embodied.Space(np.int32, (), 2, 4)
    values = {int(discrete.sample(rng)) for _ in range(100)}
    assert values == {2, 3, 4}
    continuous = embodied.Space(np.float32, (3,), -2, 2)
    assert continuous.contains(continuous.sample(rng))


class Killed(Exception):
    """Stands in for kill -9: the run ends where it is and saves nothing."""


class KilledAgent(embodied.RandomAgent):
    """A random policy whose training reports a loss, killed at `kill_at`."""

    def __init__(self, act_space, step, kill_at=None):
        super().__init__(act_space)
        self.step = step
        self.kill_at = kill_at

    def train(self, batch, state=None):
        if self.kill_at is not None and self.step >= self.kill_at:
            raise Killed()
        return state, {'model_loss': np.float32(int(self.step))}


def train_attempt(logdir, steps, kill_at=None):
    """One run of the training loop on stub environments, in-process; the
    same arguments again resume it."""
    from mrs_tf import configs
    from test_stop_signals import CountingEnv, driver_of
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(logdir),
        '--run.steps', str(steps), '--run.train_fill', '50',
        '--run.eval_every', '0', '--run.save_every', '100',
        '--run.log_every', '16', '--replay.chunk', '10'])
    step = embodied.Counter()
    logger = embodied.Logger(step, [
        embodied.JSONLOutput(logdir), embodied.TensorBoardOutput(logdir)])
    driver = driver_of(CountingEnv(length=30))
    agent = KilledAgent(driver.act_space, step, kill_at)
    checkpoint = embodied.Checkpoint(logdir / 'checkpoint')
    checkpoint.register('counter', step)
    checkpoint.register('agent', agent)
    replay = embodied.Replay(
        logdir / 'replay', 10_000, config.replay.chunk, counter=step)
    try:
        embodied.run.train(
            agent, driver, driver_of(CountingEnv(length=30)), replay,
            logger, checkpoint, config)
    except Killed:
        pass
    finally:
        logger.close()
    return int(step)


@pytest.mark.parametrize('kill_at', [90, 340], ids=[
    'killed_before_the_first_checkpoint', 'killed_after_a_checkpoint'])
def test_a_rerun_after_kill_logs_no_step_twice_and_counts_its_replay(
        tmp_path, kill_at):
    from tensorboard.backend.event_processing import (
        plugin_event_accumulator)
    killed_at = train_attempt(tmp_path, 400, kill_at)
    lines = [json.loads(l) for l in open(tmp_path / 'metrics.jsonl')]
    assert kill_at <= killed_at < kill_at + 8  # One train call per 8 steps.
    assert max(line['step'] for line in lines) > 50
    saved = list((tmp_path / 'checkpoint').glob('ckpt-*'))
    # Checkpoints at steps 150 and 250, the first after the prefill.
    assert bool(saved) == (kill_at > 150)
    assert train_attempt(tmp_path, 400) == 400
    pairs = [(key, line['step'])
             for line in open(tmp_path / 'metrics.jsonl')
             for line in [json.loads(line)] for key in line if key != 'step']
    assert len(pairs) == len(set(pairs))
    steps = [s for _, s in pairs]
    assert steps == sorted(steps) and max(steps) == 400
    events = plugin_event_accumulator.EventAccumulator(str(tmp_path))
    events.Reload()
    for tag in events.Tags()['tensors']:
        tag_steps = [e.step for e in events.Tensors(tag)]
        assert len(tag_steps) == len(set(tag_steps)), tag
    # The replay holds only steps the restored counter counted.
    replay = embodied.Replay(tmp_path / 'replay', 10_000, 10)
    replay.load()
    assert 0 < len(replay) <= 400


class StubAgent:
    """An agent of the runtime's interface alone (README, Your own
    agent): a constant action, an option it logs, a count of train calls
    it saves, and its own evaluation variant."""

    def __init__(self, act_space):
        self.act_space = act_space['action']
        self.trained = 0
        self.modes = set()

    def policy(self, obs, state=None, mode='train'):
        self.modes.add(mode)
        batch = len(obs['is_first'])
        option = 1.0 if mode == 'eval' else 0.0
        return {
            'action': np.full((batch,) + self.act_space.shape, 0.5,
                              self.act_space.dtype),
            'log_option': np.full(batch, option, np.float32)}, state

    def dataset(self, generator):
        return generator()

    def train(self, batch, state=None):
        self.trained += 1
        return state, {'model_loss': np.float32(1.0)}

    def report(self, batch):
        return {}

    def save(self, directory):
        (directory / 'trained.json').write_text(json.dumps(self.trained))

    def load(self, directory):
        self.trained = json.loads((directory / 'trained.json').read_text())

    def eval_variant(self):
        return f'greedy:{self.trained}'

    def eval_summary(self, metrics):
        return {'option_share': [m['mean_log_option'] for m in metrics]}


def test_train_and_eval_only_run_an_agent_of_the_documented_interface(
        tmp_path):
    from mrs_tf import configs
    from test_stop_signals import CountingEnv, driver_of
    config = configs.parse([
        '--configs', 'debug', '--logdir', str(tmp_path),
        '--run.steps', '120', '--run.train_fill', '40',
        '--run.eval_every', '60', '--run.eval_eps', '2',
        '--run.save_every', '60', '--run.log_every', '30',
        '--replay.chunk', '10'])

    def run(script, agent):
        step = embodied.Counter()
        logger = embodied.Logger(step, [embodied.JSONLOutput(tmp_path)])
        checkpoint = embodied.Checkpoint(tmp_path / 'checkpoint')
        checkpoint.register('counter', step)
        checkpoint.register('agent', agent)
        driver = driver_of(CountingEnv(length=20))
        if script == 'train':
            replay = embodied.Replay(
                tmp_path / 'replay', 10_000, config.replay.chunk,
                counter=step)
            embodied.run.train(
                agent, driver, driver_of(CountingEnv(length=20)), replay,
                logger, checkpoint, config)
        else:
            return embodied.run.eval_only(
                agent, driver, logger, checkpoint, config)

    act_space = driver_of(CountingEnv(length=20)).act_space
    trainer = StubAgent(act_space)
    run('train', trainer)
    assert trainer.trained > 0 and trainer.modes == {'train', 'eval'}
    evaluator = StubAgent(act_space)
    result = run('eval_only', evaluator)
    assert evaluator.modes == {'eval'}
    # The variant names the file once the checkpoint's weights are loaded.
    variant = f'greedy:{trainer.trained}'
    path = tmp_path / f'eval_scores_greedy_{trainer.trained}.json'
    assert json.loads(path.read_text()) == result
    assert result['variant'] == variant and result['episodes'] == 2
    assert result['option_share'] == [1.0, 1.0]
    assert not {'eval_choice', 'choice_frequencies'} & set(result)
