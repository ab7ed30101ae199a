"""The restorer network, its pixel losses, its training step, and exact resume of its training."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from deepdeconv import losses
from deepdeconv.checkpoint import named_variables, restore_checkpoint, save_checkpoint
from deepdeconv.config import TrainConfig
from deepdeconv.data.patches import restoration_batches
from deepdeconv.models.restorer import build_restorer, crop_output, pad_to_multiple
from deepdeconv.restorer import build_restorer_model

TINY = 0.125  # 4 base channels


def _images(n=3, size=(40, 36), channels=3, seed=0):
    """Smooth random uint8 images (noise would be a degenerate target)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.random((size[0] // 4, size[1] // 4, channels))
        x = np.kron(x, np.ones((4, 4, 1)))
        out.append(np.round(x * 255).astype(np.uint8))
    return out


def _config(tmp_path, task, **changes):
    base = dict(task=task, width=TINY, batch=2, steps=6, channels=3, outdir=str(tmp_path), patch=16, depth=1,
                ema_rampup=0.5, mixed_precision=False)
    base.update(changes)
    return TrainConfig.from_options(base)


# --- the network ----------------------------------------------------------------------------

@pytest.mark.parametrize("task,scale,upsample,in_channels", [
    ("denoise", 1, "subpixel", 3), ("deblur", 1, "subpixel", 3), ("jpeg", 1, "subpixel", 3),
    ("inpaint", 1, "subpixel", 4), ("sr", 2, "subpixel", 3), ("sr", 3, "subpixel", 3), ("sr", 4, "subpixel", 3),
    ("sr", 2, "transpose", 3), ("sr", 3, "transpose", 3), ("sr", 4, "transpose", 3)])
def test_output_shape_is_the_input_image_shape_times_the_sr_scale(task, scale, upsample, in_channels):
    model = build_restorer(task, 3, TINY, depth=2, scale=scale, upsample=upsample)
    for h, w in ((8, 12), (20, 16)):  # any multiple of 2**depth, not square
        x = np.zeros((2, h, w, in_channels), np.float32)
        assert model(x).shape == (2, h * scale, w * scale, 3)
        assert model(x).dtype == tf.float32


def test_an_untrained_restorer_returns_its_input_image_and_ignores_the_mask():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 16, 12, 2)).astype(np.float32)  # grey image + mask channel
    np.testing.assert_array_equal(build_restorer("inpaint", 1, TINY, depth=2)(x), x[..., :1])
    np.testing.assert_array_equal(build_restorer("denoise", 1, TINY, depth=2)(x[..., :1]), x[..., :1])


@pytest.mark.parametrize("upsample", ["subpixel", "transpose"])
def test_an_untrained_super_resolver_returns_the_bicubic_upscaling(upsample):
    x = np.random.default_rng(2).uniform(-1, 1, (1, 8, 12, 3)).astype(np.float32)
    out = build_restorer("sr", 3, TINY, depth=1, scale=3, upsample=upsample)(x)
    bicubic = keras.layers.UpSampling2D(3, interpolation="bicubic")(x)
    np.testing.assert_allclose(out, bicubic, atol=1e-6)


@pytest.mark.parametrize("task,upsample", [("sr", "subpixel"), ("inpaint", "subpixel")])
def test_an_exported_restorer_loads_in_safe_mode_and_computes_the_same(tmp_path, task, upsample):
    model = build_restorer(task, 3, TINY, depth=1, scale=2, upsample=upsample)
    # Non-zero last layer, so that the correction path is exercised too.
    for layer in model.layers:
        if layer.name.startswith("correction") and layer.weights:
            layer.kernel.assign(np.full(layer.kernel.shape, 0.01, np.float32))
    model.save(tmp_path / "r.keras")
    loaded = keras.models.load_model(tmp_path / "r.keras", safe_mode=True)
    x = np.random.default_rng(3).uniform(-1, 1, (1, 8, 8, 4 if task == "inpaint" else 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))


def test_same_seed_builds_the_same_weights_and_another_seed_does_not(tmp_path):
    a = build_restorer_model(_config(tmp_path, "denoise", seed=5)).network.get_weights()
    b = build_restorer_model(_config(tmp_path, "denoise", seed=5)).network.get_weights()
    c = build_restorer_model(_config(tmp_path, "denoise", seed=6)).network.get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_pad_to_multiple_reflects_at_the_bottom_right_and_crop_output_undoes_it():
    x = np.arange(5 * 3, dtype=np.float32).reshape(1, 5, 3, 1)
    padded, size = pad_to_multiple(x, 4)
    assert padded.shape == (1, 8, 4, 1) and size == (5, 3)
    np.testing.assert_array_equal(padded[0, 5:, :3, 0], x[0, [3, 2, 1], :, 0])  # reflection, edge not repeated
    np.testing.assert_array_equal(padded[0, :5, 3, 0], x[0, :, 1, 0])
    np.testing.assert_array_equal(crop_output(padded, size), x)
    np.testing.assert_array_equal(crop_output(np.zeros((1, 16, 8, 1)), size, scale=2).shape, (1, 10, 6, 1))
    unchanged, size = pad_to_multiple(x[:, :4, :2], 2)
    assert unchanged.shape == (1, 4, 2, 1) and size == (4, 2)


# --- losses ---------------------------------------------------------------------------------

def _unit_pair():
    # [0, 1] values 0.5, 0.25 vs 0.5, 0.75 -> differences 0 and 0.5 (networks see [-1, 1]).
    target = np.array([0.0, -0.5], np.float32).reshape(1, 1, 2, 1)
    output = np.array([0.0, 0.5], np.float32).reshape(1, 1, 2, 1)
    return target, output


def test_mse_l1_and_charbonnier_equal_hand_computed_values_on_the_unit_scale():
    target, output = _unit_pair()
    assert float(losses.mse_loss(target, output)) == pytest.approx((0 + 0.25) / 2)
    assert float(losses.l1_loss(target, output)) == pytest.approx((0 + 0.5) / 2)
    eps = 1e-3
    assert float(losses.charbonnier_loss(target, output)) == pytest.approx((eps + np.sqrt(0.25 + eps ** 2)) / 2)


def test_ssim_losses_are_zero_for_identical_images_and_positive_otherwise():
    x = np.random.default_rng(4).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    y = np.clip(x + 0.2, -1, 1)
    for loss in (losses.ssim_loss, losses.ms_ssim_loss):
        assert float(loss(x, x)) == pytest.approx(0.0, abs=1e-5)
        assert float(loss(x, y)) > 0.01


def test_ms_ssim_scales_fit_an_11_pixel_window_at_the_coarsest_scale():
    assert [losses.ms_ssim_scales(s) for s in (16, 21, 22, 64, 175, 176, 512)] == [1, 1, 2, 3, 4, 5, 5]


@pytest.mark.parametrize("side", [64, 176])
def test_ms_ssim_equals_tf_image_on_correlated_images(side):
    rng = np.random.default_rng(5)
    a = tf.nn.avg_pool2d(rng.random((2, side + 3, side + 3, 3)).astype(np.float32), 4, 1, "VALID").numpy()
    b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
    scales = losses.ms_ssim_scales(side)
    weights = np.array(losses.MS_SSIM_WEIGHTS[:scales]) / sum(losses.MS_SSIM_WEIGHTS[:scales])
    reference = 1 - float(tf.reduce_mean(tf.image.ssim_multiscale(a, b, 1.0, power_factors=weights)))
    assert float(losses.ms_ssim_loss(b * 2 - 1, a * 2 - 1)) == pytest.approx(reference, abs=1e-5)


def test_ms_ssim_gradient_stays_finite_on_anti_correlated_images():
    x = tf.Variable(np.random.default_rng(6).uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32))
    with tf.GradientTape() as tape:
        loss = losses.ms_ssim_loss(-x, x)
    assert np.isfinite(tape.gradient(loss, x).numpy()).all()


def test_weighted_pixel_loss_is_the_weighted_sum_and_psnr_matches_the_formula():
    target, output = _unit_pair()
    total = losses.pixel_loss((("l1", 1.0), ("mse", 0.5)), target, output)
    assert float(total) == pytest.approx(0.25 + 0.5 * 0.125)
    assert float(losses.psnr_unit(target, output)) == pytest.approx(10 * np.log10(1 / 0.125), rel=1e-5)


# --- training ---------------------------------------------------------------------------------

@pytest.mark.parametrize("task,changes", [
    ("denoise", {}), ("deblur", {}), ("sr", {"scale": 2}), ("inpaint", {}), ("jpeg", {}),
    ("denoise", {"adversarial": 0.01, "pixel_loss": "charbonnier+0.5*ssim"})])
@pytest.mark.slow
def test_a_few_steps_of_each_task_give_finite_losses_and_move_the_weights(tmp_path, task, changes):
    config = _config(tmp_path, task, **changes)
    model = build_restorer_model(config)
    before = [w.copy() for w in model.network.get_weights()]
    history = model.fit(restoration_batches(_images(), config), steps_per_epoch=2, verbose=0)
    assert int(model.step.numpy()) == 2
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert ("d_loss" in history.history) == bool(changes.get("adversarial"))
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.network.get_weights()))


@pytest.mark.slow
def test_three_plus_three_steps_with_a_checkpoint_equal_six_straight_steps(tmp_path):
    config = _config(tmp_path, "sr", scale=2, adversarial=0.01)
    images = _images()
    straight = build_restorer_model(config)
    straight.fit(restoration_batches(images, config), steps_per_epoch=6, verbose=0)

    first = build_restorer_model(config)
    first.fit(restoration_batches(images, config), steps_per_epoch=3, verbose=0)
    save_checkpoint(first, tmp_path / "ckpt.npz", config)
    second = build_restorer_model(config.replace(seed=config.seed))
    assert restore_checkpoint(second, tmp_path / "ckpt.npz") == 3
    second.fit(restoration_batches(images, config, start_step=3), steps_per_epoch=3, verbose=0)

    resumed = second.checkpoint_groups()
    for group, value in straight.checkpoint_groups().items():
        expected, got = named_variables(value), named_variables(resumed[group])
        assert sorted(expected) == sorted(got), group
        for key, variable in expected.items():
            np.testing.assert_array_equal(variable.numpy(), got[key].numpy(), err_msg=f"{group}/{key}")


# --- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("task,changes", [("denoise", {}), ("sr", {"scale": 2})])
def test_an_untrained_restorer_validates_exactly_at_the_input_baseline(tmp_path, task, changes):
    import json

    from deepdeconv.callbacks.validation import Validation

    config = _config(tmp_path, task, **changes)
    model = build_restorer_model(config)
    images = _images(2, size=(44, 36), seed=7)
    validation = Validation(tmp_path, config, images, every=1)
    validation.set_model(model)
    validation.on_train_begin()
    record = validation.validate()
    baseline = json.loads((tmp_path / "log.jsonl").read_text().splitlines()[0])
    assert baseline["event"] == "val_input" and record["event"] == "val"
    # The identity (sr: bicubic) network restores nothing: its scores are the input's own.
    assert record["val_psnr"] == pytest.approx(baseline["input_psnr"], abs=0.02)
    assert record["val_ssim"] == pytest.approx(baseline["input_ssim"], abs=1e-3)
    assert (tmp_path / "samples" / "val-000000000-01.png").is_file()


def test_clean_patches_alone_are_degraded_inside_the_step_by_the_degrade_callable(tmp_path):
    from deepdeconv.data.degrade import degrade
    from deepdeconv.data.patches import patch_batches

    # No noise and the float input (not rounded to uint8): the identity restorer is already perfect.
    config = _config(tmp_path, "denoise", noise="0", unclipped=True)
    seeds = []

    def no_noise(clean, seed):
        seeds.append(seed)
        return degrade(clean, config.restore, config.task, seed)

    model = build_restorer_model(config, degrade=no_noise)
    history = model.fit(patch_batches(_images(), 16, 2, seed=0), steps_per_epoch=2, verbose=0)
    assert seeds, "the step did not call degrade"
    assert history.history["pixel"][-1] < 1e-3  # noise 0: inputs equal targets, and the identity fits them


@pytest.mark.parametrize("upsample", ["subpixel", "transpose"])
def test_a_super_resolver_traces_for_images_of_unknown_size(upsample):
    network = build_restorer("sr", 3, width=0.25, depth=1, scale=3, upsample=upsample)
    restore = tf.function(network, input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    image = np.random.default_rng(0).uniform(-1, 1, (1, 10, 14, 3)).astype("float32")
    out = restore(image).numpy()
    # Untrained, the correction is zero: the output is exactly TensorFlow's bicubic upscaling.
    np.testing.assert_array_equal(out, tf.image.resize(image, (30, 42), method="bicubic").numpy())
