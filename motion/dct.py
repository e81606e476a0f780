"""The orthonormal DCT-II along time, as the HG-VAE encodes trajectories (HG-VAE paper, App. A, Eq. 7-8).

C_l = sqrt(2/N) sum_n x_n / sqrt(1 + delta_l1) cos(pi/(2N) (2n - 1)(l - 1)): row 1 of the
basis is scaled by 1/sqrt(2), which makes the basis orthonormal, so the inverse (Eq. 8) is
the transpose and the transform preserves squared error. Implemented as a matrix product:
the windows are short (50 frames), and a cached basis beats an FFT there.
"""

from __future__ import annotations

import math
from functools import lru_cache

import torch
from torch import Tensor


@lru_cache(maxsize=16)
def _basis(frames: int, dtype: torch.dtype, device: str) -> Tensor:
    n = torch.arange(frames, dtype=torch.float64)  # time index, 0-based (n - 1 in Eq. 7)
    l = torch.arange(frames, dtype=torch.float64)[:, None]  # noqa: E741 - frequency index, as in the paper
    basis = math.sqrt(2.0 / frames) * torch.cos(math.pi / (2 * frames) * (2 * n + 1) * l)
    basis[0] /= math.sqrt(2.0)
    return basis.to(dtype=dtype, device=device)


def dct_basis(frames: int, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> Tensor:
    """The (frames, frames) orthonormal DCT-II matrix D: coefficients = D @ trajectory.

    Rows are frequencies l = 0..frames-1, columns time steps; D @ D.T = I.
    """
    return _basis(frames, dtype, str(device))


def dct(x: Tensor, dim: int = -2) -> Tensor:
    """DCT coefficients of trajectories along `dim` (time).

    Args:
        x: (..., T, ...) values over T frames along `dim`, e.g. (..., T, C) coordinates.
    Returns:
        Same shape; along `dim`, the T coefficients from lowest to highest frequency.
    """
    basis = dct_basis(x.shape[dim], x.dtype, x.device)
    return torch.movedim(torch.tensordot(basis, torch.movedim(x, dim, 0), dims=1), 0, dim)


def idct(coefficients: Tensor, dim: int = -2) -> Tensor:
    """The inverse of `dct` (Eq. 8): trajectories from their T coefficients along `dim`."""
    basis = dct_basis(coefficients.shape[dim], coefficients.dtype, coefficients.device)
    return torch.movedim(torch.tensordot(basis.T, torch.movedim(coefficients, dim, 0), dims=1), 0, dim)
