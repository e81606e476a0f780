"""The generative models, one per module, each with its config dataclass beside it."""

from motion.models.conditions import Condition
from motion.models.drmm import DRMM, DRMMConfig, Objective, Samples, TrainingTerms

__all__ = ["DRMM", "Condition", "DRMMConfig", "Objective", "Samples", "TrainingTerms"]
