"""Batches from an ImageSource: shuffled and endless for training, in order for metrics."""
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf

from deepdeconv.data.source import ImageSource
from deepdeconv.pixels import to_uint8

_EPOCH_LIMIT = 2 ** 62  # "forever": Dataset.range needs an end


def epoch_order(num_images, seed, epoch):
    """The image order of one epoch: a permutation of 0..N-1 that depends only on (seed, epoch).

    Stateless, so any epoch can be computed without the ones before it: this is what makes
    resuming at any step cheap. (Philox on the host CPU, where tf.data runs, whatever the
    accelerator.)
    """
    seed_pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
    return tf.random.experimental.stateless_shuffle(tf.range(num_images, dtype=tf.int64), seed=seed_pair,
                                                    alg="philox")


def training_batches(source: ImageSource, batch_size: int, seed: int, start_step: int = 0) -> tf.data.Dataset:
    """Endless shuffled batches: (float32 images [B, R, R, C] in [-1, 1], int32 labels [B]).

    The batches cut through one long stream of indices, epoch after epoch, each epoch a fresh
    permutation (`epoch_order`); so every image appears once per epoch, and a data set
    smaller than the batch still works. Batch k therefore holds stream positions
    k*B .. k*B+B-1, and `start_step=k` starts exactly there: a resumed run sees the same
    batches as an uninterrupted one, and getting there costs one permutation, not k batches.

    The result is a plain tf.data pipeline (no Python generator), so Keras can distribute it
    under any tf.distribute strategy.

    Args:
        source: the images.
        batch_size: global batch size B.
        seed: data-order seed.
        start_step: number of batches an earlier run already consumed.
    """
    num_images = source.num_images
    first_epoch, offset = divmod(start_step * batch_size, num_images)

    def epoch_indices(epoch):
        start = tf.where(epoch == first_epoch, tf.constant(offset, tf.int64), tf.constant(0, tf.int64))
        return epoch_order(num_images, seed, epoch)[start:]  # only the first epoch starts part-way

    indices = tf.data.Dataset.range(first_epoch, _EPOCH_LIMIT).map(epoch_indices)
    batches = indices.unbatch().batch(batch_size, drop_remainder=True)
    batches = batches.map(source.gather_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    # Each worker computes the same index stream and keeps its share of the batches.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return batches.with_options(options).prefetch(tf.data.AUTOTUNE)


def real_uint8_batches(source: ImageSource, batch_size: int, limit: Optional[int] = None) -> Iterator[np.ndarray]:
    """The real images in their fixed order as uint8 numpy batches [B, R, R, C], for metrics.

    The last batch may be smaller: every image (up to `limit`) is used.

    Args:
        source: the images.
        batch_size: images per batch.
        limit: stop after this many images (None: all).
    """
    images = source.images()
    if limit is not None:
        images = images.take(limit)
    for batch, _ in images.batch(batch_size).prefetch(tf.data.AUTOTUNE):
        yield to_uint8(batch.numpy())
