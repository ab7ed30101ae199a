"""Metric formulas against closed forms, scipy's sqrtm and direct small-N computations."""
import warnings

import numpy as np
import pytest
import scipy.linalg

from deepdeconv.errors import UserError
from deepdeconv.metrics.fid import FewSamplesWarning, frechet_distance, warn_if_few_samples
from deepdeconv.metrics.inception_score import inception_score, inception_score_from_probs
from deepdeconv.metrics.kid import kernel_inception_distance
from deepdeconv.metrics.precision_recall import precision_recall
from deepdeconv.metrics.stats import StreamingStats, load_stats, save_stats


def _scipy_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


@pytest.mark.slow
def test_fid_of_unit_mean_shift_with_identity_covariances_is_2048():
    d = 2048
    assert frechet_distance(np.zeros(d), np.eye(d), np.ones(d), np.eye(d)) == pytest.approx(2048.0, rel=1e-12)


def test_fid_matches_the_1d_gaussian_closed_form():
    m1, s1, m2, s2 = 0.3, 1.7, -1.1, 0.6
    got = frechet_distance([m1], [[s1 ** 2]], [m2], [[s2 ** 2]])
    assert got == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12)


def test_fid_equals_scipy_sqrtm_on_seeded_random_features():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((512, 128))
    b = rng.standard_normal((512, 128)) * 1.1 + 0.05
    stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*stats) == pytest.approx(_scipy_fid(*stats), rel=1e-6)


def test_fid_with_singular_covariance_equals_scipy_and_warns():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((40, 64))  # rank 39 < 64: Cholesky fails, eigh route is taken
    b = rng.standard_normal((40, 64)) + 0.1
    stats = (a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert frechet_distance(*stats) == pytest.approx(_scipy_fid(*stats), rel=1e-5)
    with pytest.warns(FewSamplesWarning, match="40 samples"):
        warn_if_few_samples(40, 64, "FID")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_if_few_samples(65, 64, "FID") is None


def test_fid_of_identical_statistics_is_zero():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((300, 32))
    mu, sigma = x.mean(0), np.cov(x, rowvar=False)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9


def test_streaming_stats_equal_one_shot_stats_with_uneven_batches():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1003, 48)).astype(np.float32) * 3 + 100  # large mean: cancellation-prone
    stats = StreamingStats()
    for start, stop in [(0, 1), (1, 256), (256, 700), (700, 1003)]:
        stats.update(x[start:stop])
    x64 = x.astype(np.float64)
    assert stats.n == 1003
    np.testing.assert_allclose(stats.mu, x64.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sigma, np.cov(x64, rowvar=False), rtol=1e-9, atol=1e-12)


def test_stats_file_round_trips_in_the_ttur_npz_format(tmp_path):
    rng = np.random.default_rng(4)
    mu, sigma = rng.standard_normal(8), np.eye(8) * 2
    save_stats(tmp_path / "s.npz", mu, sigma, n=123, network="inception-2015-12-05", reference={"data": "x"})
    with np.load(tmp_path / "s.npz") as f:  # what TTUR / pytorch-fid do
        np.testing.assert_array_equal(f["mu"], mu)
        np.testing.assert_array_equal(f["sigma"], sigma)
    loaded = load_stats(tmp_path / "s.npz")
    assert loaded["n"] == 123 and loaded["network"] == "inception-2015-12-05"
    assert loaded["reference"] == {"data": "x"}


def test_third_party_stats_without_extra_keys_load(tmp_path):
    np.savez(tmp_path / "ttur.npz", mu=np.zeros(4, np.float32), sigma=np.eye(4, dtype=np.float32))
    loaded = load_stats(tmp_path / "ttur.npz")
    assert loaded["mu"].dtype == np.float64 and "n" not in loaded


def test_bad_stats_file_is_a_one_sentence_user_error(tmp_path):
    np.savez(tmp_path / "bad.npz", mean=np.zeros(4))
    with pytest.raises(UserError, match="no 'mu' and 'sigma'"):
        load_stats(tmp_path / "bad.npz")
    with pytest.raises(UserError, match="does not exist"):
        load_stats(tmp_path / "missing.npz")


def test_inception_score_of_balanced_one_hot_predictions_is_the_class_count():
    classes = 10
    probs = np.eye(classes)[np.arange(1000) % classes]
    mean, std = inception_score_from_probs(probs)
    assert mean == pytest.approx(classes, rel=1e-12) and std == pytest.approx(0, abs=1e-9)
    mean_logits, _ = inception_score(probs * 1000.0)  # saturated logits: same distribution
    assert mean_logits == pytest.approx(classes, rel=1e-9)


def test_inception_score_of_identical_predictions_is_one():
    logits = np.tile(np.random.default_rng(5).standard_normal(1008), (500, 1))
    mean, std = inception_score(logits)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0, abs=1e-12)


def test_inception_score_splits_are_contiguous_slices():
    # First half all class 0, second half all class 1: every split sees one class -> IS 1.
    probs = np.eye(2)[np.repeat([0, 1], 50)]
    assert inception_score_from_probs(probs, splits=2)[0] == pytest.approx(1.0)
    assert inception_score_from_probs(probs, splits=1)[0] == pytest.approx(2.0)


def _direct_mmd2(x, y):
    d = x.shape[1]
    k = lambda a, b: (np.dot(a, b) / d + 1) ** 3  # noqa: E731
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / m ** 2


def test_kid_matches_a_direct_small_n_computation():
    rng = np.random.default_rng(6)
    real = rng.standard_normal((12, 5))
    fake = rng.standard_normal((12, 5)) + 0.5
    mean, std = kernel_inception_distance(real, fake, num_subsets=3, subset_size=1000, seed=0)
    # m shrinks to 12 = all samples; every subset is a permutation, so all estimates agree.
    assert mean == pytest.approx(_direct_mmd2(fake, real), rel=1e-5)
    assert std == pytest.approx(0, abs=1e-6)


def test_kid_subsets_are_seeded():
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((60, 4)), rng.standard_normal((50, 4))
    a = kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=3)
    b = kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=3)
    c = kernel_inception_distance(real, fake, num_subsets=5, subset_size=20, seed=4)
    assert a == b and a != c


def test_precision_and_recall_on_constructed_point_sets():
    # Real: a 10x10 unit grid; its 3rd-neighbour radius is sqrt(2) (1, 1, sqrt2 ...) except
    # at corners/edges where it is larger. Fake: half the grid points plus far-away points.
    grid = np.stack(np.meshgrid(np.arange(10.0), np.arange(10.0)), -1).reshape(-1, 2)
    far = grid[:50] + 1000.0
    fake = np.concatenate([grid[:50], far])
    precision, recall = precision_recall(grid, fake, k=3)
    assert precision == pytest.approx(0.5)
    # Fake manifold: the 50 grid points (rows 0-4) reach row 5 at most, the far cluster nothing.
    assert recall == pytest.approx(0.6)


def test_identical_sets_have_full_precision_and_recall():
    x = np.random.default_rng(8).standard_normal((200, 16))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
