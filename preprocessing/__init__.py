"""The batch jobs over whole mocap libraries, parallel and resumable: raw mocap to Parquet datasets
(segments, windows), and gap filling of every file; imports motion only."""

from preprocessing.batch import Summary, preprocess
from preprocessing.imputation import ImputeConfig, ImputeSummary, impute_files
from preprocessing.job import PreprocessConfig

__all__ = ["ImputeConfig", "ImputeSummary", "PreprocessConfig", "Summary", "impute_files", "preprocess"]
