"""Episode replay: finished episodes on disk, fixed-length chunks sampled."""

import collections
import datetime
import io
import pathlib
import re
import threading
import uuid
import zipfile

import numpy as np

_BROKEN_FILE_ERRORS = (
    zipfile.BadZipFile, EOFError, ValueError, OSError, KeyError)


class Replay:
    """Stores finished episodes as compressed .npz files in `directory`.

    Chunks of `chunk` steps are drawn by picking a stored episode uniformly
    and a start inside it uniformly, with starts past the last full chunk
    clipped to it so that episode ends are not under-sampled (Director's
    fixed-length replay). The first step of every chunk is marked is_first.
    Episodes shorter than `chunk` are kept on disk but never sampled.
    Capacity is in steps: the oldest episodes leave memory first, and their
    files go too unless `keep_evicted`. With a step `counter`, each file's
    name ends in the counter's value when the episode finished
    (`-step<N>.npz`), so that a resumed run can drop what it never counted.
    """

    def __init__(self, directory, capacity, chunk, seed=0, log=print,
                 keep_evicted=True, counter=None):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.capacity = int(capacity)
        self.chunk = int(chunk)
        self.keep_evicted = keep_evicted
        self._counter = counter
        self._log = log
        self._rng = np.random.default_rng(seed)
        self._ongoing = collections.defaultdict(
            lambda: collections.defaultdict(list))
        self._episodes = collections.OrderedDict()
        self._steps = 0
        # The learner samples on a prefetch thread while the driver adds.
        self._lock = threading.Lock()

    def __len__(self):
        return self._steps

    @property
    def stats(self):
        return {
            'steps': self._steps, 'episodes': len(self._episodes),
            'sampleable': self._sampleable_count()}

    def add(self, tran, worker=0):
        if tran['is_first']:
            self._ongoing.pop(worker, None)
        episode = self._ongoing[worker]
        for key, value in tran.items():
            if is_stored(key):
                episode[key].append(value)
        if tran['is_last']:
            self._finish(self._ongoing.pop(worker))

    def drop(self, worker):
        """Discards the unfinished episode of a worker (its env crashed)."""
        self._ongoing.pop(worker, None)

    def _finish(self, episode):
        episode = {k: np.stack(v) for k, v in episode.items()}
        step = None if self._counter is None else int(self._counter)
        name = _episode_name(len(episode['is_first']), step)
        _write_npz(self.directory / name, episode)
        self._insert(name, episode)

    def _insert(self, name, episode):
        with self._lock:
            self._insert_unlocked(name, episode)

    def _insert_unlocked(self, name, episode):
        self._episodes[name] = episode
        self._steps += len(episode['is_first'])
        while self._steps > self.capacity and len(self._episodes) > 1:
            old_name, old = self._episodes.popitem(last=False)
            self._steps -= len(old['is_first'])
            if not self.keep_evicted:
                (self.directory / old_name).unlink(missing_ok=True)

    def load(self, until=None):
        """Loads the newest episodes that fit the capacity, skipping files
        that cannot be read. With `until` (the step a run resumes from),
        the files of episodes finished after that step are deleted instead:
        a killed attempt wrote them, and the restored counter never counted
        them. Returns the number of episodes loaded."""
        files = sorted(self.directory.glob('*.npz'), reverse=True)
        if until is not None:
            later = [p for p in files if finished_at(p.name, -1) > until]
            for path in later:
                path.unlink()
            if later:
                self._log(f'Dropped {len(later)} replay episodes finished '
                          f'after step {until}, the step the run resumes '
                          'from.')
            files = [p for p in files if p not in later]
        chosen, steps = [], 0
        for path in files:
            if steps >= self.capacity:
                break
            episode = self._read(path)
            if episode is None:
                continue
            chosen.append((path.name, episode))
            steps += len(episode['is_first'])
        for name, episode in reversed(chosen):
            self._insert(name, episode)
        return len(chosen)

    def _read(self, path):
        try:
            with np.load(path) as data:
                episode = {k: data[k] for k in data.files}
            if 'is_first' not in episode:
                raise KeyError('is_first')
            return episode
        except _BROKEN_FILE_ERRORS as e:
            self._log(f'Warning: skipping unreadable replay file {path} '
                      f'({type(e).__name__}: {e})')
            return None

    def _sampleable_count(self):
        with self._lock:
            return sum(
                len(ep['is_first']) >= self.chunk
                for ep in self._episodes.values())

    def sample(self, batch_size):
        with self._lock:
            names = [
                name for name, ep in self._episodes.items()
                if len(ep['is_first']) >= self.chunk]
            episodes = [self._episodes[name] for name in names]
        if not names:
            raise RuntimeError(
                f'replay has no episode of at least {self.chunk} steps '
                f'({len(self._episodes)} shorter ones); lower replay.chunk or '
                'raise env.length')
        chunks = [self._chunk(episodes[i])
                  for i in self._rng.integers(0, len(names), batch_size)]
        return {k: np.stack([c[k] for c in chunks]) for k in chunks[0]}

    def _chunk(self, episode):
        total = len(episode['is_first'])
        start = self._rng.integers(0, total + 1)
        start = min(start, total - self.chunk)
        chunk = {k: v[start: start + self.chunk] for k, v in episode.items()}
        chunk['is_first'] = chunk['is_first'].copy()
        chunk['is_first'][0] = True
        return chunk

    def dataset(self, batch_size):
        while True:
            yield self.sample(batch_size)


def is_stored(key):
    """Whether the replay keeps a transition's key: all but the policy's
    log_ outputs and the driver's reset flag."""
    return key != 'reset' and not key.startswith('log_')


def bytes_per_step(spaces):
    """Memory one stored step takes (the keys is_stored keeps)."""
    return sum(
        int(np.prod(space.shape)) * space.dtype.itemsize
        for key, space in spaces.items() if is_stored(key))


def stored_keys(directory, until=None):
    """The keys of the newest episode file in `directory` (finished at or
    before step `until`), read from the file's index alone; None without
    one."""
    files = sorted(pathlib.Path(directory).glob('*.npz'), reverse=True)
    for path in files:
        if until is not None and finished_at(path.name, -1) > until:
            continue
        try:
            with np.load(path) as data:
                return set(data.files)
        except _BROKEN_FILE_ERRORS:
            continue
    return None


def _episode_name(length, step=None):
    stamp = datetime.datetime.now().strftime('%Y%m%dT%H%M%S%f')
    finished = '' if step is None else f'-step{step}'
    return f'{stamp}-{uuid.uuid4().hex[:8]}-{length}{finished}.npz'


def finished_at(name, default):
    """The step counter's value when an episode finished, from its file
    name; `default` for files written without a counter."""
    match = re.search(r'-step(\d+)\.npz$', name)
    return int(match[1]) if match else default


def _write_npz(path, arrays):
    """Writes to a temporary name first so a crash leaves no partial file."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    tmp = path.with_name(path.name + '.tmp')
    with tmp.open('wb') as f:
        f.write(buffer.getvalue())
    tmp.replace(path)
