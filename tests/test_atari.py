"""Atari tasks (atari_<game>) against gymnasium's own AtariPreprocessing
wrapper over ALE/<Game>-v5 with frameskip 1: the same seed and actions give
the same frames, rewards, lives, terminals and truncations."""

import glob
import json

import gymnasium
import numpy as np
import pytest

import embodied
from conftest import debug_run
from embodied.envs import UnknownTaskError, make_env
from embodied.space import Space
from mrs_tf import configs

SEED = 5


def library_env(game, gray, actions, max_frames):
    import ale_py
    gymnasium.register_envs(ale_py)
    env = gymnasium.make(
        f'ALE/{game}-v5', frameskip=1, repeat_action_probability=0.25,
        full_action_space=actions == 'full',
        max_num_frames_per_episode=max_frames)
    return gymnasium.wrappers.AtariPreprocessing(
        env, noop_max=30, frame_skip=4, screen_size=64,
        terminal_on_life_loss=False, grayscale_obs=gray,
        grayscale_newaxis=True)


@pytest.mark.parametrize('game, gray, actions, max_frames, episodes', [
    # The first 300 steps of Pong (points lost: rewards of -1).
    ('Pong', False, 'full', 108_000, 0),
    # Two episodes cut at 1,600 frames: truncation, and the no-op and sticky
    # generators carried on across a reset.
    ('Pong', True, 'minimal', 1_600, 2),
    # Two games to game over (terminal), losing lives on the way.
    ('Breakout', False, 'minimal', 108_000, 2),
])
def test_atari_matches_gymnasiums_atari_preprocessing(
        game, gray, actions, max_frames, episodes):
    """episodes: how many to play to their end, 0 for 300 steps of one."""
    task = 'atari_' + game.lower()
    env = make_env(task, repeat=4, seed=SEED, atari=dict(
        gray=gray, actions=actions, max_frames=max_frames))
    library = library_env(game, gray, actions, max_frames)
    count = library.action_space.n
    assert count == (18 if actions == 'full' else {'Pong': 6, 'Breakout': 4}[
        game])
    assert env.act_space['action'] == Space(np.int32, (), 0, count - 1)
    assert env.obs_space['image'] == Space(np.uint8, (64, 64, 1 if gray else 3))
    rng = np.random.default_rng(0)
    seed, lives_lost, rewards = SEED, False, []
    for _ in range(episodes or 1):
        image, info = library.reset(seed=seed)
        seed = None  # Seeded once, as our environment.
        obs = env.step({'action': 0, 'reset': True})
        assert obs['is_first']
        np.testing.assert_array_equal(obs['image'], image)
        assert obs['log_lives'] == info['lives']
        steps = 0
        while True:
            action = int(rng.integers(count))
            image, reward, terminated, truncated, info = library.step(action)
            obs = env.step({'action': action, 'reset': False})
            steps += 1
            assert obs['reward'] == np.float32(reward)
            assert obs['is_terminal'] == terminated
            assert obs['is_last'] == (terminated or truncated)
            assert obs['log_lives'] == info['lives']
            lives_lost |= 0 < info['lives'] < 5
            rewards.append(reward)
            if obs['is_last'] or (not episodes and steps == 300):
                break
            # On an episode's last step gymnasium's wrapper repeats the
            # previous image when the game ended inside the repeat; ours
            # pools the last two frames played.
            np.testing.assert_array_equal(obs['image'], image)
        if max_frames < 108_000:
            assert truncated and not terminated
            assert steps == pytest.approx(max_frames / 4, abs=8)  # no-ops
        elif episodes:
            assert terminated
    assert any(rewards)
    if game == 'Breakout':
        assert lives_lost


def test_atari_options_and_names():
    with pytest.raises(UnknownTaskError, match='atari_pong'):
        make_env('atari_pongg')
    with pytest.raises(ValueError, match='env.atari applies to atari_ tasks'):
        make_env('pinpad_three', atari={'gray': True})
    # No no-ops and no sticky actions: two seeds, the same game.
    plain = dict(noops=0, sticky=0.0)
    first, second = (
        make_env('atari_pong', repeat=4, seed=seed, atari=plain)
        for seed in (1, 2))
    for env in (first, second):
        env.step({'action': 0, 'reset': True})
    for action in [1, 2, 3] * 20:
        images = [env.step({'action': action, 'reset': False})['image']
                  for env in (first, second)]
        np.testing.assert_array_equal(*images)


def test_atari_runs_in_a_process_that_imported_tensorflow():
    """ALE draws in software: env.parallel none is allowed beside
    TensorFlow, unlike the tasks Mesa renders."""
    import tensorflow  # noqa: F401
    [env] = embodied.make_envs('atari_pong', 1, parallel='none', repeat=4)
    try:
        env.step({'action': 0, 'reset': True})
        obs = env.step({'action': 2, 'reset': False})
        assert obs['image'].shape == (64, 64, 3) and obs['image'].any()
    finally:
        env.close()
    with pytest.raises(ValueError, match='cannot render in a process'):
        embodied.make_envs('dmc_walker_walk', 1, parallel='none')


def test_atari_config_keys_stop_with_one_line():
    config = configs.parse(['--configs', 'atari', 'debug'])
    assert config.task == 'atari_pong' and config.env.repeat == 4
    for argv, message in [
            (['--env.atari.sticky', '1.5'],
             'env.atari.sticky must be between 0 and 1, got 1.5'),
            (['--env.atari.noops', '-1'], 'env.atari.noops must be at least 0'),
            (['--env.atari.actions', 'all'],
             'env.atari.actions must be full or minimal'),
            (['--task', 'dmc_walker_walk'],
             'env.atari.gray applies to atari_ tasks, not dmc_walker_walk')]:
        with pytest.raises(embodied.ConfigError) as error:
            configs.parse(['--configs', 'atari', 'debug', *argv])
        assert message in str(error.value)
        assert '\n' not in str(error.value)


@pytest.mark.slow
def test_debug_run_trains_on_atari(debug_runs):
    """`train.py --configs atari debug --task atari_pong`, shortened."""
    logdir = debug_run(debug_runs, 'atari')
    lines = [json.loads(line) for line in open(logdir / 'metrics.jsonl')]
    losses = [line['train/model_loss'] for line in lines
              if 'train/model_loss' in line]
    assert losses and np.isfinite(losses).all()
    assert any('episode/mean_log_lives' in line for line in lines)
    episodes = [np.load(f) for f in glob.glob(str(logdir / 'replay/*.npz'))]
    assert episodes
    for episode in episodes:
        assert episode['image'].shape[1:] == (64, 64, 1)  # grey
        assert 'log_lives' not in episode  # logged, not stored
        actions = episode['action']
        assert actions.dtype == np.int32 and 0 <= actions.min()
        assert actions.max() <= 17  # the full action set
