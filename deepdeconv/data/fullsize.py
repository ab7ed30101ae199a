"""Whole images at full resolution for restoration: a folder, or the built-in `photos`.

Public API:
    FullImages: name, images (tuple of uint8 [H, W, C] arrays), paths, channels, skipped.
    load_full_images(spec, channels=None, min_side=1, option="--data", split="all") -> FullImages
    RestorationSource: (train, val) FullImages of a restoration run, described as a data source.
    restoration_data(data, val="", channels=None, patch=64, val_count=4) -> RestorationSource

Unlike the GAN sources nothing is resized or cropped: a restorer learns from the pixels as the
camera recorded them. Decoding goes through `decode.open_image` (any PIL mode, 16-bit, CMYK,
alpha, EXIF orientation); a file PIL cannot decode, or one whose header announces more than
`PIL.Image.MAX_IMAGE_PIXELS` pixels (a decompression bomb), is skipped and listed in
`skipped`. Channels: 1 when every image is grey (or `channels=1`: luma), else 3.
"""
import concurrent.futures
import dataclasses
import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from deepdeconv.data.decode import is_grey, open_image, to_channels
from deepdeconv.data.folder import IMAGE_SUFFIXES, find_images
from deepdeconv.data.materialise import MEMORY_LIMIT_BYTES
from deepdeconv.data.photos import photo_paths
from deepdeconv.errors import UserError

PHOTOS = "photos"
_MIN_VAL_SIDE = 16  # the smallest --patch: below it a whole-image validation says little (SSIM needs 11)


@dataclasses.dataclass(frozen=True)
class FullImages:
    """Decoded whole images of one data set.

    Attributes:
        name: "photos" or the folder's basename.
        images: tuple of uint8 arrays [H, W, channels], sizes differ.
        paths: the file of each image.
        channels: 1 or 3.
        skipped: ((path, reason), ...) for files not used (undecodable, too large, too small).
    """

    name: str
    images: tuple
    paths: tuple
    channels: int
    skipped: tuple = ()

    @property
    def num_pixels(self) -> int:
        """Total pixel positions (H x W summed over images)."""
        return sum(int(im.shape[0]) * int(im.shape[1]) for im in self.images)


class RestorationSource(NamedTuple):
    """The training and validation images of a restoration run, described as `training` reports data.

    Attributes:
        train: the images patches are drawn from.
        val: the held-out images restored whole at each validation.
    """

    train: FullImages
    val: FullImages

    @property
    def name(self):
        return self.train.name

    @property
    def channels(self):
        return self.train.channels

    @property
    def num_images(self):
        return len(self.train.images)

    @property
    def class_names(self):
        return ()

    @property
    def skipped(self):
        return tuple(self.train.skipped) + tuple(self.val.skipped)


def _open_checked(path):
    """open_image, refusing a file whose header claims more pixels than PIL's bomb limit."""
    with Image.open(path) as im:
        w, h = im.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit and w * h > limit:
        raise ValueError(f"{w}x{h} pixels exceeds PIL's decompression-bomb limit of {limit}")
    return np.asarray(open_image(path), dtype=np.uint8)


def _decode(paths, desc):
    """Decodes every path in threads (PIL releases the GIL); returns ({index: array}, failures)."""
    decoded, failures = {}, []

    def work(i):
        try:
            return i, _open_checked(paths[i]), None
        except Exception as e:  # any decoder failure means "skip this file", never "stop"
            return i, None, str(e) or type(e).__name__

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        with tqdm(total=len(paths), desc=desc, unit="img", dynamic_ncols=True) as bar:
            for i, pixels, reason in pool.map(work, range(len(paths))):
                if reason is None:
                    decoded[i] = pixels
                else:
                    failures.append((str(paths[i]), reason))
                    bar.set_postfix(skipped=len(failures), refresh=False)
                bar.update(1)
    return decoded, failures


def load_full_images(spec, channels=None, min_side=1, option="--data", split="all") -> FullImages:
    """Loads every image of a folder (recursively) or of `photos` at full resolution.

    Args:
        spec: a folder path, or "photos" (the built-in photographs, see `data.photos`); the
            name wins over a folder called photos, which `./photos` names.
        channels: 1 or 3 to force (1 takes luma, 3 repeats grey); None: 1 if all are grey.
        min_side: images whose shorter side is below this are skipped and listed (the
            training patch size, typically).
        option: the command-line flag to name in errors ("--data" or "--val").
        split: for "photos", which split ("train", "val" or "all"); ignored for folders.

    Raises:
        UserError: no such folder, no image in it, none decodes, all too small, or the
            images do not fit in memory.
    """
    if channels not in (None, 1, 3):
        raise UserError(f"--channels must be 1 or 3, got {channels}.")
    if spec == PHOTOS:
        paths, name = photo_paths(split), PHOTOS
    else:
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise UserError(f"{option} {spec}: no such folder"
                            f"{'' if folder.exists() else ', and not the built-in photos'}.")
        paths, name = find_images(folder), folder.resolve().name or "data"
        if not paths:
            raise UserError(f"{option} folder {folder} contains no images ({', '.join(IMAGE_SUFFIXES)}).")
    decoded, skipped = _decode(paths, f"Decoding {name}")
    if not decoded:
        raise UserError(f"None of the {len(paths)} image files in {option} {spec} could be decoded "
                        f"(for example {skipped[0][0]}: {skipped[0][1]}).")
    small = [i for i, im in decoded.items() if min(im.shape[:2]) < min_side]
    if len(small) == len(decoded):
        i = small[0]
        raise UserError(f"Every image in {option} {spec} is smaller than {min_side} pixels on a side "
                        f"(for example {paths[i]}: {decoded[i].shape[1]}x{decoded[i].shape[0]}); "
                        "use larger images or a smaller --patch.")
    skipped += [(str(paths[i]), f"smaller than {min_side} pixels on a side") for i in small]
    keep = sorted(set(decoded) - set(small))
    images = [decoded[i] if decoded[i].ndim == 3 else decoded[i][..., None] for i in keep]
    channels = channels or (1 if all(is_grey(im) for im in images) else 3)
    images = tuple(np.ascontiguousarray(to_channels(im, channels)) for im in images)
    total = sum(im.nbytes for im in images)
    if total > MEMORY_LIMIT_BYTES:
        raise UserError(f"The images in {option} {spec} hold {total / 2**30:.1f} GiB of pixels, more than the "
                        f"{MEMORY_LIMIT_BYTES / 2**30:.0f} GiB a restoration run keeps in memory; use fewer or "
                        "smaller images.")
    return FullImages(name=name, images=images, paths=tuple(str(paths[i]) for i in keep), channels=channels,
                      skipped=tuple(skipped))


def held_out_indices(count, val_count):
    """The fixed validation slice of `count` images: `val_count` evenly spaced indices.

    At most half the images are held out, and at least one is always left to train on;
    evenly spaced (not the last few) because files named in shooting order put similar
    pictures next to each other.
    """
    k = max(1, min(val_count, count // 2))
    return sorted({int((j + 0.5) * count / k) for j in range(k)})


def _subset(full, indices, suffix):
    return dataclasses.replace(full, name=f"{full.name}{suffix}", images=tuple(full.images[i] for i in indices),
                               paths=tuple(full.paths[i] for i in indices))


def restoration_data(data, val="", channels=None, patch=64, val_count=4):
    """The training and validation images of a restoration run.

    Validation images come from `val` (a folder, or "photos" for the held-out photos) when
    given; else, for `data="photos"`, from its held-out split; else from a fixed slice of
    `data` (`held_out_indices`), which is then not trained on. Validation images are restored
    whole, so only those smaller than 16 pixels are skipped; training images must be at
    least `patch` on a side.

    Args:
        data: a folder or "photos".
        val: a folder, "photos", or "" for the default above.
        channels: 1, 3 or None (auto, decided on the training images; the validation images
            are brought to the same count).
        patch: side of the training patches.
        val_count: images in the default validation slice, and at most this many are kept
            from a `val` folder.

    Returns:
        RestorationSource(train, val), FullImages with equal `channels`.

    Raises:
        UserError: see `load_full_images`; also a folder of one image with no `val`.
    """
    if data == PHOTOS and not val:
        train = load_full_images(PHOTOS, channels, patch, split="train")
        held = load_full_images(PHOTOS, train.channels, _MIN_VAL_SIDE, option="--val", split="val")
        return RestorationSource(train, _subset(held, range(min(val_count, len(held.images))), ""))
    if val:
        train = load_full_images(data, channels, patch, split="train" if data == PHOTOS else "all")
        held = load_full_images(val, train.channels, _MIN_VAL_SIDE, option="--val", split="val")
        return RestorationSource(train, _subset(held, range(min(val_count, len(held.images))), ""))
    full = load_full_images(data, channels, _MIN_VAL_SIDE)
    if len(full.images) < 2:
        raise UserError(f"--data {data} holds one usable image; validation needs another: add images or "
                        "give a --val folder.")
    held = held_out_indices(len(full.images), val_count)
    rest = [i for i in range(len(full.images)) if i not in held]
    small = [i for i in rest if min(full.images[i].shape[:2]) < patch]
    if len(small) == len(rest):
        raise UserError(f"Every training image in --data {data} is smaller than --patch {patch} pixels on a side; "
                        "use larger images or a smaller --patch.")
    train = _subset(full, [i for i in rest if i not in small], "")
    train = dataclasses.replace(train, skipped=full.skipped + tuple(
        (full.paths[i], f"smaller than {patch} pixels on a side") for i in small))
    return RestorationSource(train, _subset(full, held, "-val"))
