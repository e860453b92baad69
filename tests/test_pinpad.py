"""Pin Pad (embodied.envs.pinpad) against a recording of upstream Director's
environment, its vector observations, task names, presets and the check
command. Needs no TensorFlow; seconds.

tests/data/pinpad_director.npz comes from scripts/record_pinpad.py: per
task one whole 2000-step episode, the automatic reset and 30 steps of the
next episode, from chosen start positions, with upstream's respawns
recorded. The replay here takes the same actions and spawn positions.
"""

import pathlib
import re
import subprocess
import sys
import zlib

import numpy as np
import pytest

import embodied
from embodied.envs import PINPAD_TASKS, UnknownTaskError, make_env, pinpad
from mrs_tf import configs

ROOT = pathlib.Path(__file__).resolve().parent.parent
RECORDING = ROOT / 'tests' / 'data' / 'pinpad_director.npz'
NAMES = ('three', 'four', 'five', 'six', 'seven', 'eight')
VECTOR_KEYS = ('position', 'sequence', 'countdown')


@pytest.fixture(scope='module')
def recording():
    with np.load(RECORDING) as data:
        return {key: data[key] for key in data.files}


def scripted_env(task, spawns, **kwargs):
    """make_env(task) whose spawn and respawn cells are `spawns`, in order."""
    env = make_env(task, seed=0, **kwargs)
    cells = iter([tuple(int(v) for v in cell) for cell in spawns])
    env._random_free_cell = lambda: next(cells)
    return env, cells


def decode(obs, pads):
    """(x, y), the sequence of pad numbers padded with 0, and the countdown
    flag from the vector observations."""
    position = obs['position']
    columns, rows = position[:pinpad.WIDTH], position[pinpad.WIDTH:]
    assert columns.sum() == 1 and rows.sum() == 1
    slots = obs['sequence'].reshape(pads, pads)
    assert set(slots.sum(1)) <= {0, 1}
    sequence = np.where(slots.any(1), slots.argmax(1) + 1, 0).tolist()
    return ((int(columns.argmax()), int(rows.argmax())), sequence,
            int(obs['countdown'][0]))


def replay(recording, name):
    """Our environment stepped with the recorded actions and spawns."""
    pads = PINPAD_TASKS[f'pinpad_{name}']
    env, unused = scripted_env(
        f'pinpad_{name}', recording[f'{name}_spawns'])
    steps = []
    for index, action in enumerate(recording[f'{name}_action']):
        obs = env.step({'action': action, 'reset': index == 0})
        position, sequence, countdown = decode(obs, pads)
        steps.append(dict(
            obs=obs, position=position, sequence=sequence,
            countdown=countdown))
    assert next(unused, None) is None, 'fewer respawns than upstream'
    return steps


@pytest.mark.parametrize('name', NAMES)
def test_layout_matches_director(recording, name):
    cells = pinpad.arena_cells(PINPAD_TASKS[f'pinpad_{name}'])
    np.testing.assert_array_equal(cells, recording[f'{name}_cells'])


@pytest.mark.parametrize('name', NAMES)
def test_replay_matches_director(recording, name):
    steps = replay(recording, name)
    expected = lambda key: recording[f'{name}_{key}']
    assert len(steps) == len(expected('action')) == 2032
    np.testing.assert_array_equal(
        [step['position'] for step in steps], expected('position'))
    np.testing.assert_array_equal(
        [step['sequence'] for step in steps], expected('sequence'))
    np.testing.assert_array_equal(
        [step['countdown'] for step in steps], expected('countdown') > 0)
    for key in ('reward', 'is_first', 'is_last', 'is_terminal'):
        np.testing.assert_array_equal(
            [step['obs'][key] for step in steps], expected(key), err_msg=key)
    for index, image in zip(expected('image_steps'), expected('images')):
        np.testing.assert_array_equal(
            steps[index]['obs']['image'], image, err_msg=f'step {index}')
    crcs = [zlib.crc32(step['obs']['image'].tobytes()) for step in steps]
    mismatches = np.flatnonzero(np.array(crcs) != expected('image_crc'))
    assert not len(mismatches), f'images differ at steps {mismatches[:10]}'


def test_recording_covers_the_rules(recording):
    """Every rule happens in the recording: rewards and respawns in every
    task, the episode end at Director's 2000 steps, and a full sequence
    that drops its oldest pad."""
    for name in NAMES:
        rewards = recording[f'{name}_reward']
        assert set(rewards) == {0, 10} and rewards.sum() >= 70, name
        assert len(recording[f'{name}_spawns']) > 2, name
        assert np.flatnonzero(recording[f'{name}_is_last']).tolist() == [2000]
        assert np.flatnonzero(recording[f'{name}_is_first']).tolist() == [
            0, 2001]
        sequence = recording[f'{name}_sequence']
        full = (sequence > 0).all(1)
        assert (full[1:] & full[:-1]
                & (sequence[1:] != sequence[:-1]).any(1)).any(), name


def test_vector_observations():
    """Position, sequence and countdown as the image shows them: stepping
    into the wall from a pad records nothing, staying on it records it
    once, the full order rewards and starts the countdown, whose end
    respawns the player with an empty sequence."""
    env, _ = scripted_env(
        'pinpad_three', [(1, 1), (7, 6)], render=False)
    stay, down, up, right, left = range(5)
    assert pinpad.MOVE_NAMES == ('stay', 'down', 'up', 'right', 'left')
    assert set(env.obs_space) == {
        'reward', 'is_first', 'is_last', 'is_terminal', *VECTOR_KEYS}
    assert env.obs_space['position'].shape == (30,)
    assert env.obs_space['sequence'].shape == (9,)
    assert env.obs_space['countdown'].shape == (1,)
    observe = lambda obs: decode(obs, 3)
    obs = env.step({'action': stay, 'reset': True})
    assert all(env.obs_space[key].contains(obs[key]) for key in obs)
    assert observe(obs) == ((1, 1), [0, 0, 0], 0)
    obs = env.step({'action': left, 'reset': False})
    assert observe(obs)[:2] == ((1, 1), [0, 0, 0])
    obs = env.step({'action': stay, 'reset': False})
    assert observe(obs)[:2] == ((1, 1), [1, 0, 0])
    np.testing.assert_array_equal(
        obs['sequence'], [1, 0, 0, 0, 0, 0, 0, 0, 0])
    position = np.zeros(30)
    position[[1, 16 + 1]] = 1
    np.testing.assert_array_equal(obs['position'], position)
    # Pad 2 fills x 6-9, y 9-12; pad 3 x 11-14, y 1-4.
    moves = [down] * 8 + [right] * 5 + [up] * 5 + [right] * 5
    rewards = [env.step({'action': a, 'reset': False})['reward']
               for a in moves]
    obs = env.step({'action': stay, 'reset': False})
    assert rewards == [0] * 22 + [10]
    assert observe(obs) == ((11, 4), [1, 2, 3], 1)
    for _ in range(8):
        obs = env.step({'action': stay, 'reset': False})
    assert observe(obs) == ((11, 4), [1, 2, 3], 1)
    obs = env.step({'action': right, 'reset': False})
    assert observe(obs) == ((8, 6), [0, 0, 0], 0)
    assert obs['reward'] == 0


def test_sequence_progress_counts_the_order_entered_so_far():
    def observation(visited, pads=4):
        sequence = np.zeros((pads, pads), np.float32)
        for slot, pad in enumerate(visited):
            sequence[slot, pad - 1] = 1
        return sequence.reshape(-1)
    cases = {(): 0, (2,): 0, (1,): 1, (3, 1): 1, (1, 2): 2, (2, 3): 0,
             (4, 1, 2, 3): 3, (1, 2, 3, 4): 4, (2, 1, 2, 3): 3,
             (1, 3, 1, 2): 2}
    sequences = np.stack([observation(v) for v in cases])
    np.testing.assert_array_equal(
        pinpad.sequence_progress(sequences), list(cases.values()))
    # Any leading shape; the pad count is read from the width.
    assert pinpad.sequence_progress(
        observation((1, 2), pads=3)[None, None]).tolist() == [[2]]


def test_render_and_sizes():
    env = make_env('pinpad_four', size=(32, 48), render=True)
    image = env.step({'action': 0, 'reset': True})['image']
    assert image.shape == (32, 48, 3) and image.dtype == np.uint8
    assert set(make_env('pinpad_four').obs_space) == {
        'reward', 'is_first', 'is_last', 'is_terminal', 'image',
        *VECTOR_KEYS}
    assert make_env('pinpad_four').act_space['action'] == embodied.Space(
        np.int32, (), 0, 4)
    with pytest.raises(ValueError, match='env.repeat must be 1'):
        make_env('pinpad_four', repeat=2)


@pytest.mark.parametrize('task', ['pinpad_nine', 'pinpad_Four', 'pinpad'])
def test_unknown_task_names(task):
    with pytest.raises(UnknownTaskError) as info:
        make_env(task)
    message = str(info.value)
    assert '\n' not in message and f"Unknown task '{task}'" in message
    assert 'pinpad_three' in message and 'Closest matches: pinpad_' in message


def test_unknown_task_stops_train_with_one_line(tmp_path):
    result = subprocess.run(
        [sys.executable, 'train.py', '--task', 'pinpad_nine', '--agent',
         'random', '--logdir', str(tmp_path / 'run')],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Unknown task 'pinpad_nine'.")
    assert 'Closest matches: pinpad_' in line


def test_presets():
    image = configs.parse(['--configs', 'pinpad'])
    assert image.task == 'pinpad_five' and image.env.render
    assert image.encoder.cnn_keys == image.decoder.cnn_keys == 'image'
    assert image.encoder.mlp_keys == image.decoder.mlp_keys == '$^'
    vectors = configs.parse(['--configs', 'cpu_small', 'pinpad_proprio'])
    assert vectors.env.repeat == 1 and not vectors.env.render
    assert vectors.encoder.cnn_keys == vectors.decoder.cnn_keys == '$^'
    assert vectors.rssm.deter == 128
    obs_space = make_env(vectors.task, render=False).obs_space
    for keys in (vectors.encoder.mlp_keys, vectors.decoder.mlp_keys):
        assert {k for k in obs_space if re.search(keys, k)} == set(
            VECTOR_KEYS)
    with pytest.raises(embodied.ConfigError) as info:
        configs.parse(['--configs', 'pinpad_proprio', 'cpu_small'])
    message = str(info.value)
    assert 'env.repeat must be 1, got 2' in message and '\n' not in message


def test_check_command():
    def check(*args):
        return subprocess.run(
            [sys.executable, '-m', 'embodied.envs.check', 'pinpad_four',
             '--steps', '300', *args],
            cwd=ROOT, capture_output=True, text=True, timeout=120)

    for args, has_image in (((), True), (('--no-render',), False)):
        result = check(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        assert 'steps/s' in result.stdout
        assert ('  image: ' in result.stdout) == has_image
        assert '  position: ' in result.stdout
