import numpy as np
import pytest

import embodied
from embodied.replay import Replay, bytes_per_step


def add_episode(replay, length, worker=0, offset=0):
    for t in range(length):
        replay.add({
            'step': np.int32(offset + t),
            'obs': np.full(3, offset + t, np.float32),
            'action': np.zeros(2, np.float32),
            'reward': np.float32(1.0),
            'is_first': t == 0, 'is_last': t == length - 1,
            'is_terminal': False, 'reset': False,
        }, worker)


def test_store_and_sample_chunks(tmp_path):
    replay = Replay(tmp_path, capacity=1000, chunk=10)
    add_episode(replay, 30, offset=0)
    add_episode(replay, 25, offset=100)
    assert len(replay) == 55 and len(list(tmp_path.glob('*.npz'))) == 2
    batch = replay.sample(8)
    assert set(batch) == {
        'step', 'obs', 'action', 'reward', 'is_first', 'is_last',
        'is_terminal'}
    assert batch['obs'].shape == (8, 10, 3) and batch['step'].shape == (8, 10)
    assert batch['is_first'][:, 0].all() and not batch['is_first'][:, 1:].any()
    # Chunks are contiguous pieces of one episode.
    assert (np.diff(batch['step'], axis=1) == 1).all()


def test_interleaved_workers_and_short_episodes(tmp_path):
    replay = Replay(tmp_path, capacity=1000, chunk=10)
    add_episode(replay, 5)
    with pytest.raises(RuntimeError, match='no episode of at least 10'):
        replay.sample(2)
    for t in range(12):  # Two workers interleave their steps.
        for worker in (1, 2):
            replay.add({
                'step': np.int32(1000 * worker + t), 'is_first': t == 0,
                'is_last': t == 11, 'reward': np.float32(0)}, worker)
    batch = replay.sample(16)
    assert (np.diff(batch['step'], axis=1) == 1).all()
    assert set(batch['step'][:, 0] // 1000) == {1, 2}


def test_capacity_evicts_oldest_episodes(tmp_path):
    replay = Replay(tmp_path, capacity=50, chunk=10)
    for i in range(5):
        add_episode(replay, 20, offset=100 * i)
    assert len(replay) <= 50 and replay.stats['episodes'] == 2
    starts = replay.sample(64)['step'][:, 0]
    assert starts.min() >= 300


def test_reload_after_restart(tmp_path):
    replay = Replay(tmp_path, capacity=1000, chunk=10)
    for i in range(3):
        add_episode(replay, 20, offset=100 * i)
    replay.add({'step': np.int32(7), 'is_first': True, 'is_last': False,
                'reward': np.float32(0)}, 0)  # Unfinished: not written.
    restarted = Replay(tmp_path, capacity=1000, chunk=10)
    assert restarted.load() == 3 and len(restarted) == 60
    assert set(restarted.sample(64)['step'][:, 0] // 100) == {0, 1, 2}
    small = Replay(tmp_path, capacity=40, chunk=10)
    small.load()
    assert len(small) == 40
    assert small.sample(32)['step'][:, 0].min() >= 100


def test_truncated_file_is_skipped_with_warning(tmp_path):
    replay = Replay(tmp_path, capacity=1000, chunk=10)
    add_episode(replay, 20)
    add_episode(replay, 20, offset=100)
    broken = sorted(tmp_path.glob('*.npz'))[0]
    broken.write_bytes(broken.read_bytes()[:100])
    warnings = []
    restarted = Replay(tmp_path, capacity=1000, chunk=10, log=warnings.append)
    assert restarted.load() == 1 and len(restarted) == 20
    assert len(warnings) == 1 and str(broken) in warnings[0]


def test_drop_discards_unfinished_episode(tmp_path):
    replay = Replay(tmp_path, capacity=1000, chunk=4)
    for t in range(3):
        replay.add({'step': np.int32(t), 'is_first': t == 0, 'is_last': False,
                    'reward': np.float32(0)}, 0)
    replay.drop(0)
    replay.add({'step': np.int32(50), 'is_first': False, 'is_last': True,
                'reward': np.float32(0)}, 0)
    assert len(replay) == 1


@pytest.mark.parametrize('keep', [False, True])
def test_evicted_episodes_leave_the_disk_unless_kept(tmp_path, keep):
    replay = Replay(tmp_path, capacity=50, chunk=10, keep_evicted=keep)
    for i in range(5):
        add_episode(replay, 20, offset=100 * i)
    assert replay.stats['episodes'] == 2
    assert len(list(tmp_path.glob('*.npz'))) == (5 if keep else 2)


def test_bytes_per_step_counts_what_the_replay_stores(tmp_path):
    spaces = {
        'image': embodied.Space(np.uint8, (64, 64, 3)),
        'reward': embodied.Space(np.float32),
        'is_first': embodied.Space(bool),
        'is_last': embodied.Space(bool),
        'log_choice': embodied.Space(np.float32, (4,)),
        'action': embodied.Space(np.float32, (6,)),
        'reset': embodied.Space(bool)}
    assert bytes_per_step(spaces) == 64 * 64 * 3 + 4 + 1 + 1 + 6 * 4
    # The estimate is what Replay.add keeps of such transitions.
    replay = Replay(tmp_path, capacity=100, chunk=2)
    for t in range(3):
        replay.add({**{k: s.sample() for k, s in spaces.items()},
                    'is_first': t == 0, 'is_last': t == 2})
    batch = replay.sample(1)
    assert sum(v[0, 0].nbytes for v in batch.values()) == bytes_per_step(
        spaces)


def test_a_replay_larger_than_the_memory_is_refused_with_the_size_that_fits(
        capsys):
    from mrs_tf import configs, launch
    config = configs.parse(['--replay.size', '1000000'])
    spaces = {'image': embodied.Space(np.uint8, (64, 64, 3))}
    with pytest.raises(embodied.ConfigError, match=(
            r'^replay.size 1000000 needs 12.3 GB of RAM at capacity '
            r'\(12,288 bytes per step\), more than the 8.0 GB available: '
            r'at most 651,041 steps fit')):
        launch.check_replay_memory(config, spaces, available=8e9)
    launch.check_replay_memory(config, spaces, available=16e9)
    assert 'Replay at capacity: 1,000,000 steps x 12,288 bytes = 12.29 GB' in (
        capsys.readouterr().out)


def test_resume_drops_episodes_finished_after_the_restored_step(tmp_path):
    counter = embodied.Counter()
    replay = Replay(tmp_path, capacity=1000, chunk=10, counter=counter)
    for i in range(4):
        counter.increment(20)
        add_episode(replay, 20, offset=100 * i)
    old = Replay(tmp_path, capacity=1000, chunk=10)  # Names carry no step.
    add_episode(old, 20, offset=900)
    logs = []
    resumed = Replay(tmp_path, capacity=1000, chunk=10, log=logs.append)
    # Resumed from a checkpoint of step 45: the episodes finished at steps
    # 60 and 80 were never counted, their files go.
    assert resumed.load(until=45) == 3 and len(resumed) == 60
    assert set(resumed.sample(64)['step'][:, 0] // 100) == {0, 1, 9}
    assert len(list(tmp_path.glob('*.npz'))) == 3
    assert logs == [
        'Dropped 2 replay episodes finished after step 45, the step the '
        'run resumes from.']
    assert Replay(tmp_path, 1000, 10, log=logs.append).load(until=0) == 1
