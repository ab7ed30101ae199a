"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule").

FID = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), in float64.

The reference implementations take `scipy.linalg.sqrtm(S1 @ S2)` (a Schur decomposition of a
non-symmetric matrix: ~15 s at D = 2048, and complex round-off). Only its trace is needed,
and with S1 = L L^T, S1 S2 is similar to the symmetric PSD matrix L^T S2 L, so
tr sqrt(S1 S2) = sum(sqrt(eigvalsh(L^T S2 L))). That is one Cholesky, two triangular
products and one symmetric eigenvalue solve: an order of magnitude faster, same result.
"""
import warnings

import numpy as np
import scipy.linalg


class FewSamplesWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is singular and FID is biased."""


def trace_sqrt_product(sigma1, sigma2):
    """tr sqrt(sigma1 @ sigma2) for symmetric positive semi-definite matrices, in float64.

    Args:
        sigma1: [D, D] covariance.
        sigma2: [D, D] covariance.

    Returns:
        The trace as a Python float.
    """
    s1 = np.asarray(sigma1, np.float64)
    s2 = np.asarray(sigma2, np.float64)
    try:
        factor = scipy.linalg.cholesky(s1, lower=True, check_finite=False)
        # factor^T @ s2 @ factor with two triangular multiplies (half the work of gemm).
        right = scipy.linalg.blas.dtrmm(1.0, factor, s2, side=1, lower=1)
        middle = scipy.linalg.blas.dtrmm(1.0, factor, right, side=0, lower=1, trans_a=1)
    except (np.linalg.LinAlgError, scipy.linalg.LinAlgError):
        # Singular s1 (fewer samples than dimensions): the symmetric square root from an
        # eigendecomposition works for any PSD matrix.
        w, v = scipy.linalg.eigh(s1, check_finite=False, driver="evd")
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        middle = root @ s2 @ root
    middle = (middle + middle.T) / 2
    eigenvalues = scipy.linalg.eigvalsh(middle, check_finite=False, driver="evd")
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """Fréchet distance between the Gaussians N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1, mu2: mean vectors [D].
        sigma1, sigma2: covariance matrices [D, D].

    Returns:
        The distance as a Python float (not clipped: round-off can make identical
        statistics give a tiny negative number); NaN when any input is not finite.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different dimensions: {mu1.shape} vs {mu2.shape}")
    if not all(np.isfinite(a).all() for a in (mu1, mu2, sigma1, sigma2)):
        return float("nan")  # a diverged generator; LAPACK must not see NaNs
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2))


def warn_if_few_samples(n, dims, what):
    """Warns (does not fail) when `n` samples cannot give a full-rank covariance in `dims` dimensions.

    Returns:
        The warning text, or None when there is nothing to warn about.
    """
    if n > dims:
        return None
    text = (f"{what} uses {n} samples for {dims}-dimensional features: the covariance is singular and the "
            f"FID is biased upwards; use more than {dims} samples (50,000 is the published convention).")
    warnings.warn(text, FewSamplesWarning, stacklevel=2)
    return text
