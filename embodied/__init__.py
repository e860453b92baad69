"""Runtime for RL agents: config, environments, replay, driver, logging.

Nothing here imports TensorFlow at import time, so environment processes
started from this package stay free of it.
"""

from .checkpoint import Checkpoint, IncompatibleCheckpoint
from .config import Config, ConfigError
from .counter import Counter
from .driver import Driver
from .env import Env
from .flags import load_config
from .logger import JSONLOutput, Logger, TensorBoardOutput, TerminalOutput
from .parallel import EnvError, InProcessEnv, ProcessEnv
from .random_agent import RandomAgent
from .replay import Replay
from .space import Space
from .timer import Timer
from . import envs, flags, run, when
from .envs.batch import make_envs
