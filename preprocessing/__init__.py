"""The batch job from raw mocap to Parquet datasets (segments, windows), parallel and resumable; imports motion only."""

from preprocessing.batch import Summary, preprocess
from preprocessing.job import PreprocessConfig

__all__ = ["PreprocessConfig", "Summary", "preprocess"]
