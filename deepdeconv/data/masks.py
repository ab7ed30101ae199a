"""Random inpainting masks, in TensorFlow: boxes, free-form brush strokes, or a mix.

Public API:
    FRACTION = (0.05, 0.40): the range of the missing fraction of each mask.
    random_masks(batch, height, width, kind, seed) -> float32 [B, H, W, 1], 1 = missing.
    tiled_masks(height, width, cell, kind, seed) -> float32 [1, H, W, 1], for a whole image.

Convention: 1 marks a missing pixel, 0 a known one. The network input is the image with the
holes set to 0 (mid-grey in [-1, 1]) and the mask appended as an extra channel.

Each mask covers a fraction f of its pixels, f drawn uniformly from FRACTION per mask: the
shapes are described by a distance map (to a few random boxes, or to a few random brush
strokes), and the mask is every pixel within the f-quantile of that distance, so strokes or
boxes grow until exactly f is covered (up to ties). "box": up to `_BOXES` rectangles of
random aspect ratio (Chebyshev distance scaled by each box's half-sides). "free": `_STROKES`
brush strokes, each a random walk of `_VERTICES` straight segments (Euclidean distance to the
polyline), like the free-form masks of DeepFill v2. "mixed": each mask is one or the other.

`tiled_masks` covers a large image with masks drawn at the training patch size (`cell`), so
holes at evaluation have the sizes the network was trained on, whatever the image size.
"""
import math

import tensorflow as tf

from deepdeconv.restore_config import MASK_KINDS

FRACTION = (0.05, 0.40)
_BOXES = 3
_STROKES = 3
_VERTICES = 5
_TILE_CHUNK = 256  # tiles drawn per call in `tiled_masks`: bounds memory on large images


def _grid(height, width):
    y = tf.range(height, dtype=tf.float32)[None, :, None, None] + 0.5
    x = tf.range(width, dtype=tf.float32)[None, None, :, None] + 0.5
    return y, x


def _box_distance(batch, height, width, seed):
    s_c, s_s = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    centre = tf.random.stateless_uniform([batch, 2, _BOXES], s_c)
    half = tf.random.stateless_uniform([batch, 2, _BOXES], s_s, 0.3, 1.0)
    y, x = _grid(height, width)
    dy = tf.abs(y - centre[:, None, None, 0] * height) / (half[:, None, None, 0] * height)
    dx = tf.abs(x - centre[:, None, None, 1] * width) / (half[:, None, None, 1] * width)
    return tf.reduce_min(tf.maximum(dy, dx), axis=-1)  # [B, H, W]


def _stroke_distance(batch, height, width, seed):
    s_start, s_head, s_turn, s_len = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    n = _STROKES
    side = tf.cast(tf.maximum(height, width), tf.float32)
    start = tf.random.stateless_uniform([batch, n, 1, 2], s_start) * tf.cast(tf.stack([height, width]), tf.float32)
    heading = tf.random.stateless_uniform([batch, n, 1], s_head, 0.0, 2.0 * math.pi)
    angle = heading + tf.cumsum(tf.random.stateless_normal([batch, n, _VERTICES - 1], s_turn, stddev=1.0), axis=2)
    length = tf.random.stateless_uniform([batch, n, _VERTICES - 1], s_len, 0.1, 0.35) * side
    steps = tf.stack([tf.sin(angle), tf.cos(angle)], axis=-1) * length[..., None]
    vertices = tf.concat([start, start + tf.cumsum(steps, axis=2)], axis=2)  # [B, n, V, 2]
    a = tf.reshape(vertices[:, :, :-1], [batch, 1, 1, -1, 2])  # segment starts
    d = tf.reshape(vertices[:, :, 1:], [batch, 1, 1, -1, 2]) - a
    y, x = _grid(height, width)
    py, px = y - a[..., 0], x - a[..., 1]  # [B, H, W, S]
    t = tf.clip_by_value((py * d[..., 0] + px * d[..., 1]) / (tf.reduce_sum(tf.square(d), -1) + 1e-6), 0.0, 1.0)
    dist = tf.square(py - t * d[..., 0]) + tf.square(px - t * d[..., 1])
    return tf.reduce_min(dist, axis=-1)


def random_masks(batch, height, width, kind, seed, fraction=FRACTION):
    """Masks covering a random fraction in `fraction` of each image.

    Args:
        batch, height, width: mask batch size and sides (Python ints or scalar tensors).
        kind: "box", "free" or "mixed".
        seed: stateless seed [2].
        fraction: (lo, hi) range of the missing fraction.

    Returns:
        float32 [B, H, W, 1] of 0 (known) and 1 (missing).
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"kind must be one of {MASK_KINDS}, got {kind!r}")
    s_f, s_kind, s_box, s_free = tf.unstack(tf.random.experimental.stateless_split(seed, 4))
    if kind == "box":
        dist = _box_distance(batch, height, width, s_box)
    elif kind == "free":
        dist = _stroke_distance(batch, height, width, s_free)
    else:
        # Box distances (<= ~1 inside a box) and squared stroke distances are on different
        # scales, but only the rank within one mask matters, so choosing per mask is enough.
        use_box = tf.random.stateless_uniform([batch, 1, 1], s_kind) < 0.5
        dist = tf.where(use_box, _box_distance(batch, height, width, s_box),
                        _stroke_distance(batch, height, width, s_free))
    count = height * width
    flat = tf.sort(tf.reshape(dist, [batch, -1]), axis=1)
    f = tf.random.stateless_uniform([batch], s_f, fraction[0], fraction[1])
    k = tf.clip_by_value(tf.cast(tf.round(f * tf.cast(count, tf.float32)), tf.int32), 1, count)
    threshold = tf.gather(flat, k - 1, batch_dims=1)
    return tf.cast(dist <= threshold[:, None, None], tf.float32)[..., None]


def tiled_masks(height, width, cell, kind, seed, fraction=FRACTION):
    """A mask for a whole H x W image made of cell x cell masks drawn as in training.

    Args:
        height, width: image size (Python ints).
        cell: tile side, the training patch size.
        kind, seed, fraction: as for `random_masks`.

    Returns:
        float32 [1, H, W, 1].
    """
    rows, cols = -(-height // cell), -(-width // cell)
    tiles = []
    for i, start in enumerate(range(0, rows * cols, _TILE_CHUNK)):
        n = min(_TILE_CHUNK, rows * cols - start)
        tiles.append(random_masks(n, cell, cell, kind, tf.random.experimental.stateless_fold_in(seed, i), fraction))
    grid = tf.reshape(tf.concat(tiles, 0), [rows, cols, cell, cell])
    full = tf.reshape(tf.transpose(grid, [0, 2, 1, 3]), [rows * cell, cols * cell])
    return full[None, :height, :width, None]
