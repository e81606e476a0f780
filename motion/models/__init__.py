"""The generative models, one per module, each with its config dataclass beside it."""

from motion.models.conditions import Condition
from motion.models.drmm import DRMM, DRMMConfig, Objective, Samples, TrainingTerms
from motion.models.mdn import MDN, MDNConfig

__all__ = ["DRMM", "MDN", "Condition", "DRMMConfig", "MDNConfig", "Objective", "Samples", "TrainingTerms"]
