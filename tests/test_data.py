"""deepdeconv.data: every source, format and failure, and the batch pipelines. All offline."""
import dataclasses
import gzip
import hashlib
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deepdeconv import cache
from deepdeconv.data import ImageSource, load_source, real_uint8_batches, training_batches
from deepdeconv.data import builtin, download, materialise
from deepdeconv.errors import UserError
from deepdeconv.pixels import to_uint8

RED, GREEN, BLUE, CYAN = (255, 0, 0), (0, 255, 0), (0, 0, 255), (0, 255, 255)


def pixels_of(source):
    """All images of a source as uint8 [N, R, R, C], and labels [N]."""
    images = np.concatenate(list(real_uint8_batches(source, 64)))
    labels = np.array([int(label) for _, label in source.images()])
    return images, labels


def only_image(folder, resolution, **kwargs):
    """Loads a folder holding a single image and returns that image as uint8."""
    source = load_source(str(folder), resolution, **kwargs)
    assert source.num_images == 1 and source.skipped == ()
    return pixels_of(source)[0][0]


def solid(mode, size, colour):
    return Image.new(mode, size, colour)


def bands(colours, band_size, vertical=True):
    """An RGB image of equal bands, left to right (vertical=True) or top to bottom."""
    w, h = band_size
    im = Image.new("RGB", (w * len(colours), h) if vertical else (w, h * len(colours)))
    for i, colour in enumerate(colours):
        box = (i * w, 0, (i + 1) * w, h) if vertical else (0, i * h, w, (i + 1) * h)
        im.paste(colour, box)
    return im


# --- formats -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", [
    ("a.png", {}), ("b.jpg", {"quality": 95}), ("c.JPEG", {"quality": 95}), ("d.bmp", {}), ("e.gif", {}),
    ("f.webp", {"lossless": True}),
])
def test_every_listed_format_decodes_to_its_colour(tmp_path, name, options):
    solid("RGB", (12, 12), RED).save(tmp_path / name, **options)
    image = only_image(tmp_path, 8)
    assert image.shape == (8, 8, 3)
    np.testing.assert_allclose(image.reshape(-1, 3).mean(0), RED, atol=3)


def test_palette_image_uses_its_palette_and_transparent_index_becomes_white(tmp_path):
    im = Image.new("P", (8, 8), 1)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * (254 * 3))
    im.paste(0, (0, 0, 8, 4))  # top half: index 0, declared transparent below
    im.save(tmp_path / "p.png", transparency=0)
    image = only_image(tmp_path, 8)
    assert (image[:4] == 255).all()
    assert (image[4:] == (10, 200, 30)).all()


def test_rgba_is_composited_on_white(tmp_path):
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))  # fully transparent black -> white
    im.paste((0, 0, 255, 255), (0, 4, 8, 8))  # opaque blue stays blue
    im.paste((0, 0, 0, 128), (0, 0, 4, 4))  # half-transparent black -> mid grey
    im.save(tmp_path / "rgba.png")
    image = only_image(tmp_path, 8)
    assert (image[:4, 4:] == 255).all()
    assert (image[4:] == BLUE).all()
    assert np.all(np.abs(image[:4, :4].astype(int) - 127) <= 1)


def test_grey_with_alpha_stays_one_channel_on_white(tmp_path):
    im = Image.new("LA", (8, 8), (0, 0))
    im.paste((40, 255), (0, 4, 8, 8))
    im.save(tmp_path / "la.png")
    image = only_image(tmp_path, 8)
    assert image.shape == (8, 8, 1)
    assert (image[:4] == 255).all() and (image[4:] == 40).all()


def test_cmyk_jpeg_comes_out_rgb(tmp_path):
    solid("CMYK", (8, 8), (255, 0, 0, 0)).save(tmp_path / "cmyk.jpg", quality=100)
    image = only_image(tmp_path, 8)
    np.testing.assert_allclose(image.reshape(-1, 3).mean(0), CYAN, atol=3)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 100 * 257, 200 * 257, 65535]], np.uint16).repeat(4, axis=0)
    im = Image.fromarray(values)
    assert im.mode == "I;16"
    im.save(tmp_path / "deep.png")
    image = only_image(tmp_path, 4)
    assert image.shape == (4, 4, 1)
    np.testing.assert_array_equal(image[0, :, 0], [0, 100, 200, 255])


@pytest.mark.parametrize("orientation, top, bottom", [(6, RED, BLUE), (8, BLUE, RED), (1, None, None)])
def test_exif_orientation_is_applied(tmp_path, orientation, top, bottom):
    # Stored as a 16x8 landscape: left half red, right half blue.
    im = bands([RED, BLUE], (8, 8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    im.save(tmp_path / "photo.jpg", quality=100, exif=exif)
    image = only_image(tmp_path, 8).astype(int)
    if top is None:  # no rotation: the centre crop keeps left red, right blue
        np.testing.assert_allclose(image[:, :2].reshape(-1, 3).mean(0), RED, atol=20)
        np.testing.assert_allclose(image[:, -2:].reshape(-1, 3).mean(0), BLUE, atol=20)
    else:  # upright it is 8 wide, 16 tall: the crop is red above blue (6) or blue above red (8)
        np.testing.assert_allclose(image[:2].reshape(-1, 3).mean(0), top, atol=20)
        np.testing.assert_allclose(image[-2:].reshape(-1, 3).mean(0), bottom, atol=20)


def test_gif_uses_first_frame(tmp_path):
    frames = [solid("RGB", (8, 8), RED), solid("RGB", (8, 8), BLUE)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    with Image.open(tmp_path / "anim.gif") as check:
        assert check.n_frames == 2
    image = only_image(tmp_path, 8)
    assert (image == RED).all()


@pytest.mark.parametrize("vertical", [True, False])
def test_non_square_is_centre_cropped_not_squashed(tmp_path, vertical):
    # 30x10 (or 10x30) in three bands: only the middle band survives the centre crop.
    bands([RED, GREEN, BLUE], (10, 10), vertical).save(tmp_path / "long.png")
    image = only_image(tmp_path, 10)
    assert image.shape == (10, 10, 3) and (image == GREEN).all()


def test_non_square_is_resized_by_its_short_side(tmp_path):
    bands([RED, GREEN, BLUE], (40, 40)).save(tmp_path / "wide.png")  # 120x40 -> 24x8 -> crop 8x8
    image = only_image(tmp_path, 8).astype(int)
    assert (np.abs(image[:, 2:6] - GREEN) <= 3).all()  # the centre is pure green
    assert image[..., 0].max() < 40  # and no red band was squeezed in at the sides


# --- failures --------------------------------------------------------------------------------

def test_undecodable_files_are_skipped_counted_and_listed(tmp_path):
    solid("RGB", (8, 8), RED).save(tmp_path / "good.png")
    (tmp_path / "garbage.png").write_bytes(b"this is not an image")
    buffer = io.BytesIO()
    solid("RGB", (64, 64), RED).save(buffer, "JPEG")
    (tmp_path / "truncated.jpg").write_bytes(buffer.getvalue()[:200])
    (tmp_path / "notes.txt").write_text("ignored: not an image suffix")
    source = load_source(str(tmp_path), 8)
    assert source.num_images == 1
    skipped = dict(source.skipped)
    assert set(skipped) == {str(tmp_path / "garbage.png"), str(tmp_path / "truncated.jpg")}
    assert all(reason for reason in skipped.values())
    assert (pixels_of(source)[0] == RED).all()


def test_folder_of_only_undecodable_files_is_a_user_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"nope")
    with pytest.raises(UserError, match="could be decoded"):
        load_source(str(tmp_path), 8)


def test_empty_folder_is_a_user_error_naming_it(tmp_path):
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(UserError) as e:
        load_source(str(tmp_path), 8)
    assert str(tmp_path) in str(e.value)


def test_missing_folder_is_a_user_error_naming_it(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(UserError) as e:
        load_source(str(missing), 8)
    assert str(missing) in str(e.value)


def test_unknown_dataset_name_is_a_user_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as e:
        load_source("cifar100", 8)
    assert "cifar100" in str(e.value) and "mnist" in str(e.value)


def test_bad_channels_option_is_a_user_error():
    with pytest.raises(UserError, match="--channels"):
        load_source("digits", 8, channels=2)


# --- channels and labels -----------------------------------------------------------------------

def test_channels_are_one_when_every_image_is_grey(tmp_path):
    solid("L", (8, 8), 90).save(tmp_path / "grey.png")
    solid("RGB", (8, 8), (30, 30, 30)).save(tmp_path / "grey_as_rgb.png")
    source = load_source(str(tmp_path), 8)
    assert source.channels == 1
    np.testing.assert_array_equal(pixels_of(source)[0][:, 0, 0, 0], [90, 30])


def test_channels_are_three_when_any_image_has_colour(tmp_path):
    solid("L", (8, 8), 90).save(tmp_path / "grey.png")
    solid("RGB", (8, 8), RED).save(tmp_path / "red.png")
    source = load_source(str(tmp_path), 8)
    assert source.channels == 3
    np.testing.assert_array_equal(pixels_of(source)[0][:, 0, 0], [(90, 90, 90), RED])


def test_channels_override_takes_luminance_or_repeats_grey(tmp_path):
    solid("RGB", (8, 8), (200, 100, 50)).save(tmp_path / "colour.png")
    expected = np.asarray(solid("RGB", (1, 1), (200, 100, 50)).convert("L"))[0, 0]
    grey = load_source(str(tmp_path), 8, channels=1)
    assert grey.channels == 1 and (pixels_of(grey)[0] == expected).all()
    digits = load_source("digits", 8, channels=3)
    images = pixels_of(digits)[0]
    assert images.shape[-1] == 3 and (images[..., 0] == images[..., 2]).all() and images.max() > 0


def test_class_subfolders_give_labels_with_sorted_names(tmp_path):
    for cls, colour in (("zebra", RED), ("ant", GREEN), ("moth", BLUE)):
        (tmp_path / cls / "nested").mkdir(parents=True)
        solid("RGB", (8, 8), colour).save(tmp_path / cls / "a.png")
        solid("RGB", (8, 8), colour).save(tmp_path / cls / "nested" / "b.png")
    source = load_source(str(tmp_path), 8)
    assert source.class_names == ("ant", "moth", "zebra")
    images, labels = pixels_of(source)
    colour_of = {0: GREEN, 1: BLUE, 2: RED}
    assert sorted(labels.tolist()) == [0, 0, 1, 1, 2, 2]
    for image, label in zip(images, labels):
        assert (image == colour_of[label]).all()


@pytest.mark.parametrize("layout", [("top.png", "a/x.png", "b/y.png"), ("only/x.png", "only/y.png")])
def test_images_in_top_folder_or_one_subfolder_are_unlabelled(tmp_path, layout):
    for rel in layout:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        solid("RGB", (8, 8), RED).save(tmp_path / rel)
    source = load_source(str(tmp_path), 8)
    assert source.class_names == () and source.num_images == len(layout)
    assert (pixels_of(source)[1] == 0).all()


# --- built-in data sets --------------------------------------------------------------------

def test_digits_source_shape_range_and_labels():
    from sklearn.datasets import load_digits

    source = load_source("digits", 16)
    assert (source.name, source.resolution, source.channels, source.num_images) == ("digits", 16, 1, 1797)
    assert source.class_names == tuple("0123456789")
    x, y = next(iter(source.images().batch(2000)))
    assert x.shape == (1797, 16, 16, 1) and x.dtype == tf.float32
    assert float(tf.reduce_min(x)) == -1.0 and float(tf.reduce_max(x)) == 1.0
    np.testing.assert_array_equal(y.numpy(), load_digits().target)
    # White strokes on black, like MNIST (not inverted): dark on average, black in the corner.
    assert float(tf.reduce_mean(x)) < -0.2
    assert float(tf.reduce_mean(tf.cast(x[:, 0, 0] == -1.0, tf.float32))) > 0.95


def write_idx(path, array, magic):
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def tiny_digit_arrays(n=6, size=28):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def test_keras_dataset_from_local_npz(tmp_path):
    x, y = tiny_digit_arrays()
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y, x_test=x[:1], y_test=y[:1])
    source = load_source(f"mnist:{tmp_path / 'mine.npz'}", 28)
    assert (source.name, source.channels, source.num_images) == ("mnist", 1, 6)
    assert source.class_names == tuple("0123456789")
    images, labels = pixels_of(source)
    np.testing.assert_array_equal(images[..., 0], x)  # 28 -> 28: untouched
    np.testing.assert_array_equal(labels, y)
    assert load_source(f"mnist:{tmp_path / 'mine.npz'}", 32).resolution == 32


def test_fashion_mnist_from_local_idx_folder(tmp_path):
    x, y = tiny_digit_arrays()
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x, 0x0803)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y, 0x0801)
    source = load_source(f"fashion_mnist:{tmp_path}", 28)
    assert source.class_names[0] == "T-shirt/top" and source.num_images == 6
    np.testing.assert_array_equal(pixels_of(source)[0][..., 0], x)


def cifar_tar(path, per_batch=2):
    rng = np.random.default_rng(1)
    hwc = rng.integers(0, 256, (5 * per_batch, 32, 32, 3), dtype=np.uint8)
    rows = hwc.transpose(0, 3, 1, 2).reshape(len(hwc), -1)  # CIFAR stores planes: R then G then B
    with tarfile.open(path, "w:gz") as tar:
        for i in range(5):
            blob = pickle.dumps({b"data": rows[i * per_batch:(i + 1) * per_batch],
                                 b"labels": list(range(i * per_batch, (i + 1) * per_batch))}, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/data_batch_{i + 1}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hwc


def test_cifar10_from_local_tar(tmp_path):
    hwc = cifar_tar(tmp_path / "cifar-10-python.tar.gz")
    source = load_source(f"cifar10:{tmp_path / 'cifar-10-python.tar.gz'}", 32)
    assert (source.channels, source.num_images, source.class_names[0]) == (3, 10, "airplane")
    images, labels = pixels_of(source)
    np.testing.assert_array_equal(images, hwc)
    np.testing.assert_array_equal(labels, np.arange(10))


def test_unreadable_local_dataset_file_is_a_user_error(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="bad.npz"):
        load_source(f"mnist:{tmp_path / 'bad.npz'}", 28)
    with pytest.raises(UserError, match="no such file"):
        load_source(f"mnist:{tmp_path / 'absent.npz'}", 28)


@pytest.fixture
def fake_download(tmp_path, monkeypatch):
    """Points the download cache at tmp_path/cache and serves `served[url-name]` bytes instead of the web."""
    monkeypatch.setenv(download.DATA_DIR_ENV, str(tmp_path / "cache"))
    served, calls = {}, []

    def fake(url, dest, sha256=None, desc=None):
        calls.append(url)
        dest = Path(dest)
        data = served[url.rsplit("/", 1)[-1]]
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            raise cache.ChecksumMismatch(url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return dest

    monkeypatch.setattr(cache, "download", fake)
    return served, calls


def test_downloaded_dataset_is_verified_cached_and_reused(tmp_path, monkeypatch, fake_download):
    served, calls = fake_download
    x, y = tiny_digit_arrays()
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=y)
    served["mnist.npz"] = (tmp_path / "mnist.npz").read_bytes()
    pinned = builtin.DATASETS["mnist"]
    remote = download.RemoteFile("mnist.npz", download.sha256_file(tmp_path / "mnist.npz"), pinned.files[0].urls)
    monkeypatch.setitem(builtin.DATASETS, "mnist", dataclasses.replace(pinned, files=(remote,)))
    assert load_source("mnist", 28).num_images == 6
    assert load_source("mnist", 28).num_images == 6
    assert len(calls) == 1 and (tmp_path / "cache" / "mnist.npz").is_file()


def test_checksum_mismatch_is_a_user_error_and_leaves_no_file(tmp_path, fake_download):
    served, calls = fake_download
    served["mnist.npz"] = b"a tampered or truncated download"
    with pytest.raises(UserError, match="sha256"):
        load_source("mnist", 28)
    assert calls and not any((tmp_path / "cache").glob("*"))


def test_corrupt_file_already_in_cache_is_a_user_error(tmp_path, fake_download):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "mnist.npz").write_bytes(b"truncated")
    with pytest.raises(UserError, match="delete it"):
        load_source("mnist", 28)


# --- large data: memory-mapped cache and on-demand decoding -------------------------------

def folder_of_colours(folder, count=5):
    rng = np.random.default_rng(2)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 20, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"broken")


def test_large_data_streams_from_a_reused_cache_with_identical_pixels(tmp_path, monkeypatch):
    folder_of_colours(tmp_path)
    in_memory = load_source(str(tmp_path), 8)
    monkeypatch.setattr(materialise, "MEMORY_LIMIT_BYTES", 0)
    cached = load_source(str(tmp_path), 8, cache_dir=tmp_path / "cache")
    grey = load_source(str(tmp_path), 8, channels=1, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # one per stored channel count
    monkeypatch.setattr("deepdeconv.data.folder.open_image", lambda *a, **k: pytest.fail("decoded again"))
    reused = load_source(str(tmp_path), 8, cache_dir=tmp_path / "cache")
    for source in (cached, reused):
        assert source.skipped == in_memory.skipped and source.num_images == 5
        np.testing.assert_array_equal(pixels_of(source)[0], pixels_of(in_memory)[0])
    monkeypatch.setattr(materialise, "MEMORY_LIMIT_BYTES", 1 << 30)
    monkeypatch.undo()
    np.testing.assert_array_equal(pixels_of(grey)[0], pixels_of(load_source(str(tmp_path), 8, channels=1))[0])


def test_large_data_without_cache_dir_decodes_on_demand_identically(tmp_path, monkeypatch):
    folder_of_colours(tmp_path)
    in_memory = load_source(str(tmp_path), 8)
    monkeypatch.setattr(materialise, "MEMORY_LIMIT_BYTES", 0)
    streamed = load_source(str(tmp_path), 8)
    assert streamed.skipped == in_memory.skipped
    np.testing.assert_array_equal(pixels_of(streamed)[0], pixels_of(in_memory)[0])
    batch = next(iter(training_batches(streamed, 4, seed=0)))[0]
    assert batch.shape == (4, 8, 8, 3)


# --- batches -------------------------------------------------------------------------------

def indexed_source(n):
    """A source whose image i is filled with the value i, so batches reveal their indices."""
    pixels = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 4, 4, 1)).copy()
    return ImageSource.from_arrays("indexed", pixels, labels=np.arange(n) % 3, class_names=("a", "b", "c"))


def batch_indices(dataset, count):
    return [to_uint8(images)[:, 0, 0, 0].tolist() for images, _ in dataset.take(count)]


def test_training_batches_are_deterministic_shapes_and_range():
    source = indexed_source(10)
    first = batch_indices(training_batches(source, 4, seed=7), 6)
    assert first == batch_indices(training_batches(source, 4, seed=7), 6)
    assert first != batch_indices(training_batches(source, 4, seed=8), 6)
    images, labels = next(iter(training_batches(load_source("digits", 8), 16, seed=0)))
    assert images.shape == (16, 8, 8, 1) and images.dtype == tf.float32 and labels.dtype == tf.int32
    assert -1.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0


def test_every_epoch_is_a_fresh_permutation():
    stream = sum(batch_indices(training_batches(indexed_source(10), 5, seed=0), 6), [])
    epochs = [stream[i:i + 10] for i in range(0, 30, 10)]
    assert all(sorted(epoch) == list(range(10)) for epoch in epochs)
    assert epochs[0] != epochs[1] and epochs[1] != epochs[2]


def test_labels_travel_with_their_images():
    for images, labels in training_batches(indexed_source(10), 4, seed=3).take(3):
        np.testing.assert_array_equal(to_uint8(images)[:, 0, 0, 0] % 3, labels.numpy())


@pytest.mark.parametrize("n, batch", [(10, 4), (7, 16)])  # epochs end mid-batch; data smaller than a batch
def test_start_step_continues_exactly_where_an_uninterrupted_run_would(n, batch):
    source = indexed_source(n)
    uninterrupted = batch_indices(training_batches(source, batch, seed=5), 9)
    for k in (1, 3, 5):
        assert batch_indices(training_batches(source, batch, seed=5, start_step=k), 9 - k) == uninterrupted[k:]


def test_training_batches_distribute_under_a_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    dataset = strategy.experimental_distribute_dataset(training_batches(indexed_source(10), 4, seed=0))
    images, labels = next(iter(dataset))
    assert images.shape == (4, 4, 4, 1) and labels.shape == (4,)


def test_real_uint8_batches_round_trip_and_limit():
    source = indexed_source(10)
    batches = list(real_uint8_batches(source, 4))
    assert [len(b) for b in batches] == [4, 4, 2] and batches[0].dtype == np.uint8
    np.testing.assert_array_equal(np.concatenate(batches)[:, 0, 0, 0], np.arange(10))
    assert [len(b) for b in real_uint8_batches(source, 4, limit=5)] == [4, 1]
