"""Precision and recall of generated samples against real data (Kynkäänniemi et al., "Improved
Precision and Recall Metric for Assessing Generative Models", NeurIPS 2019), as the DRMM paper's
Fig. 7 measures sample quality.

Each set's manifold is the union of balls around its points, each ball reaching the point's k-th
nearest neighbour within the same set. Precision: the fraction of generated samples inside the
real manifold. Recall: the fraction of real points inside the generated manifold. F1 is their
harmonic mean.
"""

from __future__ import annotations

import torch
from torch import Tensor


def kth_neighbour_radii(points: Tensor, k: int, chunk: int = 1024) -> Tensor:
    """(N,) distance from each point to its k-th nearest other point of the same set."""
    radii = []
    for first in range(0, len(points), chunk):
        distances = torch.cdist(points[first : first + chunk], points)
        # The smallest distance is the point itself (0), so the k-th neighbour is at index k.
        radii.append(distances.kthvalue(k + 1, dim=1).values)
    return torch.cat(radii)


def coverage(queries: Tensor, points: Tensor, radii: Tensor, chunk: int = 1024) -> float:
    """Fraction of queries within radii[i] of some points[i]."""
    inside = []
    for first in range(0, len(queries), chunk):
        distances = torch.cdist(queries[first : first + chunk], points)
        inside.append((distances <= radii).any(1))
    return torch.cat(inside).float().mean().item()


@torch.no_grad()
def precision_recall(real: Tensor, generated: Tensor, k: int = 3) -> dict[str, float]:
    """Precision, recall and F1 of `generated` (M, D) against `real` (N, D), same units."""
    real, generated = real.double(), generated.double()
    precision = coverage(generated, real, kth_neighbour_radii(real, k))
    recall = coverage(real, generated, kth_neighbour_radii(generated, k))
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}
