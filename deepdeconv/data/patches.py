"""Random training patches from whole images of any size, resumable at any step.

Public API:
    patch_batches(images, patch, batch, seed, start_step=0) -> tf.data.Dataset
        endless float32 batches [B, patch, patch, C] in [-1, 1] of clean patches.
    restoration_batches(images, config, start_step=0) -> tf.data.Dataset
        endless (inputs, target) batches for `config.task`, degraded by `degrade.degrade`.
    batch_seed(seed, step, salt) -> int64 [2]: the stateless seed of one step's draws.

Every image is stored once in a flat uint8 tensor (offsets and shapes beside it), and the
batch of step s is drawn with stateless ops from `batch_seed(seed, s)` alone, so
`Dataset.range(start_step, ...)` resumes exactly: step s's batch is the same whether or not
the run was interrupted, and reaching it costs nothing. Each patch is a uniform draw over
every patch position of every image, so images contribute in proportion to their area
(positions) and every pixel of a large photo is as likely as one of a small photo. Each
patch then gets one of the 8 flips/90-degree rotations, applied as index arithmetic while
gathering.

The pipeline yields the global batch; under tf.distribute Keras splits it over the replicas
(contiguous blocks), so N replicas see what one device sees. Workers of a multi-worker run
compute the same stream and keep their shard (AutoShardPolicy.DATA), as the GAN pipeline does.
"""
import numpy as np
import tensorflow as tf

from deepdeconv.pixels import from_uint8

_FOREVER = 2 ** 62  # Dataset.range needs an end
PATCH_SALT = 1  # distinct streams for the patch draws and the degradation draws of a step
DEGRADE_SALT = 2


def batch_seed(seed, step, salt):
    """The stateless seed [2] (int64) of the draws of `step`, one stream per `salt`."""
    base = tf.stack([tf.cast(seed, tf.int64), tf.cast(step, tf.int64)])
    return tf.random.experimental.stateless_fold_in(base, salt, alg="philox")


class _FlatImages:
    """Images of different sizes packed into one flat uint8 tensor, with index arithmetic."""

    def __init__(self, images, patch):
        sizes = np.array([im.size for im in images], np.int64)
        self.offsets = tf.constant(np.concatenate([[0], np.cumsum(sizes)[:-1]]), tf.int64)
        self.heights = tf.constant([im.shape[0] for im in images], tf.int64)
        self.widths = tf.constant([im.shape[1] for im in images], tf.int64)
        self.channels = int(images[0].shape[2])
        positions = np.array([(im.shape[0] - patch + 1) * (im.shape[1] - patch + 1) for im in images], np.int64)
        self.cum_positions = tf.constant(np.cumsum(positions), tf.int64)
        self.total_positions = int(positions.sum())
        # One CPU copy for the pipeline; init_scope keeps it eager when built inside a function.
        with tf.init_scope(), tf.device("/cpu:0"):
            self.pixels = tf.constant(np.concatenate([im.reshape(-1) for im in images]))


def _sample(flat, patch, batch, seed):
    """uint8 patches [B, P, P, C] for one stateless seed."""
    s_pos, s_dihedral = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    position = tf.random.stateless_uniform([batch], s_pos, minval=0, maxval=flat.total_positions, dtype=tf.int64)
    image = tf.searchsorted(flat.cum_positions, position, side="right")
    start = tf.gather(tf.concat([[0], flat.cum_positions], 0), image)
    width = tf.gather(flat.widths, image)
    y0, x0 = tf.math.floordiv(position - start, width - patch + 1), tf.math.floormod(position - start,
                                                                                     width - patch + 1)
    # Output pixel (i, j) reads source (a, b) of the patch: transpose, then flip each axis.
    dihedral = tf.random.stateless_uniform([batch], s_dihedral, minval=0, maxval=8, dtype=tf.int64)
    transpose, flip_v, flip_h = [tf.reshape(tf.bitwise.bitwise_and(tf.bitwise.right_shift(dihedral, k), 1) > 0,
                                            [batch, 1, 1]) for k in (0, 1, 2)]
    i = tf.range(patch, dtype=tf.int64)[None, :, None]
    j = tf.range(patch, dtype=tf.int64)[None, None, :]
    a, b = tf.where(transpose, j, i), tf.where(transpose, i, j)
    a, b = tf.where(flip_v, patch - 1 - a, a), tf.where(flip_h, patch - 1 - b, b)
    c = flat.channels
    rows = y0[:, None, None] + a
    cols = x0[:, None, None] + b
    pixel = tf.gather(flat.offsets, image)[:, None, None] + (rows * width[:, None, None] + cols) * c
    index = pixel[..., None] + tf.range(c, dtype=tf.int64)
    return tf.gather(flat.pixels, index)


def patch_batches(images, patch, batch, seed, start_step=0) -> tf.data.Dataset:
    """Endless batches of clean patches, float32 [B, patch, patch, C] in [-1, 1].

    Args:
        images: a `FullImages`, or a sequence of uint8 arrays [H, W, C] (equal C), each at
            least `patch` on a side.
        patch: patch side in pixels.
        batch: global batch size B.
        seed: the run's seed.
        start_step: the step whose batch comes first (a resumed run's step).

    Returns:
        A tf.data.Dataset, prefetched, with no Python in the pipeline.
    """
    sample = _sampler(images, patch, batch, seed)
    return _finish(tf.data.Dataset.range(start_step, _FOREVER).map(sample, num_parallel_calls=tf.data.AUTOTUNE,
                                                                    deterministic=True))


def _sampler(images, patch, batch, seed):
    """step -> float32 clean patches [B, P, P, C] of that step."""
    arrays = [np.asarray(im, np.uint8) for im in getattr(images, "images", images)]
    arrays = [im[..., None] if im.ndim == 2 else im for im in arrays]
    if not arrays or any(min(im.shape[:2]) < patch for im in arrays) or len({im.shape[2] for im in arrays}) != 1:
        raise ValueError("images must be non-empty uint8 arrays, all at least `patch` on a side, "
                         "with one channel count")
    flat = _FlatImages(arrays, patch)

    def sample(step):
        return from_uint8(_sample(flat, patch, batch, batch_seed(seed, step, PATCH_SALT)))

    return sample


def restoration_batches(images, config, start_step=0) -> tf.data.Dataset:
    """Endless (inputs, target) batches of `config.task`, degraded inside the pipeline.

    The clean patches of step s are degraded with `batch_seed(config.seed, s, DEGRADE_SALT)`,
    on the global batch (so the draws do not depend on the number of replicas), on the host
    CPU (JPEG re-encoding only runs there).

    Args:
        images: as for `patch_batches`.
        config: a TrainConfig with a restoration task.
        start_step: the step whose batch comes first.

    Returns:
        Dataset of (inputs [B, h, w, C'], target [B, P, P, C]); see `degrade.degrade`.
    """
    # Imported here: degrade imports this module's batch_seed.
    from deepdeconv.data.degrade import degrade

    sample = _sampler(images, config.restore.patch, config.batch, config.seed)

    def pair(step):
        return degrade(sample(step), config.restore, config.task, batch_seed(config.seed, step, DEGRADE_SALT))

    steps = tf.data.Dataset.range(start_step, _FOREVER)
    return _finish(steps.map(pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True))


def _finish(dataset):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)
