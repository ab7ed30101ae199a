"""Restoration data: built-in photos, full-resolution loading, resumable random patches."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deepdeconv.config import TrainConfig
from deepdeconv.data.fullsize import held_out_indices, load_full_images, restoration_data
from deepdeconv.data.patches import patch_batches, restoration_batches
from deepdeconv.data.photos import PHOTOS, photo_paths
from deepdeconv.errors import UserError
from deepdeconv.pixels import to_uint8


def _take(dataset, n):
    return [to_uint8(b.numpy()) for b in dataset.take(n)]


def _dihedral(patch):
    """The 8 flips/rotations of a [P, P, C] patch."""
    out = []
    for k in range(4):
        r = np.rot90(patch, k)
        out += [r, r[:, ::-1]]
    return out


def _random_images(sizes, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, channels), dtype=np.uint8) for h, w in sizes]


def test_photos_split_is_disjoint_and_every_file_exists():
    train, val = photo_paths("train"), photo_paths("val")
    assert train and val and not set(train) & set(val)
    assert set(train) | set(val) == set(photo_paths("all"))
    assert all(p.is_file() for p in photo_paths("all"))
    assert len({p.name for p in PHOTOS}) == len(PHOTOS)
    stereo = {p.split for p in PHOTOS if p.name.startswith("motorcycle")}
    assert stereo == {"train"}  # near-duplicate pair on one side of the split


def test_photos_load_at_full_resolution_with_the_held_out_split_for_validation():
    train, val = restoration_data("photos", patch=64, val_count=4)
    assert len(train.images) == len(photo_paths("train")) and train.channels == 3 == val.channels
    assert val.paths == tuple(str(p) for p in photo_paths("val"))
    sizes = {Image.open(p).size[::-1] for p in photo_paths("train")}
    assert {im.shape[:2] for im in train.images} == sizes


def test_patches_are_deterministic_for_a_step_and_exact_on_resume():
    images = _random_images([(40, 50), (33, 70)], 3)
    whole = _take(patch_batches(images, 16, 4, seed=7), 6)
    again = _take(patch_batches(images, 16, 4, seed=7), 6)
    resumed = _take(patch_batches(images, 16, 4, seed=7, start_step=3), 3)
    for a, b in zip(whole, again):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(whole[3:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(whole[0], whole[1])
    assert not np.array_equal(whole[0], _take(patch_batches(images, 16, 4, seed=8), 1)[0])


def test_every_patch_is_a_flipped_or_rotated_crop_of_an_image():
    images = _random_images([(20, 24), (17, 30)], 2, seed=1)
    batch = _take(patch_batches(images, 8, 16, seed=0), 1)[0]
    crops = [im[y:y + 8, x:x + 8] for im in images for y in range(im.shape[0] - 7) for x in range(im.shape[1] - 7)]
    crops = {c.tobytes() for crop in crops for c in map(np.ascontiguousarray, _dihedral(crop))}
    assert all(np.ascontiguousarray(p).tobytes() in crops for p in batch)


def test_all_eight_flips_and_rotations_happen():
    image = np.arange(64, dtype=np.uint8).reshape(8, 8, 1)  # one position only: the patch is the image
    variants = [v.tobytes() for v in map(np.ascontiguousarray, _dihedral(image))]
    seen = {variants.index(np.ascontiguousarray(p).tobytes()) for b in _take(patch_batches([image], 8, 32, 0), 4)
            for p in b}
    assert seen == set(range(8))


def test_patches_come_from_every_image_in_proportion_to_their_positions():
    sizes = [(16, 16), (16, 40), (30, 30), (20, 16)]
    images = [np.full((h, w, 1), 10 * (i + 1), np.uint8) for i, (h, w) in enumerate(sizes)]
    values = np.concatenate([b[:, 0, 0, 0] for b in _take(patch_batches(images, 16, 256, 3), 8)])
    counts = np.array([(values == 10 * (i + 1)).sum() for i in range(4)])
    positions = np.array([(h - 15) * (w - 15) for h, w in sizes])
    assert (counts > 0).all()
    np.testing.assert_allclose(counts / counts.sum(), positions / positions.sum(), atol=0.03)


def test_restoration_batches_pair_degraded_inputs_with_clean_targets():
    images = _random_images([(64, 64), (48, 80)], 3)
    config = TrainConfig(task="sr", batch=4, restore={"scale": 4, "patch": 32, "depth": 1}).validate()
    inputs, target = next(iter(restoration_batches(images, config)))
    assert inputs.shape == (4, 8, 8, 3) and target.shape == (4, 32, 32, 3)
    config = TrainConfig(task="denoise", batch=4, restore={"patch": 32, "noise": "0-50"}).validate()
    (a, t1), (b, t2) = list(restoration_batches(images, config, start_step=2).take(2))
    (c, t3), = list(restoration_batches(images, config, start_step=3).take(1))
    np.testing.assert_array_equal(b.numpy(), c.numpy())  # the noise resumes exactly too
    np.testing.assert_array_equal(t2.numpy(), t3.numpy())
    assert not np.array_equal(a.numpy(), t1.numpy())


def test_global_batch_splits_over_replicas_as_contiguous_blocks():
    images = _random_images([(40, 40)], 1)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    dataset = patch_batches(images, 16, 4, seed=0)
    per_replica = next(iter(strategy.experimental_distribute_dataset(dataset)))
    parts = strategy.experimental_local_results(per_replica)
    np.testing.assert_array_equal(np.concatenate([p.numpy() for p in parts]), next(iter(dataset)).numpy())


def _save(folder, name, array, mode=None):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path)
    return path


def test_folder_images_load_whole_in_any_mode_and_grey_means_one_channel(tmp_path):
    _save(tmp_path, "a.png", np.full((40, 50), 7, np.uint8))
    sixteen = np.arange(60 * 45, dtype=np.uint16).reshape(60, 45) * 20
    _save(tmp_path, "sub/b.png", sixteen)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    full = load_full_images(str(tmp_path), min_side=32)
    assert full.channels == 1 and [im.shape for im in full.images] == [(40, 50, 1), (60, 45, 1)]
    np.testing.assert_array_equal(full.images[1][..., 0], np.rint(sixteen / 257.0))  # scaled, not clipped
    assert [p for p, _ in full.skipped] == [str(tmp_path / "broken.jpg")]
    _save(tmp_path, "c.png", np.array(np.zeros((40, 40, 3)) + [255, 0, 0], np.uint8))
    assert load_full_images(str(tmp_path), min_side=32).channels == 3


def test_images_smaller_than_the_patch_are_skipped_and_listed_or_refused(tmp_path):
    _save(tmp_path, "small.png", np.zeros((20, 100), np.uint8))
    with pytest.raises(UserError, match="smaller than 32 pixels"):
        load_full_images(str(tmp_path), min_side=32)
    _save(tmp_path, "big.png", np.zeros((40, 40), np.uint8))
    full = load_full_images(str(tmp_path), min_side=32)
    assert len(full.images) == 1 and full.skipped[0][0].endswith("small.png")


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_decompression_bombs_are_skipped(tmp_path, monkeypatch):
    _save(tmp_path, "huge.png", np.zeros((100, 100), np.uint8))
    _save(tmp_path, "fine.png", np.zeros((40, 40), np.uint8))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)
    full = load_full_images(str(tmp_path))
    assert len(full.images) == 1 and "decompression-bomb" in full.skipped[0][1]


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "contains no images"),
    (lambda d: (d / "x.png").write_bytes(b"junk"), "could be decoded"),
])
def test_bad_folders_are_one_sentence_user_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(UserError, match=message):
        load_full_images(str(tmp_path))
    with pytest.raises(UserError, match="no such folder"):
        load_full_images(str(tmp_path / "missing"), option="--val")


def test_default_validation_slice_is_held_out_and_evenly_spaced(tmp_path):
    for i in range(9):
        _save(tmp_path, f"{i}.png", np.full((40, 40), i, np.uint8))
    assert held_out_indices(9, 4) == [1, 3, 5, 7] and held_out_indices(3, 4) == [1]
    train, val = restoration_data(str(tmp_path), patch=32, val_count=4)
    assert [int(im[0, 0, 0]) for im in val.images] == [1, 3, 5, 7]
    assert [int(im[0, 0, 0]) for im in train.images] == [0, 2, 4, 6, 8]
    single = tmp_path / "one"
    _save(single, "only.png", np.zeros((40, 40), np.uint8))
    with pytest.raises(UserError, match="--val"):
        restoration_data(str(single), patch=32)


def test_val_folder_takes_the_training_images_channel_count(tmp_path):
    _save(tmp_path / "train", "a.png", np.zeros((40, 40), np.uint8))
    _save(tmp_path / "val", "b.png", np.array(np.zeros((20, 30, 3)) + [0, 255, 0], np.uint8))
    train, val = restoration_data(str(tmp_path / "train"), val=str(tmp_path / "val"), patch=32)
    assert train.channels == val.channels == 1 and val.images[0].shape == (20, 30, 1)
