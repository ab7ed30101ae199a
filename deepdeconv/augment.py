"""DiffAugment (Zhao et al. 2020): differentiable augmentation for data-efficient GANs.

The same random transformations are applied to real and generated images before the
discriminator, and gradients flow through them to the generator, so the discriminator
cannot memorise a small training set and the generator is not taught the augmentations.

Randomness is stateless: every draw comes from an explicit seed, so a run is reproducible
and a resumed run draws exactly what an uninterrupted one would.
"""
import tensorflow as tf


class StatelessRandom:
    """Draws per-example random numbers from a seed, the same on one replica or many.

    Each draw is made for the global batch and the replica keeps its own slice, so a run on
    N replicas sees the same numbers as a run on one device with the same global batch.
    """

    def __init__(self, seed, replica_id=0, num_replicas=1):
        self._seed = tf.cast(seed, tf.int64)
        self._replica_id = replica_id
        self._num_replicas = num_replicas
        self._count = 0

    def _next_seed(self):
        self._count += 1
        return tf.stack([self._seed[0], self._seed[1] * 1000 + self._count])

    def _slice(self, draw, batch, shape):
        full = draw([batch * self._num_replicas, *shape], seed=self._next_seed())
        return full[self._replica_id * batch:(self._replica_id + 1) * batch]

    def uniform(self, batch, shape=(), dtype=tf.float32):
        """U(0, 1) of shape [batch, *shape] for this replica."""
        return tf.cast(self._slice(tf.random.stateless_uniform, batch, shape), dtype)

    def normal(self, batch, shape=(), dtype=tf.float32):
        """N(0, 1) of shape [batch, *shape] for this replica."""
        return tf.cast(self._slice(tf.random.stateless_normal, batch, shape), dtype)


def color(x, rng):
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    b = tf.shape(x)[0]
    x = x + (rng.uniform(b, (1, 1, 1), x.dtype) - 0.5)
    if x.shape[-1] == 3:
        mean = tf.reduce_mean(x, axis=3, keepdims=True)
        x = (x - mean) * (rng.uniform(b, (1, 1, 1), x.dtype) * 2.0) + mean
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    return (x - mean) * (rng.uniform(b, (1, 1, 1), x.dtype) + 0.5) + mean


def _shift_axis(x, shift, axis):
    """Shifts each image of x by its own integer `shift` along `axis` (1 or 2), zero-filling."""
    size = tf.shape(x)[axis]
    index = tf.range(size)[tf.newaxis, :] - shift[:, tf.newaxis]  # [B, size]
    valid = (index >= 0) & (index < size)
    moved = tf.gather(x, tf.clip_by_value(index, 0, size - 1), axis=axis, batch_dims=1)
    mask_shape = [-1, size, 1, 1] if axis == 1 else [-1, 1, size, 1]
    return moved * tf.cast(tf.reshape(valid, mask_shape), x.dtype)


def translation(x, rng, ratio=0.125):
    """Random translation by up to `ratio` of the image size, filling with zeros (grey)."""
    b = tf.shape(x)[0]
    for axis in (1, 2):
        limit = int(x.shape[axis] * ratio + 0.5)
        shift = tf.cast(tf.floor(rng.uniform(b) * (2 * limit + 1)), tf.int32) - limit
        x = _shift_axis(x, shift, axis)
    return x


def cutout(x, rng, ratio=0.5):
    """Zeroes a random square of `ratio` x the image size per image (DeVries & Taylor 2017)."""
    b = tf.shape(x)[0]
    h, w = x.shape[1], x.shape[2]
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = tf.floor(rng.uniform(b) * (h + 1 - ch % 2))
    cx = tf.floor(rng.uniform(b) * (w + 1 - cw % 2))
    ys = tf.range(h, dtype=tf.float32)[tf.newaxis, :]
    xs = tf.range(w, dtype=tf.float32)[tf.newaxis, :]
    inside_y = tf.abs(ys - cy[:, tf.newaxis] + 0.5) < ch / 2  # [B, H]
    inside_x = tf.abs(xs - cx[:, tf.newaxis] + 0.5) < cw / 2  # [B, W]
    inside = inside_y[:, :, tf.newaxis] & inside_x[:, tf.newaxis, :]
    return x * tf.cast(~inside, x.dtype)[..., tf.newaxis]


AUGMENTATIONS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x, policy, rng):
    """Applies the augmentations named in `policy`, in DiffAugment's order.

    Args:
        x: [B, H, W, C] images in [-1, 1].
        policy: iterable of names from AUGMENTATIONS; empty -> x unchanged.
        rng: a StatelessRandom for this call.

    Returns:
        The augmented batch, differentiable with respect to x.
    """
    for name in ("color", "translation", "cutout"):
        if name in policy:
            x = AUGMENTATIONS[name](x, rng)
    return x
