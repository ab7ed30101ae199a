"""Tiled restoration equals whole-image restoration, for any image size, in bounded memory."""
import keras
import numpy as np
import pytest
from keras import layers

from deepdeconv.errors import UserError
from deepdeconv.models.restorer import build_restorer
from deepdeconv.restoring import tiles


def _randomise(model, seed=0):
    """Non-zero weights everywhere (a fresh restorer is the identity: its last layer is zero)."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        fan_in = int(np.prod(w.shape[:-1])) if len(w.shape) > 1 else 1
        w.assign(rng.normal(0, 1.2 / np.sqrt(fan_in), w.shape).astype(np.float32))
    return model


def _plain_convs(n, channels=1):
    inputs = keras.Input((None, None, channels))
    x = inputs
    for i in range(n):
        x = layers.Conv2D(channels if i == n - 1 else 4, 3, padding="same", activation=None if i == n - 1 else "relu")(x)
    return _randomise(keras.Model(inputs, x))


def _image(h, w, c, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (h, w, c)).astype(np.float32)


def test_receptive_radius_of_n_3x3_convs_is_n():
    for n in (1, 3, 5):
        assert tiles.receptive_radius(_plain_convs(n)) == n


def test_geometry_of_the_restorer_is_measured():
    model = build_restorer("sr", 3, width=0.25, depth=2, scale=3)
    assert tiles.network_geometry(model) == (4, 3, 3)


@pytest.mark.parametrize("task,channels,scale", [("denoise", 1, 1), ("sr", 3, 2), ("inpaint", 3, 1)])
def test_tiled_restoration_equals_whole_image_everywhere(task, channels, scale):
    model = _randomise(build_restorer(task, channels, width=0.25, depth=2, scale=scale))
    c_in = model.inputs[0].shape[-1]
    image = _image(203, 157, c_in)  # odd sizes: padded to the multiple and cropped back
    whole = tiles.restore_array(model, image, tile=1024)
    radius = tiles.receptive_radius(model)
    tiled = tiles.restore_array(model, image, tile=2 * radius + 48)
    assert whole.shape == (203 * scale, 157 * scale, channels)
    assert tiles.count_tiles(image.shape, model, tile=2 * radius + 48) > 4
    assert np.max(np.abs(whole)) > 0.5  # a non-trivial output
    # equal up to float summation order (the convolution kernels block differently per size)
    np.testing.assert_allclose(tiled, whole, atol=1e-5 * np.max(np.abs(whole)), rtol=0)


def test_too_small_an_overlap_leaves_a_seam_that_the_measured_overlap_removes():
    """The test can fail: it sees the seam when the overlap is below the receptive radius."""
    model = _randomise(build_restorer("denoise", 1, width=0.25, depth=2))
    image = _image(120, 120, 1)
    whole = tiles.restore_array(model, image, tile=1024)
    seamy = tiles.restore_array(model, image, tile=64, overlap=4, batch=16)
    assert np.max(np.abs(seamy - whole)) > 1e-3
    np.testing.assert_allclose(tiles.restore_array(model, image, tile=tiles.receptive_radius(model) * 2 + 16),
                               whole, atol=2e-5, rtol=0)


def test_network_calls_hold_at_most_batch_tiles_of_the_tile_size(monkeypatch):
    model = _plain_convs(2)
    shapes = []
    real_call = tiles._call
    monkeypatch.setattr(tiles, "_call", lambda m, x: (shapes.append(x.shape), real_call(m, x))[1])
    tiles.network_geometry(model)
    tiles.receptive_radius(model)
    shapes.clear()
    for side in (100, 300):
        shapes.clear()
        tiles.restore_array(model, _image(side, side, 1), tile=40, batch=3)
        assert max(s[0] for s in shapes) <= 3
        assert max(max(s[1], s[2]) for s in shapes) <= 40
        assert sum(s[0] for s in shapes) == tiles.count_tiles((side, side), model, tile=40)
    assert tiles.count_tiles((300, 300), model, tile=40) > tiles.count_tiles((100, 100), model, tile=40)


def test_global_operations_have_no_finite_radius():
    inputs = keras.Input((None, None, 1))
    mean = layers.GlobalAveragePooling2D(keepdims=True)(inputs)
    model = keras.Model(inputs, layers.Add()([inputs, mean]))
    assert tiles.receptive_radius(model) is None
    image = _image(90, 90, 1)
    np.testing.assert_allclose(tiles.restore_array(model, image, tile=32), image + image.mean(), atol=1e-5)


def test_a_tile_too_small_for_the_receptive_field_is_one_sentence():
    model = _randomise(build_restorer("denoise", 1, width=0.25, depth=2))
    with pytest.raises(UserError, match="--tile 16 is too small"):
        tiles.restore_array(model, _image(100, 100, 1), tile=16)


def test_restore_batch_matches_restore_array():
    model = _randomise(build_restorer("sr", 1, width=0.25, depth=1, scale=2))
    images = np.stack([_image(21, 30, 1, seed=s) for s in range(3)])
    batch = tiles.restore_batch(model, images, batch=2)
    assert batch.shape == (3, 42, 60, 1)
    np.testing.assert_allclose(batch[2], tiles.restore_array(model, images[2]), atol=1e-5)
