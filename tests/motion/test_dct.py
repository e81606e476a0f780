"""The orthonormal DCT-II of the HG-VAE (App. A): round trip, orthonormality, agreement with scipy."""

import numpy as np
import scipy.fft
import torch

from motion.dct import dct, dct_basis, idct


def test_round_trip_and_orthonormal_basis():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 50, 60, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(idct(dct(x, dim=1), dim=1), x)
    basis = dct_basis(50, torch.float64)
    torch.testing.assert_close(basis @ basis.T, torch.eye(50, dtype=torch.float64))
    # Orthonormal: squared error is the same in both domains.
    torch.testing.assert_close((dct(x, dim=1) ** 2).sum(), (x**2).sum())


def test_matches_scipy_orthonormal_dct_ii_on_any_axis():
    x = np.random.default_rng(0).normal(size=(3, 7, 5))
    for axis in range(3):
        expected = scipy.fft.dct(x, type=2, norm="ortho", axis=axis)
        np.testing.assert_allclose(dct(torch.from_numpy(x), dim=axis).numpy(), expected, atol=1e-12)


def test_constant_trajectory_has_only_the_zero_frequency():
    coefficients = dct(torch.full((10, 1), 2.0))
    assert abs(coefficients[0, 0].item() - 2.0 * np.sqrt(10)) < 1e-5
    assert coefficients[1:].abs().max() < 1e-5
