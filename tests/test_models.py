"""Generator and discriminator shapes and output ranges for every resolution and channel count."""
import keras
import numpy as np
import pytest

from deepdeconv.models import build_discriminator, build_generator
from deepdeconv.models.layers import channels_at


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_ends_in_a_float32_tanh_of_its_last_convolution(resolution, channels):
    g = build_generator(resolution, channels, z_dim=8, width=0.0625)
    z = np.random.RandomState(0).randn(2, 8).astype("float32")
    x = g(z, training=False).numpy()
    assert x.shape == (2, resolution, resolution, channels)
    assert x.dtype == np.float32
    before = keras.Model(g.inputs, g.get_layer("to_image").output)(z, training=False).numpy()
    np.testing.assert_allclose(x, np.tanh(before), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("resolution", [32, 64, 128, 256])
@pytest.mark.parametrize("norm", ["none", "batch", "spectral"])
def test_discriminator_returns_one_logit_per_image(resolution, norm):
    d = build_discriminator(resolution, 3, width=0.0625, norm=norm)
    x = np.random.RandomState(0).uniform(-1, 1, (2, resolution, resolution, 3)).astype("float32")
    assert d(x, training=True).shape == (2, 1)


def test_width_schedule_is_dcgan_at_width_one():
    assert [channels_at(r, 32, 1.0) for r in (4, 8, 16, 32)] == [512, 256, 128, 64]
    assert [channels_at(r, 256, 1.0) for r in (4, 128, 256)] == [512, 128, 64]
    assert channels_at(4, 32, 0.5) == 256


def test_weights_start_from_dcgan_normal_init():
    g = build_generator(32, 1, z_dim=64, width=0.5)
    kernel = g.get_layer("up16").kernel.numpy()
    assert abs(kernel.mean()) < 0.002
    assert kernel.std() == pytest.approx(0.02, rel=0.05)


def test_minibatch_std_appends_the_mean_feature_spread_of_the_batch():
    from deepdeconv.models.layers import MinibatchStd

    # Two images, one pixel, two channels: per-feature std over the batch is 1 and 3 -> mean 2.
    x = np.array([[[[0.0, 0.0]]], [[[2.0, 6.0]]]], "float32")
    y = MinibatchStd()(x).numpy()
    assert y.shape == (2, 1, 1, 3)
    np.testing.assert_allclose(y[..., :2], x)
    np.testing.assert_allclose(y[..., 2], 2.0, rtol=1e-4)


def test_discriminator_with_minibatch_std_feeds_it_to_the_last_stage():
    d = build_discriminator(32, 1, width=0.125, norm="batch", mbstd=True)
    # The 8x8 stage has the channels of a 16-pixel feature map (doubling as the side halves).
    assert d.get_layer("mbstd").output.shape[1:] == (8, 8, channels_at(16, 32, 0.125) + 1)
    x = np.random.RandomState(0).uniform(-1, 1, (4, 32, 32, 1)).astype("float32")
    assert d(x, training=True).shape == (4, 1)


def test_resize_upsampling_generator_has_no_transposed_convolutions():
    g = build_generator(32, 3, z_dim=8, width=0.0625, upsample="resize")
    assert not any(isinstance(layer, keras.layers.Conv2DTranspose) for layer in g.layers)
    assert [layer.kernel_size for layer in g.layers if layer.name.startswith("up") and hasattr(layer, "kernel_size")] \
        == [(3, 3)] * 3
    assert g(np.zeros((2, 8), "float32")).shape == (2, 32, 32, 3)

