"""Improved precision and recall (Kynkäänniemi et al. 2019).

Each reference point gets a radius: the distance to its k-th nearest neighbour in its own
set (itself excluded). A sample is inside the reference manifold if it lies within (<=) the
radius of some reference point. Precision is the fraction of generated samples inside the
real manifold; recall the fraction of real samples inside the generated manifold.
"""
import numpy as np


def _squared_distances(a, b):
    # |a|^2 + |b|^2 - 2 a.b: one matmul per block instead of an [n, m, D] difference array.
    # Blocks of 512 query rows keep a 50k-reference distance block at 200 MB of float64.
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def manifold_radii(features, k=3, block=512):
    """Squared distance from each point to its k-th nearest neighbour in the same set (self excluded)."""
    features = np.asarray(features, np.float32)
    if len(features) <= k:
        raise ValueError(f"a manifold with k = {k} needs more than {k} points, got {len(features)}")
    radii = np.empty(len(features), np.float64)
    for start in range(0, len(features), block):
        d = _squared_distances(features[start:start + block], features)
        # Column 0 after partitioning is the point itself (distance 0), so index k is the
        # k-th neighbour.
        radii[start:start + block] = np.partition(d, k, axis=1)[:, k]
    return radii


def coverage_fraction(reference, radii, queries, block=512):
    """Fraction of `queries` within (<=) the radius of at least one reference point."""
    reference = np.asarray(reference, np.float32)
    queries = np.asarray(queries, np.float32)
    inside = 0
    for start in range(0, len(queries), block):
        d = _squared_distances(queries[start:start + block], reference)
        inside += int(np.any(d <= radii[None, :], axis=1).sum())
    return inside / len(queries)


def precision_recall(real_features, fake_features, k=3):
    """Improved precision and recall of generated features against real ones.

    Returns:
        (precision, recall) as Python floats in [0, 1].
    """
    real_radii = manifold_radii(real_features, k)
    fake_radii = manifold_radii(fake_features, k)
    precision = coverage_fraction(real_features, real_radii, fake_features)
    recall = coverage_fraction(fake_features, fake_radii, real_features)
    return precision, recall
