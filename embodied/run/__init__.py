from .eval_only import eval_only
from .train import NonFiniteError, check_finite, mean_metrics, train
