"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

Unbiased MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
random subsets as TF-GAN, torch-fidelity and stylegan2-ada do: 100 subsets of 1000
(shrunk to the smaller sample count), drawn with a seeded RandomState.
"""
import numpy as np


def _kernel(x, y):
    # The dot products in float32 are exact to ~1e-7 relative; the cube and the sums
    # are done in float64, where cancellation between the three terms happens.
    d = x.shape[1]
    return (np.asarray(x @ y.T, np.float64) / d + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased MMD^2 between samples x [m, D] and y [m, D] with the cubic polynomial kernel."""
    m = len(x)
    kxx, kyy, kxy = _kernel(x, x), _kernel(y, y), _kernel(x, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))


def kernel_inception_distance(real_features, fake_features, num_subsets=100, subset_size=1000, seed=0):
    """KID between two feature sets.

    Args:
        real_features: [N_real, D].
        fake_features: [N_fake, D].
        num_subsets: number of random subsets.
        subset_size: samples per subset; shrunk to min(N_real, N_fake) when larger.
        seed: seeds the subset draws, so repeated evaluations are comparable.

    Returns:
        (mean, std) of the per-subset MMD^2 estimates, as Python floats.
    """
    real = np.asarray(real_features, np.float32)
    fake = np.asarray(fake_features, np.float32)
    m = min(len(real), len(fake), subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples on each side, got {len(real)} and {len(fake)}")
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        values.append(mmd2_unbiased(x, y))
    return float(np.mean(values)), float(np.std(values))
