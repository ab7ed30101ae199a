"""PSNR / SSIM against hand-computed values and two independent implementations."""
import math
import time

import numpy as np
import pytest

from deepdeconv.errors import UserError
from deepdeconv.metrics.fidelity import psnr, rgb_to_y, ssim


def _photo_like(seed, shape):
    """Smooth structure plus texture: SSIM well away from both 0 and 1."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0)
    if len(shape) == 3:
        base = base[..., None] + np.array([0, 20, -20])[: shape[2]]
    return np.clip(base + rng.normal(0, 10, shape), 0, 255).astype(np.uint8)


def test_psnr_of_a_constant_offset_is_20_log10_peak_over_offset():
    a = np.full((16, 16, 3), 100, np.uint8)
    assert psnr(a, a + 5) == pytest.approx(20 * math.log10(255 / 5), abs=1e-12)


def test_psnr_hand_computed_mse():
    a = np.zeros((2, 2), np.uint8)
    b = np.array([[0, 2], [4, 0]], np.uint8)  # MSE = (4 + 16) / 4 = 5
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 5), abs=1e-12)


def test_identical_images_give_infinite_psnr_and_unit_ssim():
    a = _photo_like(0, (32, 32, 3))
    assert psnr(a, a) == math.inf
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-12)


def test_y_channel_of_white_black_and_pure_colours():
    colours = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    y = rgb_to_y(colours)[0]
    np.testing.assert_allclose(y, [235, 16, 16 + 65.481, 16 + 128.553, 16 + 24.966], atol=1e-9)


def test_psnr_y_channel_scores_luma_difference_only():
    a = _photo_like(1, (20, 20, 3))
    b = a.astype(np.float64)
    b[..., 0] += 3  # a red offset of 3 moves Y by 3 * 65.481 / 255
    expected = 20 * math.log10(255 / (3 * 65.481 / 255))
    assert psnr(a, b, y_channel=True) == pytest.approx(expected, abs=1e-9)


def test_crop_removes_border_errors():
    a = np.full((20, 20), 50, np.uint8)
    b = a.copy()
    b[:2, :] = 0
    b[:, -2:] = 0
    assert psnr(a, b, crop=2) == math.inf
    # crop 1 keeps 18x18 pixels, of which one row and one column (35 pixels) are off by 50
    assert psnr(a, b, crop=1) == pytest.approx(10 * math.log10(255 ** 2 / (35 * 50 ** 2 / 18 ** 2)), abs=1e-9)
    assert ssim(a, b, crop=2) == pytest.approx(1.0)


def test_images_too_small_after_crop_are_refused_with_a_sentence():
    a = np.zeros((14, 14), np.uint8)
    ssim(a, a)  # 14 >= 11: fine
    with pytest.raises(UserError, match="too small"):
        ssim(a, a, crop=2)
    with pytest.raises(UserError, match="same shape"):
        psnr(a, np.zeros((14, 15), np.uint8))


@pytest.mark.parametrize("shape", [(40, 37), (33, 48, 3)])
def test_ssim_equals_scikit_image_with_the_paper_settings(shape):
    from skimage.metrics import structural_similarity

    a, b = _photo_like(2, shape), _photo_like(3, shape)
    ours = ssim(a, b)
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                data_range=255, channel_axis=-1 if len(shape) == 3 else None)
    assert 0.05 < ours < 0.95
    assert ours == pytest.approx(ref, abs=1e-6)


def test_ssim_equals_tf_image_ssim():
    import tensorflow as tf

    a, b = _photo_like(4, (45, 50, 3)), _photo_like(5, (45, 50, 3))
    ref = float(tf.image.ssim(tf.constant(a), tf.constant(b), max_val=255.0))
    assert ssim(a, b) == pytest.approx(ref, abs=1e-4)


def test_float_inputs_on_the_255_scale_score_like_uint8():
    a, b = _photo_like(6, (24, 24)), _photo_like(7, (24, 24))
    assert psnr(a.astype(np.float32), b) == pytest.approx(psnr(a, b), abs=1e-12)
    assert ssim(a.astype(np.float64), b) == pytest.approx(ssim(a, b), abs=1e-12)


def test_ssim_of_a_512_image_is_fast():
    a, b = _photo_like(8, (512, 512, 3)), _photo_like(9, (512, 512, 3))
    # CPU time of this process, not wall time: other work on a shared machine does not count.
    start = time.process_time()
    ssim(a, b)
    psnr(a, b, y_channel=True, crop=4)
    assert time.process_time() - start < 2.0
