"""ImageSource: decoded images of one data set, and how tf.data reads them by index.

Reading by index (rather than iterating a file list) is what lets `training_batches` start
at any step in O(1) and lets every backend share one pipeline. Two backends exist:

- `ArrayStore`: a uint8 array in memory, read with `tf.gather` (no Python in the pipeline);
- `FunctionStore`: a numpy function of the indices, for data too large for memory (a
  memory-mapped cache file, or decoding on demand).
"""
import dataclasses

import numpy as np
import tensorflow as tf

from deepdeconv.pixels import from_uint8

_READ_CHUNK = 256  # images per read in `images()`: amortises per-call overhead, bounds memory


class ArrayStore:
    """Pixels held in memory as one uint8 array [N, R, R, C]."""

    def __init__(self, pixels):
        self.pixels = pixels
        self._tensor = None

    def gather(self, indices):
        """uint8 images at `indices` (1-D int tensor), as a tensor [k, R, R, C]."""
        if self._tensor is None:
            # One CPU copy shared by every pipeline built from this source; init_scope keeps it
            # eager even if the first pipeline is built inside a tf.function.
            with tf.init_scope(), tf.device("/cpu:0"):
                self._tensor = tf.constant(self.pixels)
        return tf.gather(self._tensor, indices)


class FunctionStore:
    """Pixels produced by `read(indices) -> uint8 [k, R, R, C]`, a numpy function."""

    def __init__(self, read, resolution, channels):
        self._read = read
        self._shape = [resolution, resolution, channels]

    def gather(self, indices):
        """uint8 images at `indices` (1-D int tensor), as a tensor [k, R, R, C]."""
        images = tf.numpy_function(self._read, [indices], tf.uint8, stateful=False)
        images.set_shape(indices.shape.concatenate(self._shape))
        return images


@dataclasses.dataclass(frozen=True)
class ImageSource:
    """The images of one data set at one resolution, decoded and checked.

    Attributes:
        name: "digits", "mnist", ... or the folder's basename.
        resolution: side of every image in pixels.
        channels: 1 (grey) or 3 (RGB).
        num_images: number of usable images.
        class_names: one name per label value, or () when the data is unlabelled.
        skipped: ((path, reason), ...) for files that could not be decoded.
    """

    name: str
    resolution: int
    channels: int
    num_images: int
    class_names: tuple
    skipped: tuple
    _store: object = dataclasses.field(default=None, repr=False, compare=False)
    _labels: np.ndarray = dataclasses.field(default=None, repr=False, compare=False)

    @classmethod
    def from_arrays(cls, name, pixels, labels=None, class_names=(), skipped=()):
        """Wraps uint8 images already at their final size (handy for tests and callers).

        Args:
            name: source name.
            pixels: uint8 array [N, R, R, C] with C in (1, 3).
            labels: int array [N]; zeros when None.
            class_names: names of the label values, or ().
            skipped: ((path, reason), ...) to report.
        """
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[1] != pixels.shape[2] \
                or pixels.shape[3] not in (1, 3) or len(pixels) == 0:
            raise ValueError(f"pixels must be non-empty uint8 [N, R, R, 1 or 3], got {pixels.dtype} {pixels.shape}")
        source = cls(name=name, resolution=pixels.shape[1], channels=pixels.shape[3], num_images=len(pixels),
                     class_names=tuple(class_names), skipped=tuple(skipped), _store=ArrayStore(pixels))
        return source.with_labels(np.zeros(len(pixels)) if labels is None else labels)

    def with_labels(self, labels):
        """The same images with other int labels [N] (class names unchanged)."""
        labels = np.asarray(labels, np.int32)
        if labels.shape != (self.num_images,):
            raise ValueError(f"labels must have shape ({self.num_images},), got {labels.shape}")
        return dataclasses.replace(self, _labels=labels)

    def label_shares(self, count):
        """Each label value's share of the images, for the values 0..count-1."""
        return tuple(float(f) for f in np.bincount(self._labels, minlength=count)[:count] / self.num_images)

    def gather(self, indices):
        """uint8 images [k, R, R, C] and int32 labels [k] at `indices`, for tf.data map functions."""
        return self._store.gather(indices), tf.gather(tf.constant(self._labels), indices)

    def gather_float(self, indices):
        """Like `gather`, with the images mapped to float32 in [-1, 1]."""
        images, labels = self.gather(indices)
        return from_uint8(images), labels

    def images(self) -> tf.data.Dataset:
        """Every image once, in a fixed order: (float32 [R, R, C] in [-1, 1], int32 label)."""
        ds = tf.data.Dataset.range(self.num_images).batch(_READ_CHUNK)
        ds = ds.map(self.gather_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.unbatch()
