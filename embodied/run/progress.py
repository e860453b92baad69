"""A progress line on a clock, apart from the metrics: the phase the run
is in, its step, the environment and training rates and the time left.

    [prefill 1,200/10,000] step 1,200/1,000,000 (0.1%) | env 812 fps | train 0.00 steps/s | ETA 0:00:11 (prefill)
    [train] step 12,345/1,000,000 (1.2%) | env 45.3 fps | train 5.67 steps/s | ETA 3:12:45
    [eval 1/10 episodes] step 30,000/1,000,000 (3.0%) | env 60.1 fps | train 0.00 steps/s | ETA 3:10:02

The loops report what happens (env_step, train_step, episode); each call
prints the line when `every` seconds have passed since the last one, so a
line comes at the first step boundary after that: an agent call in
progress (the first ones trace) is not cut short.
"""

import time


class Progress:
    """`step` is the run's step counter (agent steps) and `steps` its
    total; without a counter (eval_only) the line has no step.

    The main phase is set by start() (prefill, then train); steps and
    episodes reported with evaluation=True belong to an evaluation, which
    begins at the first of them after main-phase steps and counts its
    episodes against `eval_episodes`; the next main-phase step ends it.

    Rates are over the time since the last line or since the phase (or
    evaluation) began, whichever is later: env fps counts environment
    frames (transitions times `repeat`), train steps/s the agent's train
    calls. The ETA is the run's end at the pace of agent steps since
    training began in this process (evaluations and checkpoints included);
    before that, the end of the phase at its own pace. `every` <= 0
    prints nothing."""

    def __init__(self, every=60, step=None, steps=0, repeat=1,
                 eval_episodes=0, clock=time.monotonic, write=None):
        self._every = every
        self._step = step
        self._steps = steps
        self._repeat = repeat
        self._eval_episodes = eval_episodes
        self._clock = clock
        self._write = write or _print_now
        self._last = self._last_event = clock()
        self._trained_from = None  # (time, step) when training began.
        self._main = None
        self._phase = None
        self._window = None

    def start(self, name, total=0, unit='steps'):
        """Begins the main phase `name` (e.g. prefill, train), with `total`
        transitions (unit='steps') or episodes (unit='episodes') to go, 0
        for no total."""
        self._main = self._new_phase(name, total, unit)
        self._enter(self._main, self._clock())
        if name == 'train' and self._step is not None \
                and self._trained_from is None:
            self._trained_from = (self._clock(), int(self._step))

    def report_from(self, driver, eval_driver=None):
        """Counts the transitions and episodes of a driver, and of an
        evaluation driver as evaluation."""
        driver.on_step(lambda tran, worker: self.env_step())
        driver.on_episode(lambda episode, worker: self.episode())
        if eval_driver is not None and eval_driver is not driver:
            eval_driver.on_step(lambda tran, worker: self.env_step(True))
            eval_driver.on_episode(
                lambda episode, worker: self.episode(True))

    def env_step(self, evaluation=False):
        """One transition of one environment."""
        self._switch(evaluation)
        if self._phase:
            self._phase['steps'] += 1
            self._window['env'] += 1
        self.check()

    def train_step(self):
        """One train call of the agent."""
        if self._phase:
            self._window['train'] += 1
        self.check()

    def episode(self, evaluation=False):
        """An episode finished."""
        self._switch(evaluation)
        if self._phase:
            self._phase['episodes'] += 1
        self.check()

    def check(self):
        """Prints the line if `every` seconds have passed since the last."""
        now = self._last_event = self._clock()
        if self._every <= 0 or self._phase is None:
            return
        if now - self._last >= self._every:
            self._write(self.line(now))
            self._last = now
            self._window = {'start': now, 'env': 0, 'train': 0}

    def line(self, now=None):
        now = self._clock() if now is None else now
        phase, window = self._phase, self._window
        label = phase['name']
        if phase['total']:
            unit = ' episodes' if phase['unit'] == 'episodes' else ''
            label += f" {phase[phase['unit']]:,}/{phase['total']:,}{unit}"
        parts = []
        if self._step is not None:
            step = int(self._step)
            part = f'step {step:,}'
            if self._steps:
                part += f'/{self._steps:,} ({100 * step / self._steps:.1f}%)'
            parts.append(part)
        seconds = max(now - window['start'], 1e-9)
        parts.append(f"env {_rate(window['env'] * self._repeat / seconds)} fps")
        parts.append(f"train {_rate(window['train'] / seconds)} steps/s")
        parts.append(f'ETA {self._eta(now)}')
        return f'[{label}] ' + ' | '.join(parts)

    def _new_phase(self, name, total, unit, start=None):
        start = self._clock() if start is None else start
        return {'name': name, 'total': total, 'unit': unit, 'start': start,
                'steps': 0, 'episodes': 0}

    def _enter(self, phase, start):
        self._phase = phase
        self._window = {'start': start, 'env': 0, 'train': 0}

    def _switch(self, evaluation):
        """Enters or leaves an evaluation. Steps are reported when they
        end: the first step of the new phase began when the last report
        came, and its time counts."""
        evaluating = self._phase is not None and self._phase is not self._main
        if evaluation and not evaluating:
            self._enter(self._new_phase(
                'eval', self._eval_episodes, 'episodes', self._last_event),
                self._last_event)
        elif not evaluation and evaluating and self._main is not None:
            self._enter(self._main, self._last_event)

    def _eta(self, now):
        if self._trained_from is not None and self._steps:
            start, first = self._trained_from
            done = int(self._step) - first
            left = self._steps - int(self._step)
            if done > 0 and now > start:
                return _duration(left * (now - start) / done)
            return '-'
        phase = self._phase
        done = phase[phase['unit']]
        if phase['total'] and done > 0 and now > phase['start']:
            left = phase['total'] - done
            seconds = left * (now - phase['start']) / done
            return f"{_duration(seconds)} ({phase['name']})"
        return '-'


def _print_now(line):
    """Flushed: a log file or pipe (a cluster job's output) sees the line
    now, not when the buffer fills."""
    print(line, flush=True)


def _rate(value):
    """Three significant digits, or two decimals below 1."""
    if value >= 100:
        return f'{value:.0f}'
    return f'{value:.1f}' if value >= 10 else f'{value:.2f}'


def _duration(seconds):
    hours, rest = divmod(int(max(seconds, 0)), 3600)
    return f'{hours}:{rest // 60:02d}:{rest % 60:02d}'
