"""Crash-safe resume, refused checkpoints, the NaN guard and clear errors."""

import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import embodied
from conftest import ROOT, build_agent

RUN = [
    sys.executable, str(ROOT / 'train.py'), '--configs', 'dmc_proprio',
    'debug', '--task', 'dmc_cartpole_swingup', '--env.render', 'False',
    '--run.save_every', '100', '--run.eval_eps', '0']


def checkpoints(logdir):
    return sorted((logdir / 'checkpoint').glob('ckpt-*[0-9]'))


def step_of(path):
    return int(path.name.split('-')[1])


@pytest.fixture(scope='module')
def resumed_run(tmp_path_factory):
    """A run killed with SIGKILL after its first checkpoint, then restarted
    with the same command."""
    logdir = tmp_path_factory.mktemp('resume')
    command = RUN + ['--logdir', str(logdir), '--run.steps', '100000']
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 400
    while not checkpoints(logdir) and time.time() < deadline:
        assert process.poll() is None, 'the run ended before checkpointing'
        time.sleep(1)
    time.sleep(3)  # Let it write a few more episodes past the checkpoint.
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = step_of(checkpoints(logdir)[-1])
    episodes = len(list((logdir / 'replay').glob('*.npz')))
    target = killed_at + 250
    result = subprocess.run(
        RUN + ['--logdir', str(logdir), '--run.steps', str(target)],
        capture_output=True, text=True, timeout=600)
    return logdir, killed_at, episodes, target, result


def test_resume_continues_from_checkpoint_with_replay(resumed_run):
    logdir, killed_at, episodes, target, result = resumed_run
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = re.search(r'Loaded checkpoint (\S+)', result.stdout)
    assert loaded and step_of(pathlib.Path(loaded[1])) == killed_at
    count = int(re.search(r'\((\d+) episodes loaded', result.stdout)[1])
    assert count == episodes and episodes > 0
    assert step_of(checkpoints(logdir)[-1]) >= target > killed_at
    steps = [json.loads(l)['step'] for l in (logdir / 'metrics.jsonl').open()]
    assert max(steps) > killed_at and 'train/model_loss' in (
        logdir / 'metrics.jsonl').read_text()
    # What the killed run logged past its checkpoint was dropped, not
    # logged twice.
    assert steps == sorted(steps)


def test_sigterm_saves_at_the_last_step_and_the_rerun_resumes_there(
        tmp_path):
    command = RUN + ['--logdir', str(tmp_path), '--run.save_every', '100000']
    process = subprocess.Popen(
        command + ['--run.steps', '100000'], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 400
    while time.time() < deadline and not (
            (tmp_path / 'metrics.jsonl').exists()
            and 'train/' in (tmp_path / 'metrics.jsonl').read_text()):
        assert process.poll() is None, process.communicate()
        time.sleep(1)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr[-3000:]
    stopped = re.search(r'SIGTERM: saving a checkpoint at step (\d+)', stdout)
    assert stopped, stdout[-2000:]
    stopped_at = int(stopped[1])
    assert step_of(checkpoints(tmp_path)[-1]) == stopped_at
    steps = [json.loads(l)['step'] for l in (tmp_path / 'metrics.jsonl').open()]
    assert max(steps) <= stopped_at  # env.repeat is 1
    result = subprocess.run(
        command + ['--run.steps', str(stopped_at + 20)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = re.search(r'Loaded checkpoint (\S+)', result.stdout)
    assert loaded and step_of(pathlib.Path(loaded[1])) == stopped_at
    assert 'Start training loop.' in result.stdout  # No new prefill.
    assert 'Prefilling' not in result.stdout


def test_checkpoint_with_other_model_size_is_refused(resumed_run):
    logdir, *_ = resumed_run
    result = subprocess.run(
        RUN + ['--logdir', str(logdir), '--rssm.deter', '48'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert ('does not fit this config' in lines[-1]
            and 'rssm.deter' in lines[-1])
    assert 'Traceback' not in result.stderr


def test_corrupt_newest_checkpoint_falls_back_to_previous(
        vision_agent, vision_data, tmp_path):
    # The session's agent is usually compiled already; a fresh one would
    # cost a trace of its train step.
    obs_space, act_space, replay, config = vision_data
    batch = replay.sample(config.batch_size)
    encoder = vision_agent.wm.encoder
    vision_agent.train(batch)
    saver = embodied.Checkpoint(tmp_path)
    saver.register('agent', vision_agent)
    saver.save(1)
    saved = [v.numpy() for v in encoder.variables]
    vision_agent.train(batch)
    newest = saver.save(2)
    assert not all(np.array_equal(v.numpy(), value)
                   for v, value in zip(encoder.variables, saved))
    data = next((newest / 'agent').glob('variables.data-*'))
    data.write_bytes(data.read_bytes()[:1000])
    logs = []
    fresh = build_agent(obs_space, act_space, config)
    loader = embodied.Checkpoint(tmp_path, log=logs.append)
    loader.register('agent', fresh)
    assert loader.load().name == 'ckpt-000000000001'
    assert any(str(newest) in m and 'cannot load' in m for m in logs)
    # Variables are created on first use and filled from the checkpoint.
    fresh.observe(batch)
    restored = [v.numpy() for v in fresh.wm.encoder.variables]
    assert len(restored) == len(saved) > 0
    for value, expected in zip(restored, saved):
        np.testing.assert_array_equal(value, expected)


class DivergingAgent(embodied.RandomAgent):
    """A random policy whose training loss turns NaN after a few updates."""

    def __init__(self, act_space, diverge_after):
        super().__init__(act_space)
        self.updates = 0
        self.diverge_after = diverge_after

    def train(self, batch, state=None):
        self.updates += 1
        loss = np.nan if self.updates > self.diverge_after else 1.0
        return state, {'model_loss': np.float32(loss)}


def test_non_finite_loss_stops_the_run_and_keeps_last_checkpoint(tmp_path):
    config = embodied.load_config(ROOT / 'configs.yaml', [
        '--configs', 'debug', '--run.steps', '2000', '--run.train_fill', '0',
        '--run.save_every', '40', '--run.log_every', '1000',
        '--run.eval_eps', '0', '--logdir', str(tmp_path)])
    envs = embodied.make_envs(
        'dmc_cartpole_swingup', 1, length=50, render=False)
    try:
        step = embodied.Counter()
        agent = DivergingAgent(envs[0].act_space, diverge_after=12)
        checkpoint = embodied.Checkpoint(tmp_path / 'checkpoint')
        checkpoint.register('counter', step)
        logger = embodied.Logger(step, [])
        driver = embodied.Driver(envs)
        replay = embodied.Replay(tmp_path / 'replay', 1000, 10)
        with pytest.raises(
                embodied.run.NonFiniteError, match='model_loss') as e:
            embodied.run.train(
                agent, driver, driver, replay, logger, checkpoint, config)
        crash_step = int(re.search(r'at step (\d+)', str(e.value))[1])
    finally:
        for env in envs:
            env.close()
    saved = [step_of(p) for p in checkpoints(tmp_path)]
    # Training started at the first sampleable episode (step 51); with one
    # update per 8 steps the 13th update, the first NaN, is near step 150.
    assert saved and max(saved) < crash_step
    assert 12 * 8 < crash_step


@pytest.mark.parametrize('argv, message', [
    (['--task', 'dmc_nope_run'], 'Unknown task'),
    (['--tf.platform', 'tpu'], 'tf.platform must be'),
    (['--env.amount', 'two'], "expects int, got 'two'"),
])
def test_bad_inputs_exit_2_with_one_line(argv, message):
    result = subprocess.run(
        [sys.executable, str(ROOT / 'train.py')] + argv,
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'Traceback' not in result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_missing_optional_dependency_exits_2(tmp_path):
    fake = tmp_path / 'dm_control'
    fake.mkdir()
    (fake / '__init__.py').write_text("raise ImportError('not installed')\n")
    env = {**os.environ, 'PYTHONPATH': str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(ROOT / 'train.py'), '--task', 'dmc_walker_walk',
         '--logdir', str(tmp_path / 'run')],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 2, result.stderr[-2000:]
    assert 'dm-control' in result.stderr or 'dm_control' in result.stderr
    assert 'Traceback' not in result.stderr
