import collections

import numpy as np

from .parallel import EnvError


class Driver:
    """Steps a batch of environments with a policy and reports transitions.

    Each stored transition pairs an observation with the action that led to
    it (zero on the first step of an episode), as DreamerV2 and Director do.
    Continuous actions are clipped to the action space's bounds before they
    are sent, so the environment and the replay see the same action (the
    policy's Normal samples leave [-1, 1]).
    An environment that raises or whose process dies is restarted up to
    `max_restarts` times in a row; its unfinished episode is dropped and the
    `on_restart` callbacks are told which worker it was.
    """

    def __init__(self, envs, max_restarts=3, log=print):
        if not envs:
            raise ValueError('the driver needs at least one environment')
        self._envs = envs
        self._max_restarts = max_restarts
        self._log = log
        self._act_space = {
            k: v for k, v in envs[0].act_space.items() if k != 'reset'}
        self._callbacks = collections.defaultdict(list)
        self.restarts = 0
        self.reset()

    def reset(self):
        spaces = self._envs[0].obs_space
        self._obs = {
            k: np.zeros((len(self._envs),) + v.shape, v.dtype)
            for k, v in spaces.items()}
        self._obs['is_last'][:] = True
        self._episodes = [collections.defaultdict(list) for _ in self._envs]
        self._failures = [0] * len(self._envs)
        self._state = None

    def on_step(self, callback):
        self._callbacks['step'].append(callback)

    def on_episode(self, callback):
        self._callbacks['episode'].append(callback)

    def on_restart(self, callback):
        self._callbacks['restart'].append(callback)

    @property
    def act_space(self):
        return self._act_space

    def collect_episodes(self, policy, episodes):
        """Runs until `episodes` episodes finished and returns them."""
        finished = []
        collect = lambda episode, worker: finished.append(episode)
        self._callbacks['episode'].append(collect)
        try:
            self(policy, episodes=episodes)
        finally:
            self._callbacks['episode'].remove(collect)
        return finished

    def __call__(self, policy, steps=0, episodes=0):
        step, episode = 0, 0
        while step < steps or episode < episodes:
            step, episode = self._step(policy, step, episode)

    def _step(self, policy, step, episode):
        acts, self._state = policy(self._obs, self._state)
        acts, logs = self._mask_resets(acts)
        results = self._step_envs(acts)
        self._obs = {k: np.stack([r[k] for r in results]) for k in results[0]}
        transitions = {**self._obs, **acts, **logs}
        for i in range(len(self._envs)):
            tran = {k: v[i] for k, v in transitions.items()}
            if tran['is_first']:
                self._episodes[i].clear()
            for key, value in tran.items():
                self._episodes[i][key].append(value)
            for callback in self._callbacks['step']:
                callback(tran, i)
            step += 1
            if tran['is_last']:
                self._failures[i] = 0
                ep = {k: np.stack(v) for k, v in self._episodes[i].items()}
                for callback in self._callbacks['episode']:
                    callback(ep, i)
                episode += 1
        return step, episode

    def _mask_resets(self, acts):
        """Actions for the environments (zero where an episode restarts) and
        the policy's `log_*` outputs, which are recorded but not sent."""
        done = self._obs['is_last']
        logs = {
            k: np.asarray(v)
            for k, v in acts.items() if k.startswith('log_')}
        acts = {
            k: self._clipped(k, v)
            for k, v in acts.items() if k in self._act_space}
        for value in acts.values():
            value[done] = 0
        acts['reset'] = done.copy()
        return acts, logs

    def _clipped(self, key, value):
        space = self._act_space[key]
        value = np.array(value, space.dtype)
        if space.discrete:
            return value
        return np.clip(value, space.low, space.high).astype(space.dtype)

    def _step_envs(self, acts):
        pending = []
        for i, env in enumerate(self._envs):
            action = {k: v[i] for k, v in acts.items()}
            try:
                env.step_async(action)
                pending.append(None)
            except EnvError as e:
                pending.append(e)
        results = []
        for i, env in enumerate(self._envs):
            try:
                if pending[i] is not None:
                    raise pending[i]
                results.append(env.step_wait())
            except EnvError as e:
                results.append(self._recover(i, acts, e))
        return results

    def _recover(self, index, acts, error):
        self._failures[index] += 1
        self.restarts += 1
        if self._failures[index] > self._max_restarts:
            raise RuntimeError(
                f'environment {index} failed {self._failures[index]} times '
                f'in a row; giving up') from error
        self._log(f'Environment {index} failed and is restarted '
                  f'(attempt {self._failures[index]}): {error}')
        for callback in self._callbacks['restart']:
            callback(index)
        self._episodes[index].clear()
        for key in acts:
            acts[key][index] = 0
        acts['reset'][index] = True
        env = self._envs[index]
        try:
            env.restart()
            reset = {k: v[index] for k, v in acts.items()}
            return env.step(reset)
        except EnvError as e:
            return self._recover(index, acts, e)

    def close(self):
        for env in self._envs:
            env.close()
