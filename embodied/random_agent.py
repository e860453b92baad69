import pickle

import numpy as np


class RandomAgent:
    """Uniform random actions; stands in for the learner in every run mode."""

    def __init__(self, act_space, seed=0):
        self._act_space = {k: v for k, v in act_space.items() if k != 'reset'}
        self._rng = np.random.RandomState(seed)

    def policy(self, obs, state=None, mode='train'):
        batch = len(obs['is_first'])
        acts = {
            k: np.stack([v.sample(self._rng) for _ in range(batch)])
            for k, v in self._act_space.items()}
        return acts, state

    def eval_variant(self):
        return 'random'

    def eval_summary(self, metrics):
        return {}

    def dataset(self, generator):
        return generator()

    def train(self, batch, state=None):
        return state, {}

    def report(self, batch):
        return {}

    def save(self, directory):
        with (directory / 'rng.pkl').open('wb') as f:
            pickle.dump(self._rng.get_state(), f)

    def load(self, directory):
        with (directory / 'rng.pkl').open('rb') as f:
            self._rng.set_state(pickle.load(f))
