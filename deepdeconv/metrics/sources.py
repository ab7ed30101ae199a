"""Image streams for metrics: where uint8 batches come from and how a result names them.

Everything a metric sees is uint8 [B, R, R, C]: real images as decoded, generated images
quantised once by `pixels.to_uint8` exactly as if saved to PNG and read back.
"""
import dataclasses
import queue
import sys
import threading
from pathlib import Path
from typing import Callable, Iterator, Optional

import numpy as np
from PIL import Image

from deepdeconv.data import load_source, real_uint8_batches
from deepdeconv.fingerprint import source_key
from deepdeconv.errors import UserError
from deepdeconv.fileio import is_image_file
from deepdeconv.sampling import generate_from_seeds, is_conditional, num_classes_of
from deepdeconv.sampling.latents import class_of


@dataclasses.dataclass
class ImageStream:
    """A finite, repeatable sequence of uint8 image batches.

    Attributes:
        reference: JSON description recorded in every result ("which data was this").
        num_images: images the stream yields in total.
        batches: batch_size -> iterator of uint8 arrays [B, R, R, C].
        resolution: image side.
        channels: 1 or 3.
        cache_key: identifies exactly these images for the statistics cache; None: never cached.
        data_spec: the data spec behind the images (needed to train a classifier), or None.
        source: the ImageSource behind the images, or None.
    """

    reference: dict
    num_images: int
    batches: Callable[[int], Iterator[np.ndarray]]
    resolution: int
    channels: int
    cache_key: Optional[str] = None
    data_spec: Optional[str] = None
    source: object = None


def array_stream(images, reference=None, data_spec=None):
    """A stream over a uint8 array [N, R, R, C] held in memory."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] not in (1, 3):
        raise ValueError(f"images must be uint8 [N, R, R, 1 or 3], got {images.dtype} {images.shape}")

    def batches(batch_size):
        for start in range(0, len(images), batch_size):
            yield images[start:start + batch_size]

    return ImageStream(reference or {"array": list(images.shape)}, len(images), batches, images.shape[1],
                       images.shape[3], data_spec=data_spec)


def source_stream(source, spec=None, limit=None):
    """A stream over an `ImageSource` (real data), optionally capped at `limit` images.

    Args:
        source: a `deepdeconv.data.ImageSource`.
        spec: the data spec it was loaded from; enables the statistics cache and the
            classifier (an ImageSource alone does not say which folder it came from).
        limit: use only the first `limit` images.
    """
    n = source.num_images if limit is None else min(limit, source.num_images)
    reference = {"data": spec or source.name, "resolution": source.resolution, "channels": source.channels,
                 "num_images": n}
    if source.skipped:  # undecodable files (damaged, or larger than Pillow's MAX_IMAGE_PIXELS) are listed
        reference["skipped"] = [path for path, _ in source.skipped]
        print(f"warning: skipped {len(source.skipped)} image file(s) that could not be decoded, e.g. "
              f"{source.skipped[0][0]} ({source.skipped[0][1]}).", file=sys.stderr)
    key = None
    if spec is not None:
        key = f"{source_key(spec)}-{source.resolution}px-{source.channels}ch-n{n}"
    return ImageStream(reference, n, lambda batch_size: real_uint8_batches(source, batch_size, n),
                       source.resolution, source.channels, cache_key=key, data_spec=spec, source=source)


def data_stream(spec, resolution, channels=None, limit=None):
    """A stream over a data spec (folder, digits, mnist, fashion_mnist, cifar10) at a resolution."""
    return source_stream(load_source(str(spec), resolution, channels), spec=str(spec), limit=limit)


def generator_stream(generator, num_images, seed=0, description=None, num_classes=None):
    """Generated images for seeds `seed .. seed + num_images - 1`, quantised to uint8.

    Per-seed latents make the images the same as `sample.py grid --seeds` writes for those seeds.
    A conditional generator gets balanced labels (seed index mod number of classes), as the
    class-conditional IS/FID conventions assume.

    Args:
        generator: a Keras generator ([B, z_dim] -> [B, R, R, C] in [-1, 1], or [z, labels]).
        num_images: how many images.
        seed: first seed.
        description: what to record as the generator (e.g. the checkpoint path).
        num_classes: classes of a conditional generator (read from the model when None).
    """
    labels = None
    if is_conditional(generator):
        num_classes = num_classes or num_classes_of(generator)
        if not num_classes:
            raise UserError("Cannot tell how many classes the conditional generator has; pass num_classes.")
        labels = class_of(np.arange(num_images), num_classes)
    seeds = range(seed, seed + num_images)

    def batches(batch_size):
        for _, images in generate_from_seeds(generator, seeds, batch_size=batch_size, labels=labels):
            yield images

    shape = generator.outputs[0].shape
    reference = {"generator": description or generator.name, "seeds": f"{seed}-{seed + num_images - 1}"}
    if labels is not None:
        reference["labels"] = f"balanced over {num_classes} classes"
    return ImageStream(reference, num_images, batches, int(shape[1]), int(shape[3]))


def folder_resolution(folder):
    """Side of the first image in a folder, for comparing two folders at their own size."""
    for path in sorted(Path(folder).rglob("*")):
        if is_image_file(path):
            try:
                with Image.open(path) as im:
                    return max(im.size)
            except (OSError, ValueError, Image.DecompressionBombError):  # skipped here as the loader skips it
                continue
    raise UserError(f"{folder} contains no readable images.")


def prefetched(iterator, depth=2):
    """Runs `iterator` in a background thread, `depth` items ahead.

    Producing a batch (decoding files, running the generator) and consuming it (the feature
    network) then overlap: both release the GIL in TensorFlow/numpy kernels.
    """
    items = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def put(item):
        # Gives up when the consumer has gone away, so the thread never blocks forever.
        while not stop.is_set():
            try:
                items.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in iterator:
                if not put(item):
                    return
            put(done)
        except BaseException as e:  # re-raised in the consumer's thread
            put(e)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while True:
            item = items.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
