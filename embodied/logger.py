"""Metrics to the terminal, metrics.jsonl and TensorBoard."""

import io
import json
import re
import time

import numpy as np


class Logger:
    """Collects scalars, images and videos and writes them to all outputs.

    Values are logged against `step * multiplier` (environment frames when
    the multiplier is the action repeat).
    """

    def __init__(self, step, outputs, multiplier=1):
        self._step = step
        self._outputs = outputs
        self._multiplier = multiplier
        self._metrics = []
        self._last_step = None
        self._last_time = None

    @property
    def step(self):
        return self._step

    def add(self, mapping, prefix=None):
        step = int(self._step) * self._multiplier
        for name, value in dict(mapping).items():
            name = f'{prefix}/{name}' if prefix else name
            value = np.asarray(value)
            if value.ndim not in (0, 3, 4):
                raise ValueError(
                    f'metric {name!r} has shape {value.shape}: expected a '
                    'scalar, an image (H,W,C) or a video (T,H,W,C)')
            self._metrics.append((step, name, value))

    def scalar(self, name, value):
        self.add({name: value})

    def video(self, name, value):
        self.add({name: value})

    def write(self, fps=False):
        if fps:
            self._add_fps()
        if not self._metrics:
            return
        for output in self._outputs:
            output(tuple(self._metrics))
        self._metrics.clear()

    def _add_fps(self):
        step, now = int(self._step) * self._multiplier, time.time()
        if self._last_step is not None and now > self._last_time:
            self.scalar('fps/env', (step - self._last_step) /
                        (now - self._last_time))
        self._last_step, self._last_time = step, now

    def resume(self, checkpointed=True):
        """Drops what outputs hold past the step the run resumes from: the
        restored step, or every step when no checkpoint was restored. What a
        killed attempt logged after its last checkpoint is logged again by
        the resumed run, so it goes rather than appear twice."""
        step = int(self._step) * self._multiplier if checkpointed else -1
        for output in self._outputs:
            if hasattr(output, 'drop_after'):
                output.drop_after(step)

    def close(self):
        for output in self._outputs:
            if hasattr(output, 'close'):
                output.close()


class TerminalOutput:
    """The scalars whose names match `pattern` (the progress line is
    embodied.run.Progress's, on a clock of its own)."""

    def __init__(self, pattern='.*'):
        self._pattern = re.compile(pattern)

    def __call__(self, summaries):
        scalars = {n: float(v) for _, n, v in summaries if v.ndim == 0}
        shown = {
            k: v for k, v in scalars.items()
            if self._pattern.search(k) and not k.startswith('fps/')}
        if shown:
            print(' / '.join(f'{k} {_short(v)}' for k, v in shown.items()),
                  flush=True)


class JSONLOutput:
    """One JSON line of scalars per write, in `directory/metrics.jsonl`."""

    def __init__(self, directory, filename='metrics.jsonl'):
        self._path = directory / filename

    def __call__(self, summaries):
        by_step = {}
        for step, name, value in summaries:
            if value.ndim == 0:
                by_step.setdefault(step, {})[name] = float(value)
        with self._path.open('a') as f:
            for step, scalars in sorted(by_step.items()):
                f.write(json.dumps({'step': step, **scalars}) + '\n')

    def drop_after(self, step):
        """Removes the lines logged after `step` (a line cut off by a kill
        goes too)."""
        if not self._path.exists():
            return
        kept = []
        for line in self._path.read_text().splitlines():
            try:
                if json.loads(line)['step'] <= step:
                    kept.append(line + '\n')
            except (ValueError, KeyError):
                continue
        tmp = self._path.with_suffix('.tmp')
        tmp.write_text(''.join(kept))
        tmp.replace(self._path)


class TensorBoardOutput:
    """Scalars, images and animated GIF videos as TensorBoard events."""

    def __init__(self, directory, fps=20):
        import tensorflow as tf  # Only this output needs TensorFlow.
        self._tf = tf
        self._writer = tf.summary.create_file_writer(str(directory))
        self._fps = fps

    def __call__(self, summaries):
        tf = self._tf
        with self._writer.as_default():
            for step, name, value in summaries:
                if value.ndim == 0:
                    tf.summary.scalar(name, value, step)
                elif value.ndim == 3:
                    tf.summary.image(name, _to_uint8(value)[None], step)
                else:
                    self._video(name, _to_uint8(value), step)
        self._writer.flush()

    def _video(self, name, frames, step):
        tf = self._tf
        height, width, channels = frames.shape[1:]
        image = tf.compat.v1.Summary.Image(
            height=height, width=width, colorspace=channels,
            encoded_image_string=encode_gif(frames, self._fps))
        summary = tf.compat.v1.Summary(
            value=[tf.compat.v1.Summary.Value(tag=name, image=image)])
        tf.summary.experimental.write_raw_pb(
            summary.SerializeToString(), step)

    def drop_after(self, step):
        """Event files are append-only: writes a restart marker (SessionLog
        START) at `step + 1`, by which TensorBoard's loader discards the
        events of earlier files from that step on. TensorBoard takes a
        run's first marker for its start, so every run writes one."""
        tf = self._tf
        event = tf.compat.v1.Event(
            wall_time=time.time(), step=step + 1,
            session_log=tf.compat.v1.SessionLog(
                status=tf.compat.v1.SessionLog.START))
        # tf.summary has no call for a raw event; this op is what
        # tf.compat.v1 FileWriter.add_session_log amounts to in TF2.
        tf.raw_ops.ImportEvent(
            writer=self._writer._resource, event=event.SerializeToString())
        self._writer.flush()

    def close(self):
        self._writer.close()


def encode_gif(frames, fps):
    from PIL import Image
    images = [Image.fromarray(f.squeeze(-1) if f.shape[-1] == 1 else f)
              for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer, format='GIF', save_all=True, append_images=images[1:],
        duration=int(1000 / fps), loop=0)
    return buffer.getvalue()


def _to_uint8(value):
    if value.dtype == np.uint8:
        return value
    return (np.clip(value, 0, 1) * 255).astype(np.uint8)


def _short(value):
    if value == 0 or 1e-3 <= abs(value) < 1e5:
        return f'{value:.4g}'
    return f'{value:.2e}'
