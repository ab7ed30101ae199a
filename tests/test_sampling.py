"""The sampling writers: seeds -> latents -> uint8 images -> grids, PNGs, GIFs, .npz."""
import numpy as np
import pytest
from PIL import Image

import keras
from deepdeconv.errors import UserError
from deepdeconv.models import build_generator
from deepdeconv.sampling import (NpzStream, PngFolder, generate, generate_from_seeds, interpolation_latents,
                                 is_conditional, latents_from_seeds, make_grid, num_classes_of, parse_grid,
                                 parse_seeds, save_gif, save_png, slerp, write_grid)
from deepdeconv.sampling.tasks import write_interpolation


def passthrough_generator(z_dim=4, side=2):
    """A 'generator' whose image is its latent: pixel values are exactly the inputs."""
    z = keras.Input((z_dim,))
    return keras.Model(z, keras.layers.Reshape((side, z_dim // side, 1))(z))


def conditional_passthrough(z_dim=4, classes=3):
    """[z, label] -> z + 10 * label, so the class shows in every pixel."""
    z = keras.Input((z_dim,))
    label = keras.Input((1,), dtype="int32")
    table = np.repeat(np.arange(classes, dtype=np.float32)[:, None], z_dim, 1) * 10
    offset = keras.layers.Embedding(classes, z_dim, embeddings_initializer=keras.initializers.Constant(table))
    image = keras.layers.Add()([z, keras.layers.Flatten()(offset(label))])
    return keras.Model([z, label], keras.layers.Reshape((2, z_dim // 2, 1))(image))


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(1)
    return build_generator(resolution=32, channels=3, z_dim=16, width=0.125)


# --- seeds and latents ------------------------------------------------------------------

def test_parse_seeds_accepts_ranges_and_lists_in_order():
    assert parse_seeds("0-3,10,7-8") == [0, 1, 2, 3, 10, 7, 8]
    assert parse_seeds("5") == [5]
    assert parse_seeds("1,1") == [1, 1]


@pytest.mark.parametrize("text", ["", "a", "1,,2", "-1", "5-2", "1-2-3", "0.5", str(2**32)])
def test_parse_seeds_refuses_bad_syntax_in_one_sentence_naming_the_option(text):
    with pytest.raises(UserError, match="--seeds") as e:
        parse_seeds(text)
    assert "\n" not in str(e.value)


def test_latent_of_a_seed_is_its_own_randomstate_draw():
    z = latents_from_seeds([3, 7, 3], 16)
    assert z.dtype == np.float32 and z.shape == (3, 16)
    np.testing.assert_array_equal(z[1], np.random.RandomState(7).randn(16).astype(np.float32))
    np.testing.assert_array_equal(z[0], z[2])


def test_truncation_redraws_only_components_beyond_the_threshold():
    plain = latents_from_seeds(range(20), 64)
    cut = latents_from_seeds(range(20), 64, trunc=0.5)
    assert np.abs(cut).max() <= 0.5
    inside = np.abs(plain) <= 0.5
    np.testing.assert_array_equal(cut[inside], plain[inside])
    assert not np.array_equal(cut[~inside], plain[~inside])
    np.testing.assert_array_equal(latents_from_seeds(range(20), 64, trunc=np.inf), plain)


def test_same_seed_gives_same_image_whatever_the_batch_size_or_neighbours(tiny_generator):
    seeds = list(range(10))
    reference = np.concatenate([im for _, im in generate_from_seeds(tiny_generator, seeds, batch_size=10)])
    assert len({im.tobytes() for im in reference}) == len(seeds)  # seeds really differ
    for batch_size in (1, 3, 64):
        images = np.concatenate([im for _, im in generate_from_seeds(tiny_generator, seeds, batch_size)])
        # Identical latents; allow one level of float reordering across conv algorithms.
        assert np.abs(images.astype(int) - reference).max() <= 1
    alone = next(generate(tiny_generator, latents_from_seeds([6], 16)))
    assert np.abs(alone[0].astype(int) - reference[6]).max() <= 1


def test_generate_yields_uint8_batches_in_order_with_a_short_last_batch():
    gen = passthrough_generator()
    z = np.linspace(-1, 1, 7 * 4, dtype=np.float32).reshape(7, 4)
    batches = list(generate(gen, z, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    images = np.concatenate(batches)
    assert images.dtype == np.uint8 and images.shape == (7, 2, 2, 1)
    np.testing.assert_array_equal(images[:, 0, 0, 0], np.rint((z[:, 0] + 1) * 127.5).astype(np.uint8))


def test_uint8_conversion_of_edge_and_out_of_range_values():
    z = np.array([[-1.0, 0.0, 1.0, 0.5], [-3.0, 7.0, -1.002, 1.002]], np.float32)
    images = next(generate(passthrough_generator(), z))
    np.testing.assert_array_equal(images.reshape(2, 4), [[0, 128, 255, 191], [0, 255, 0, 255]])


# --- conditional generators ------------------------------------------------------------------

def test_conditional_generator_gets_its_labels_and_reports_its_classes():
    gen = conditional_passthrough()
    assert is_conditional(gen) and num_classes_of(gen) == 3
    assert not is_conditional(passthrough_generator()) and num_classes_of(passthrough_generator()) is None
    z = np.full((3, 4), -1.0, np.float32)
    images = next(generate(gen, z, labels=np.array([2, 0, 1])))
    # -1 + 10 * label -> clipped: class 0 stays black, the others saturate.
    np.testing.assert_array_equal(images.reshape(3, 4)[:, 0], [255, 0, 255])
    with pytest.raises(ValueError):
        next(generate(gen, z))


# --- grids -------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_grid_places_each_image_in_row_major_cells_with_padding(channels):
    images = np.stack([np.full((4, 6, channels), 10 * (i + 1), np.uint8) for i in range(5)])
    grid = make_grid(images, pad=2, pad_value=7)
    # 5 images -> 3 columns, 2 rows; pad between tiles and around the border.
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (6 + 2) + 2, channels)
    for i in range(5):
        y, x = 2 + (i // 3) * 6, 2 + (i % 3) * 8
        assert (grid[y:y + 4, x:x + 6] == 10 * (i + 1)).all()
    assert (grid[:2] == 7).all() and (grid[:, :2] == 7).all()
    assert (grid[8:12, 18:24] == 7).all()  # the sixth, empty cell is padding


def test_grid_scales_tiles_by_nearest_neighbour_and_accepts_given_shape():
    images = np.arange(2 * 2 * 2, dtype=np.uint8).reshape(2, 2, 2, 1)
    grid = make_grid(images, grid=(2, 1), pad=0, scale=3)
    assert grid.shape == (12, 6, 1)
    np.testing.assert_array_equal(grid[:6, :, 0], np.kron(images[0, :, :, 0], np.ones((3, 3), np.uint8)))
    assert make_grid(images[:, :, :, 0], pad=1).shape == (4, 7, 1)  # [N, H, W] is grayscale


def test_grid_too_small_for_the_images_is_refused():
    with pytest.raises(UserError, match="--grid 2x2 holds 4"):
        make_grid(np.zeros((5, 2, 2, 1), np.uint8), grid=(2, 2))
    assert parse_grid("3x5") == (3, 5) and parse_grid(None) is None
    with pytest.raises(UserError, match="--grid"):
        parse_grid("3by5")


# --- interpolation ---------------------------------------------------------------------------

def test_slerp_endpoints_are_the_seed_latents_and_the_path_keeps_the_norm():
    a, b = latents_from_seeds([1, 2], 32)
    path = slerp(a, b, np.linspace(0, 1, 9))
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    u, v = np.eye(2, dtype=np.float32)
    np.testing.assert_allclose(np.linalg.norm(slerp(u, v, 0.5)), 1.0, rtol=1e-6)
    np.testing.assert_allclose(slerp(u, 2 * u, 0.5), 1.5 * u)  # parallel: falls back to lerp
    legs = interpolation_latents(latents_from_seeds([1, 2, 3], 32), 5)
    assert legs.shape == (2, 5, 32)
    np.testing.assert_array_equal(legs[0, -1], legs[1, 0])


def test_interpolation_gif_holds_every_frame_once(tmp_path):
    gen = passthrough_generator(z_dim=16, side=4)
    write_interpolation(gen, [1, 2, 3], 6, tmp_path / "strip.png", tmp_path / "path.gif", scale=2)
    with Image.open(tmp_path / "path.gif") as gif:
        assert gif.n_frames == 2 * (6 - 1) + 1
        assert gif.size == (8, 8)
    with Image.open(tmp_path / "strip.png") as strip:
        assert strip.size == (6 * (8 + 2) + 2, 2 * (8 + 2) + 2)


# --- files ---------------------------------------------------------------------------------

def test_png_round_trip_for_gray_and_rgb(tmp_path):
    rgb = np.random.RandomState(0).randint(0, 256, (5, 7, 3)).astype(np.uint8)
    save_png(tmp_path / "rgb.png", rgb)
    save_png(tmp_path / "gray.png", rgb[..., :1])
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "rgb.png")), rgb)
    with Image.open(tmp_path / "gray.png") as im:
        assert im.mode == "L"
        np.testing.assert_array_equal(np.asarray(im), rgb[..., 0])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gray.png", "rgb.png"]  # no temporaries


def test_gif_frame_count_and_timing(tmp_path):
    frames = [np.full((4, 4, 3), 40 * i, np.uint8) for i in range(5)]
    save_gif(tmp_path / "a.gif", frames, duration_ms=120)
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 5
        assert gif.info["duration"] == 120
        assert gif.info["loop"] == 0


def test_write_grid_generates_and_saves_the_callback_grid(tiny_generator, tmp_path):
    grid = write_grid(tiny_generator, latents_from_seeds(range(6), 16), tmp_path / "g.png", grid=(2, 3), pad=1)
    assert grid.shape == (2 * 33 + 1, 3 * 33 + 1, 3)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), grid)


def test_png_folder_appears_only_when_complete(tmp_path):
    images = np.zeros((3, 2, 2, 1), np.uint8)
    with PngFolder(tmp_path / "ok") as out:
        out.add(images, ["a.png", "b.png", "c.png"])
    assert sorted(p.name for p in (tmp_path / "ok").iterdir()) == ["a.png", "b.png", "c.png"]
    with pytest.raises(KeyboardInterrupt):
        with PngFolder(tmp_path / "broken") as out:
            out.add(images, ["a.png", "b.png", "c.png"])
            raise KeyboardInterrupt
    assert not (tmp_path / "broken").exists()
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "mine.txt").write_text("x")
    with pytest.raises(RuntimeError):
        with PngFolder(tmp_path / "kept") as out:
            out.add(images, ["a.png", "b.png", "c.png"])
            raise RuntimeError
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["mine.txt"]


def test_npz_stream_writes_images_seeds_and_labels_or_nothing(tmp_path):
    images = np.random.RandomState(0).randint(0, 256, (5, 3, 3, 1)).astype(np.uint8)
    with NpzStream(tmp_path / "a.npz", 5) as out:
        out.add(images[:2], [10, 11], [0, 1])
        out.add(images[2:], [12, 13, 14], [2, 0, 1])
    with np.load(tmp_path / "a.npz") as f:
        np.testing.assert_array_equal(f["images"], images)
        np.testing.assert_array_equal(f["seeds"], [10, 11, 12, 13, 14])
        np.testing.assert_array_equal(f["labels"], [0, 1, 2, 0, 1])
    with pytest.raises(ValueError, match="announced"):
        with NpzStream(tmp_path / "short.npz", 5) as out:
            out.add(images[:2], [10, 11])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]
