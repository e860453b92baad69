"""Numbered checkpoint directories, written atomically.

Each saved object writes its own files into the directory via
`obj.save(directory)` (the agent with tf.train.Checkpoint, the counter as
JSON). The directory is first written under a temporary name and renamed
when complete, so a run killed mid-save keeps its previous checkpoint.
"""

import pathlib
import shutil


class IncompatibleCheckpoint(ValueError):
    """A checkpoint that is intact but does not fit this run's config; an
    older checkpoint would not fit either, so loading stops."""


class Checkpoint:

    def __init__(self, directory, keep=3, log=print):
        self.directory = pathlib.Path(directory)
        self._keep = keep
        self._log = log
        self._objects = {}

    def register(self, name, obj):
        self._objects[name] = obj

    def saved(self):
        """Complete checkpoints, oldest first."""
        if not self.directory.exists():
            return []
        return sorted(
            p for p in self.directory.glob('ckpt-*')
            if p.is_dir() and not p.name.endswith('.tmp'))

    def save(self, step):
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f'ckpt-{int(step):012d}'
        tmp = final.with_name(final.name + '.tmp')
        shutil.rmtree(tmp, ignore_errors=True)
        for name, obj in self._objects.items():
            path = tmp / name
            path.mkdir(parents=True)
            obj.save(path)
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in self.saved()[:-self._keep]:
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, path=None):
        """Loads `path`, or the newest checkpoint that can be read, falling
        back to older ones. Returns the path loaded, or None if none."""
        candidates = [pathlib.Path(path)] if path else self.saved()[::-1]
        for candidate in candidates:
            try:
                for name, obj in self._objects.items():
                    obj.load(candidate / name)
                self._log(f'Loaded checkpoint {candidate}')
                return candidate
            except IncompatibleCheckpoint:
                raise
            except Exception as e:
                if path:
                    raise
                self._log(f'Warning: cannot load checkpoint {candidate} '
                          f'({type(e).__name__}: {e}); trying an older one')
        return None
