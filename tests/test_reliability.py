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
from conftest import ROOT, build_agent, restored

RUN = [
    sys.executable, str(ROOT / 'train.py'), '--configs', 'dmc_proprio',
    'debug', '--task', 'dmc_cartpole_swingup', '--env.render', 'False',
    '--run.save_every', '100', '--run.eval_every', '100']


def checkpoints(logdir):
    return sorted((logdir / 'checkpoint').glob('ckpt-*[0-9]'))


def step_of(path):
    return int(path.name.split('-')[1])


def metric_lines(logdir):
    path = logdir / 'metrics.jsonl'
    return [json.loads(l) for l in path.open()] if path.exists() else []


def wait_for(process, condition, what, timeout=400):
    deadline = time.time() + timeout
    while not condition():
        assert process.poll() is None, f'the run ended before {what}'
        assert time.time() < deadline, f'no {what} after {timeout} s'
        time.sleep(0.5)


def test_a_run_trains_evaluates_checkpoints_and_resumes(tmp_path):
    """The fast tier's end-to-end run: train.py to step 150 (an evaluation
    and a checkpoint every 100 steps, and at the end), then the same
    command to step 250. It tests the runtime, so the agent is `flat`,
    the quickest to trace (every preset's debug run is in the slow tier,
    test_baselines). The kill/SIGTERM chain below is the slow tier's."""
    command = RUN + ['--configs', 'flat', '--logdir', str(tmp_path)]
    first = subprocess.run(
        command + ['--run.steps', '150'], capture_output=True, text=True,
        timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    assert 'No checkpoint found' in first.stdout
    saved = step_of(checkpoints(tmp_path)[-1])
    assert saved >= 150
    second = subprocess.run(
        command + ['--run.steps', '250'], capture_output=True, text=True,
        timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    loaded = re.search(r'Loaded checkpoint (\S+)', second.stdout)
    assert loaded and step_of(pathlib.Path(loaded[1])) == saved
    assert 'Prefilling' not in second.stdout
    assert step_of(checkpoints(tmp_path)[-1]) >= 250
    lines = metric_lines(tmp_path)
    steps = [line['step'] for line in lines]
    assert steps == sorted(steps)
    pairs = [(key, line['step']) for line in lines for key in line
             if key != 'step']
    assert len(pairs) == len(set(pairs))
    for part in ([l for l in lines if l['step'] <= saved],
                 [l for l in lines if l['step'] > saved]):
        assert any('train/model_loss' in line for line in part)
        assert any('eval_episode/mean_score' in line for line in part)


@pytest.fixture(scope='module')
def chain(tmp_path_factory):
    """One run through the faults a cluster deals it: killed with SIGKILL
    after its first checkpoint; the same command again, stopped by SIGTERM
    once it saved a checkpoint of its own; then the same command to 120
    steps further (an evaluation and a checkpoint every 100 steps)."""
    logdir = tmp_path_factory.mktemp('chain')
    command = RUN + ['--logdir', str(logdir)]
    endless = command + ['--run.steps', '100000']
    killed = subprocess.Popen(
        endless, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(killed, lambda: checkpoints(logdir), 'a checkpoint')
    time.sleep(3)  # Let it write a few more episodes past the checkpoint.
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    killed_at = step_of(checkpoints(logdir)[-1])
    episode_steps = [int(re.search(r'-step(\d+)\.npz$', path.name)[1])
                for path in (logdir / 'replay').glob('*.npz')]
    stopped = subprocess.Popen(
        endless, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The killed run's lines past its checkpoint are in metrics.jsonl until
    # the rerun loads that checkpoint: wait for the rerun's own checkpoint.
    wait_for(stopped, lambda: step_of(checkpoints(logdir)[-1]) > killed_at,
             'a checkpoint past the first')
    stopped.send_signal(signal.SIGTERM)
    stdout, stderr = stopped.communicate(timeout=120)
    stopped_steps = [line['step'] for line in metric_lines(logdir)]
    stop = re.search(r'SIGTERM: saving a checkpoint at step (\d+)', stdout)
    assert stop, stdout[-2000:] + stderr[-2000:]
    stopped_at = int(stop[1])
    target = stopped_at + 120
    finished = subprocess.run(
        command + ['--run.steps', str(target)], capture_output=True,
        text=True, timeout=600)
    return dict(
        logdir=logdir, killed_at=killed_at,
        episodes=sum(s <= killed_at for s in episode_steps),
        dropped=sum(s > killed_at for s in episode_steps),
        stopped=(stopped.returncode, stdout, stderr), stopped_at=stopped_at,
        stopped_steps=stopped_steps, target=target, finished=finished)


@pytest.mark.slow
def test_a_killed_run_resumes_from_its_checkpoint_with_its_replay(chain):
    returncode, stdout, stderr = chain['stopped']
    assert returncode == 0, stderr[-3000:]
    loaded = re.search(r'Loaded checkpoint (\S+)', stdout)
    assert loaded and step_of(pathlib.Path(loaded[1])) == chain['killed_at']
    # Episodes the killed run finished after its checkpoint were never
    # counted by it: the rerun drops them (docs/RUNNING.md, Resuming).
    count = int(re.search(r'\((\d+) episodes loaded', stdout)[1])
    assert count == chain['episodes'] > 0
    if chain['dropped']:
        assert f"Dropped {chain['dropped']} replay episodes" in stdout


@pytest.mark.slow
def test_sigterm_saves_at_the_last_step_and_the_rerun_resumes_there(chain):
    stopped_at = chain['stopped_at']
    assert stopped_at > chain['killed_at']
    assert max(chain['stopped_steps']) <= stopped_at  # env.repeat is 1
    result = chain['finished']
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = re.search(r'Loaded checkpoint (\S+)', result.stdout)
    assert loaded and step_of(pathlib.Path(loaded[1])) == stopped_at
    assert 'Start training loop.' in result.stdout  # No new prefill.
    assert 'Prefilling' not in result.stdout


@pytest.mark.slow
def test_the_resumed_run_trains_evaluates_and_checkpoints_to_its_end(chain):
    logdir = chain['logdir']
    assert step_of(checkpoints(logdir)[-1]) >= chain['target']
    lines = metric_lines(logdir)
    steps = [line['step'] for line in lines]
    # What the killed run logged past its checkpoint was dropped, not
    # logged twice.
    assert steps == sorted(steps)
    later = [line for line in lines if line['step'] > chain['stopped_at']]
    assert any('train/model_loss' in line for line in later)
    assert any('eval_episode/mean_score' in line for line in later)


@pytest.mark.slow
def test_checkpoint_with_other_model_size_is_refused(chain):
    result = subprocess.run(
        RUN + ['--logdir', str(chain['logdir']), '--rssm.deter', '48'],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert ('does not fit this config' in lines[-1]
            and 'rssm.deter' in lines[-1])
    assert 'Traceback' not in result.stderr


def test_corrupt_newest_checkpoint_falls_back_to_previous(
        vision_agent, vision_data, tmp_path):
    obs_space, act_space, replay, config = vision_data
    batch = replay.sample(config.batch_size)
    encoder = vision_agent.wm.encoder
    saver = embodied.Checkpoint(tmp_path)
    saver.register('agent', vision_agent)
    with restored(vision_agent):
        vision_agent.train(batch)
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
    restored_values = [v.numpy() for v in fresh.wm.encoder.variables]
    assert len(restored_values) == len(saved) > 0
    for value, expected in zip(restored_values, saved):
        np.testing.assert_array_equal(value, expected)


@pytest.mark.slow
@pytest.mark.parametrize('data, flags, named', [
    # dmc_proprio renders no frames unless asked to.
    ('vision_data', [], '--env.render True'),
    ('proprio_data', ['--env.render', 'True'], '--env.render False'),
])
def test_a_resume_without_the_frames_of_its_replay_stops_in_one_line(
        data, flags, named, tmp_path, request):
    """A checkpoint whose replay was stored with (or without) frames, as
    dmc_vision's (dmc_proprio's) episodes are: resumed by dmc_proprio
    without (with) them, train.py stops before it writes anything."""
    replay = request.getfixturevalue(data)[2]
    for path in replay.directory.glob('*.npz'):
        (tmp_path / 'replay').mkdir(exist_ok=True)
        (tmp_path / 'replay' / path.name).write_bytes(path.read_bytes())
    step = embodied.Counter(200)
    saver = embodied.Checkpoint(tmp_path / 'checkpoint')
    saver.register('counter', step)
    saver.save(step)
    result = subprocess.run(
        [sys.executable, str(ROOT / 'train.py'), '--configs', 'dmc_proprio',
         'debug', '--task', 'dmc_cartpole_swingup', '--logdir',
         str(tmp_path), *flags], capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], result.stderr
    assert not (tmp_path / 'config.yaml').exists()


def test_an_agent_checkpoint_with_frames_names_the_render_flag(
        vision_agent, proprio_agent, tmp_path):
    saver = embodied.Checkpoint(tmp_path)
    saver.register('agent', vision_agent)
    saver.save(1)
    loader = embodied.Checkpoint(tmp_path)
    loader.register('agent', proprio_agent)
    with pytest.raises(
            embodied.IncompatibleCheckpoint, match='--env.render True'):
        loader.load()


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


@pytest.mark.slow
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
