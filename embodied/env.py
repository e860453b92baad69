class Env:
    """A single environment with Director-style dictionaries.

    step(action) takes {'action': ..., 'reset': bool} and returns an
    observation dict that always holds 'reward' (float32), 'is_first',
    'is_last' and 'is_terminal' (bool). A step with reset=True, or the first
    step after an episode ended, starts a new episode and returns its first
    observation with reward 0 and is_first=True.
    """

    @property
    def obs_space(self):
        raise NotImplementedError

    @property
    def act_space(self):
        raise NotImplementedError

    def step(self, action):
        raise NotImplementedError

    def close(self):
        pass
