import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import embodied

TASK = 'dmc_cartpole_swingup'


@pytest.fixture
def envs():
    envs = embodied.make_envs(TASK, 2, parallel='process', length=20,
                              render=False)
    yield envs
    for env in envs:
        env.close()


def test_two_process_envs_with_random_agent(envs, tmp_path):
    driver = embodied.Driver(envs)
    agent = embodied.RandomAgent(driver.act_space)
    replay = embodied.Replay(tmp_path, capacity=1000, chunk=10)
    steps = []
    driver.on_step(replay.add)
    driver.on_step(lambda tran, worker: steps.append(worker))
    episodes = driver.collect_episodes(agent.policy, 4)
    assert len(episodes) >= 4 and sorted(set(steps)) == [0, 1]
    for episode in episodes:
        assert len(episode['reward']) == 21  # First step plus 20 actions.
        assert episode['is_first'][0] and episode['is_last'][-1]
        assert not episode['action'][0].any()  # Reset step has no action.
        assert episode['action'].shape == (21, 1)
    assert len(list(tmp_path.glob('*.npz'))) == len(episodes)
    # The two workers got different seeds.
    assert not np.allclose(episodes[0]['position'], episodes[1]['position'])


def test_killed_env_process_is_restarted(envs, tmp_path):
    logs = []
    driver = embodied.Driver(envs, log=logs.append)
    agent = embodied.RandomAgent(driver.act_space)
    replay = embodied.Replay(tmp_path, capacity=1000, chunk=10)
    driver.on_step(replay.add)
    driver.on_restart(replay.drop)
    driver(agent.policy, steps=10)
    old_pid = envs[1].pid
    os.kill(old_pid, signal.SIGKILL)
    episodes = driver.collect_episodes(agent.policy, 3)
    assert driver.restarts == 1 and envs[1].pid != old_pid
    assert any('Environment 1 failed and is restarted' in m for m in logs)
    # Every stored episode is complete: the broken one was dropped.
    lengths = [int(p.stem.split('-')[-1]) for p in tmp_path.glob('*.npz')]
    assert lengths and all(length == 21 for length in lengths)
    assert all(len(ep['reward']) == 21 for ep in episodes)


def test_env_started_from_an_unguarded_script_names_the_main_guard(
        tmp_path):
    # The spawned process imports the script again, which starts another
    # process while bootstrapping: multiprocessing refuses and it exits.
    script = tmp_path / 'unguarded.py'
    script.write_text(
        'import embodied\n'
        'embodied.ProcessEnv(dict)\n')
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True,
        timeout=120, cwd=tmp_path)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert 'EnvError: environment process died' in last
    assert "if __name__ == '__main__':" in last


def test_env_that_keeps_failing_stops_the_run():
    env = embodied.InProcessEnv(lambda: ExplodingEnv())
    driver = embodied.Driver([env], max_restarts=2, log=lambda m: None)
    agent = embodied.RandomAgent(driver.act_space)
    with pytest.raises(RuntimeError, match='failed 3 times in a row'):
        driver(agent.policy, steps=50)


class ExplodingEnv(embodied.Env):
    """Resets fine, raises on every real step."""

    obs_space = {
        'reward': embodied.Space(np.float32), 'is_first': embodied.Space(bool),
        'is_last': embodied.Space(bool), 'is_terminal': embodied.Space(bool)}
    act_space = {
        'action': embodied.Space(np.float32, (1,), -1, 1),
        'reset': embodied.Space(bool)}

    def step(self, action):
        if action['reset']:
            return {'reward': np.float32(0), 'is_first': True,
                    'is_last': False, 'is_terminal': False}
        raise RuntimeError('boom')


class FlakyEnv(embodied.Env):
    """Raises once, on the third step of its first episode."""

    def __init__(self):
        self.steps = 0
        self._inner = None

    @property
    def obs_space(self):
        return ExplodingEnv.obs_space

    @property
    def act_space(self):
        return ExplodingEnv.act_space

    def step(self, action):
        self.steps += 1
        if self.steps == 3 and not getattr(FlakyEnv, 'raised', False):
            FlakyEnv.raised = True
            raise RuntimeError('simulator diverged')
        return {'reward': np.float32(1), 'is_first': bool(action['reset']),
                'is_last': self.steps % 5 == 0, 'is_terminal': False}


def test_env_raising_in_step_is_restarted_and_its_episode_dropped(tmp_path):
    env = embodied.InProcessEnv(FlakyEnv)
    logs = []
    driver = embodied.Driver([env], max_restarts=2, log=logs.append)
    replay = embodied.Replay(tmp_path, capacity=100, chunk=2)
    driver.on_step(replay.add)
    driver.on_restart(replay.drop)
    agent = embodied.RandomAgent(driver.act_space)
    episodes = driver.collect_episodes(agent.policy, 2)
    assert driver.restarts == 1
    assert any('simulator diverged' in m for m in logs)
    assert all(ep['is_first'][0] and ep['is_last'][-1] for ep in episodes)
    # Only complete episodes reached the replay: the broken one is gone.
    assert replay.stats['episodes'] == len(episodes)
    assert all(len(ep['reward']) == 5 for ep in episodes)


class RecordingEnv(embodied.Env):
    """Records the actions it receives; episodes of `length` steps."""

    def __init__(self, length=5):
        self.length = length
        self.actions = []
        self.steps = 0

    obs_space = ExplodingEnv.obs_space
    act_space = {
        'action': embodied.Space(np.float32, (2,), -1, 1),
        'reset': embodied.Space(bool)}

    def step(self, action):
        self.steps = 0 if action['reset'] else self.steps + 1
        if not action['reset']:
            self.actions.append(np.array(action['action']))
        return {'reward': np.float32(0), 'is_first': bool(action['reset']),
                'is_last': self.steps == self.length, 'is_terminal': False}


def test_continuous_actions_are_clipped_before_the_env_and_the_replay():
    env = RecordingEnv()
    driver = embodied.Driver([embodied.InProcessEnv(lambda: env)])
    stored = []
    driver.on_step(lambda tran, worker: stored.append(tran['action']))
    policy = lambda obs, state: (
        {'action': np.array([[3.0, -0.5]], np.float32)}, state)
    driver(policy, steps=3)
    np.testing.assert_array_equal(env.actions, [[1, -0.5]] * 2)
    # The reset step stores a zero action, the others the clipped one.
    np.testing.assert_array_equal(stored, [[0, 0], [1, -0.5], [1, -0.5]])
