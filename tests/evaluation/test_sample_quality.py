"""Precision and recall (Kynkäänniemi et al. 2019) on real segments: what they must say in the cases
whose answer is known."""

import numpy as np
import torch

from evaluation.sample_quality import kth_neighbour_radii, precision_recall
from motion.dataset import load_dataset


def real_segments(segments, count=600):
    data = load_dataset(segments)
    return torch.from_numpy(data.features[np.random.default_rng(0).permutation(len(data))[:count]])


def test_the_kth_neighbour_radius_skips_the_point_itself():
    points = torch.tensor([[0.0], [1.0], [3.0], [6.0]])
    assert kth_neighbour_radii(points, k=1).tolist() == [1.0, 1.0, 2.0, 3.0]
    assert kth_neighbour_radii(points, k=2).tolist() == [3.0, 2.0, 3.0, 5.0]


def test_real_data_against_itself_is_perfect_and_a_shifted_copy_is_caught(segments):
    real = real_segments(segments)
    assert precision_recall(real, real) == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    far = precision_recall(real, real + 10.0)  # every sample 10 m off in every coordinate
    assert far["precision"] == 0.0 and far["recall"] == 0.0 and far["f1"] == 0.0


def test_samples_of_one_content_are_precise_but_recall_falls(segments):
    """Generated = only the running segments: every sample is realistic, but the walks and turns
    of the real data are never generated."""
    data = load_dataset(segments)
    order = np.random.default_rng(0).permutation(len(data))
    real = torch.from_numpy(data.features[order[:1000]])
    running = order[1000:][data.content[order[1000:]] == "run"][:300]
    figures = precision_recall(real, torch.from_numpy(data.features[running]))
    share = (data.content[order[:1000]] == "run").mean()
    assert figures["precision"] > 0.8
    assert figures["recall"] < share + 0.2
