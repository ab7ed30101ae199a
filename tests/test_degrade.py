"""Degradations of the restoration tasks: levels measured back, kernels, sizes, masks, JPEG."""
import dataclasses
import io

import numpy as np
import pytest
import scipy.ndimage
import tensorflow as tf
from PIL import Image

from deepdeconv.data import degrade as dg
from deepdeconv.data.kernels import blur, gaussian_kernels, kernel_size, motion_kernels
from deepdeconv.data.masks import FRACTION, random_masks, tiled_masks
from deepdeconv.pixels import from_uint8, to_uint8, to_uint8_tensor
from deepdeconv.restore_config import RestoreConfig

SEED = tf.constant([3, 4], tf.int64)


def _flat(value=0.0, shape=(4, 128, 128, 1)):
    return tf.fill(shape, value)


def _gradient_image(h=48, w=40, c=3):
    y, x = np.mgrid[:h, :w]
    im = np.stack([(3 * y + 5 * x + 40 * k) % 256 for k in range(c)], -1)
    return im.astype(np.uint8)


def _noise_std(noisy, clean):
    return float(tf.math.reduce_std((noisy - clean) * 127.5))


@pytest.mark.parametrize("sigma", [5.0, 25.0, 50.0])
def test_gaussian_noise_std_measured_back_on_the_0_255_scale(sigma):
    clean = _flat()
    noisy, drawn = dg.add_noise(clean, (sigma, sigma), "gaussian", SEED)
    # std of a sample std is sigma / sqrt(2n) ~ 0.1 % here; 2 % leaves no room for a scale error.
    assert _noise_std(noisy, clean) == pytest.approx(sigma, rel=0.02)
    np.testing.assert_allclose(drawn.numpy(), sigma)


@pytest.mark.parametrize("kind", ["poisson", "mixed"])
def test_signal_dependent_noise_has_std_sigma_at_mid_grey(kind):
    clean = _flat(0.0)  # mid grey: x = 0.5
    noisy, _ = dg.add_noise(clean, (25.0, 25.0), kind, SEED)
    assert _noise_std(noisy, clean) == pytest.approx(25.0, rel=0.03)
    assert float(tf.reduce_mean(noisy - clean)) * 127.5 == pytest.approx(0.0, abs=0.3)


def test_poisson_noise_grows_with_brightness_as_sqrt():
    dark = _flat(-0.75)  # x = 0.125: std = sigma * sqrt(2 x) = sigma / 2
    noisy, _ = dg.add_noise(dark, (25.0, 25.0), "poisson", SEED)
    assert _noise_std(noisy, dark) == pytest.approx(12.5, rel=0.04)


def test_noise_range_draws_cover_the_range_per_image():
    clean = _flat(shape=(400, 8, 8, 1))
    noisy, sigma = dg.add_noise(clean, (0.0, 55.0), "gaussian", SEED)
    sigma = sigma.numpy()
    assert sigma.min() >= 0 and sigma.max() <= 55
    assert sigma.min() < 3 and sigma.max() > 52
    assert np.histogram(sigma, bins=5, range=(0, 55))[0].min() > 50  # roughly uniform
    measured = tf.math.reduce_std((noisy - clean) * 127.5, axis=[1, 2, 3]).numpy()
    assert np.corrcoef(measured, sigma)[0, 1] > 0.95


def test_zero_noise_leaves_the_image_unchanged():
    clean = from_uint8(_gradient_image()[None])
    for kind in ("gaussian", "poisson", "mixed"):
        noisy, _ = dg.add_noise(clean, (0.0, 0.0), kind, SEED)
        np.testing.assert_allclose(noisy.numpy(), clean.numpy(), atol=1e-6)


@pytest.mark.parametrize("task", ["denoise", "deblur"])
def test_training_input_is_clipped_and_rounded_like_a_file_unless_unclipped(task):
    clean = tf.concat([_flat(1.0, (2, 32, 16, 1)), _flat(-1.0, (2, 32, 16, 1))], axis=2)
    inputs, target = dg.degrade(clean, RestoreConfig(noise="25", blur_noise=10.0), task, SEED)
    levels = (inputs.numpy() + 1.0) * 127.5
    assert levels.min() == 0.0 and levels.max() == 255.0 and target is clean
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
    raw, _ = dg.degrade(clean, RestoreConfig(noise="25", blur_noise=10.0, unclipped=True), task, SEED)
    assert float(tf.reduce_max(raw)) > 1.05 and float(tf.reduce_min(raw)) < -1.05
    np.testing.assert_allclose(inputs.numpy(), from_uint8(to_uint8(raw.numpy())).numpy(), atol=1e-6)


def test_gaussian_psf_sums_to_one_is_symmetric_and_sized_3_sigma():
    assert kernel_size(1.6) == 11 and kernel_size(3.0) == 19
    k = gaussian_kernels(tf.constant([0.5, 1.6, 3.0]), kernel_size(3.0)).numpy()
    np.testing.assert_allclose(k.sum(axis=(1, 2)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(k, np.transpose(k, (0, 2, 1)), atol=1e-7)
    np.testing.assert_allclose(k, k[:, ::-1, ::-1], atol=1e-7)
    r = np.arange(19) - 9
    g = np.exp(-r ** 2 / (2 * 1.6 ** 2))
    np.testing.assert_allclose(k[1], np.outer(g, g) / np.outer(g, g).sum(), rtol=1e-5, atol=1e-9)


def test_motion_kernels_sum_to_one_and_are_extended_paths():
    size = kernel_size(3.0)
    k = motion_kernels(tf.fill([16], 3.0), size, SEED).numpy()
    np.testing.assert_allclose(k.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    assert k.min() >= 0
    assert ((k > 1e-3).sum(axis=(1, 2)) >= 6).all()  # a path, not a point
    assert not np.allclose(k[0], k[1])
    np.testing.assert_array_equal(k, motion_kernels(tf.fill([16], 3.0), size, SEED).numpy())


def test_blur_is_a_convolution_with_symmetric_borders_like_scipy_reflect():
    image = np.random.default_rng(0).random((1, 20, 24, 1)).astype(np.float32)
    kernel = motion_kernels(tf.constant([1.5]), 9, SEED)  # asymmetric: catches a missing flip
    ours = blur(tf.constant(image), kernel).numpy()[0, ..., 0]
    ref = scipy.ndimage.convolve(image[0, ..., 0], kernel.numpy()[0], mode="reflect")
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_deblur_keeps_a_constant_image_constant_up_to_its_noise():
    clean = _flat(0.3, (2, 32, 32, 3))
    for kind in ("gaussian", "motion", "mixed"):
        config = RestoreConfig(blur="0.5-3", blur_kind=kind, blur_noise=0.0, unclipped=True)
        inputs, _ = dg.degrade(clean, config, "deblur", SEED)
        np.testing.assert_allclose(inputs.numpy(), 0.3, atol=1e-5)
    inputs, _ = dg.degrade(clean, RestoreConfig(blur_noise=2.0, unclipped=True), "deblur", SEED)
    assert _noise_std(inputs, clean) == pytest.approx(2.0, rel=0.05)


def test_deblur_kernel_is_capped_by_small_images():
    pair = dg.degrade_for_eval(_gradient_image(12, 14), RestoreConfig(blur="5"), "deblur", 0)
    assert pair.kernel.shape == (23, 23) and pair.degraded.shape == (12, 14, 3)
    assert pair.kernel.sum() == pytest.approx(1.0, rel=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_input_is_scale_times_smaller_and_a_constant_stays_constant(scale):
    clean = _flat(0.2, (2, 12 * scale, 8 * scale, 3))
    inputs, target = dg.degrade(clean, RestoreConfig(scale=scale), "sr", SEED)
    assert inputs.shape == (2, 12, 8, 3) and target.shape == clean.shape
    np.testing.assert_allclose(inputs.numpy(), float(from_uint8(to_uint8(0.2))), atol=1e-6)
    up = dg.bicubic_upscale(inputs, scale)
    assert up.shape == clean.shape


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_sr_downscale_matches_pil(scale):
    image = np.asarray(Image.open(_photo("camera")), np.float32)[:96, :120]
    pil = np.asarray(Image.fromarray(image, mode="F").resize((120 // scale, 96 // scale), Image.Resampling.BICUBIC))
    ours = (dg.downscale(tf.constant(image[None, ..., None] / 127.5 - 1.0), scale)[0, ..., 0].numpy() + 1) * 127.5
    np.testing.assert_allclose(ours, pil, atol=1e-2)


def _photo(name):
    from deepdeconv.data.photos import PHOTOS, photo_paths
    return photo_paths("all")[[p.name for p in PHOTOS].index(name)]


def test_sr_eval_modcrops_and_quantises_the_low_resolution_input():
    pair = dg.degrade_for_eval(_gradient_image(37, 50), RestoreConfig(scale=3), "sr", 0)
    assert pair.target.shape == (36, 48, 3) and pair.degraded.shape == (12, 16, 3)
    assert pair.inputs.shape == (1, 12, 16, 3)
    np.testing.assert_allclose(pair.inputs[0], from_uint8(pair.degraded).numpy(), atol=1e-6)


@pytest.mark.parametrize("kind", ["box", "free", "mixed"])
def test_masks_cover_a_bounded_fraction(kind):
    masks = random_masks(64, 32, 32, kind, SEED).numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    fraction = masks.mean(axis=(1, 2, 3))
    lo, hi = FRACTION
    assert fraction.min() >= lo - 1 / 1024 and fraction.max() <= hi + 0.02
    assert fraction.max() - fraction.min() > 0.2  # fractions drawn over the range


def test_inpaint_input_is_holes_at_zero_plus_the_mask_channel():
    clean = from_uint8(np.stack([_gradient_image(32, 32)] * 4))
    inputs, target = dg.degrade(clean, RestoreConfig(mask="mixed"), "inpaint", SEED)
    inputs = inputs.numpy()
    assert inputs.shape == (4, 32, 32, 4)
    mask = inputs[..., 3:]
    assert set(np.unique(mask)) == {0.0, 1.0}
    np.testing.assert_array_equal(inputs[..., :3], np.where(mask == 1, 0.0, clean.numpy()))


def test_tiled_masks_cover_whole_images_in_training_sized_cells():
    mask = tiled_masks(70, 100, 32, "free", SEED).numpy()
    assert mask.shape == (1, 70, 100, 1)
    cell = mask[0, :32, 32:64, 0]
    assert FRACTION[0] - 0.01 <= cell.mean() <= FRACTION[1] + 0.02
    pair = dg.degrade_for_eval(_gradient_image(70, 100), RestoreConfig(patch=32), "inpaint", 1)
    assert pair.inputs.shape == (1, 70, 100, 4) and pair.mask.shape == (70, 100, 1)


def test_jpeg_changes_the_image_deterministically_for_the_seed():
    clean = from_uint8(np.stack([_gradient_image(32, 32)] * 3))
    config = RestoreConfig(jpeg_quality="10-30")
    a, _ = dg.degrade(clean, config, "jpeg", SEED)
    b, _ = dg.degrade(clean, config, "jpeg", SEED)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert float(tf.reduce_mean(tf.abs(a - clean))) > 0.01
    _, quality = dg.jpeg(tf.zeros([200, 8, 8, 1]), (10, 30), SEED)
    assert set(quality.numpy()) == set(range(10, 31))


@pytest.mark.parametrize("quality", [10, 50])
def test_jpeg_quality_is_libjpegs_scale_like_pil(quality):
    image = np.asarray(Image.open(_photo("camera")))[:128, :128]
    ours = to_uint8(dg.jpeg(from_uint8(image[None, ..., None]), (quality, quality), SEED)[0][0, ..., 0].numpy())
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", quality=quality)
    pil = np.asarray(Image.open(buffer))
    assert np.abs(ours.astype(int) - pil).mean() < 0.1 * np.abs(ours.astype(int) - image).mean()


@pytest.mark.parametrize("task", dg.TASKS)
def test_degrade_is_a_function_of_the_seed(task):
    clean = from_uint8(np.stack([_gradient_image(32, 32)] * 2))
    config = RestoreConfig(noise="0-50", blur="0.5-2", blur_kind="mixed", jpeg_quality="5-60")
    a = dg.degrade(clean, config, task, SEED)[0].numpy()
    np.testing.assert_array_equal(a, dg.degrade(clean, config, task, SEED)[0].numpy())
    if task != "sr":  # sr has no random draw
        assert not np.array_equal(a, dg.degrade(clean, config, task, SEED + 1)[0].numpy())


@pytest.mark.slow
def test_degrade_runs_inside_a_tf_function():
    clean = from_uint8(np.stack([_gradient_image(32, 32)] * 2))
    config = RestoreConfig(noise="0-50", blur_kind="mixed")
    for task in dg.TASKS:
        eager = dg.degrade(clean, config, task, SEED)[0].numpy()
        graph = tf.function(lambda c, s, t=task: dg.degrade(c, config, t, s)[0])(clean, SEED).numpy()
        np.testing.assert_allclose(graph, eager, atol=1e-5)


def test_eval_pairs_are_reproducible_and_clip_like_a_file_on_request():
    image = _gradient_image()
    config = RestoreConfig(noise="30", unclipped=True)
    a = dg.degrade_for_eval(image, config, "denoise", 5)
    b = dg.degrade_for_eval(image, config, "denoise", 5)
    np.testing.assert_array_equal(a.inputs, b.inputs)
    assert a.level == 30.0 and a.inputs.min() < -1  # as trained: unclipped, as the papers
    assert not np.array_equal(a.inputs, dg.degrade_for_eval(image, config, "denoise", 6).inputs)
    clipped = dg.degrade_for_eval(image, config, "denoise", 5, clip=True)
    np.testing.assert_array_equal(clipped.degraded, a.degraded)
    np.testing.assert_allclose(clipped.inputs[0], from_uint8(a.degraded).numpy(), atol=1e-6)


def test_validation_pairs_degrade_every_image_with_its_index():
    images = [_gradient_image(40, 40), _gradient_image(33, 47)]
    pairs = dg.validation_pairs(images, dataclasses.replace(RestoreConfig(), noise="15"), "denoise", seed=2)
    assert [p.target.shape for p in pairs] == [(40, 40, 3), (33, 47, 3)]
    np.testing.assert_array_equal(pairs[1].inputs, dg.degrade_for_eval(images[1], RestoreConfig(noise="15"),
                                                                         "denoise", 1, seed=2).inputs)


def test_to_uint8_tensor_matches_pixels_to_uint8_including_clipping():
    x = np.linspace(-1.2, 1.2, 2001, dtype=np.float32)
    np.testing.assert_array_equal(to_uint8_tensor(tf.constant(x)).numpy(), to_uint8(x))
