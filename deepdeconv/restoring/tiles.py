"""Restoring images of any size with a fully convolutional network, in tiles when large.

A network with a finite receptive field and downsampling factor `multiple` (2**depth) is
shift-equivariant for shifts that are multiples of `multiple`: moving the input by such a
shift moves the output by the same amount (times the sr scale). Every output pixel depends
only on input pixels within `radius` of it. Hence, with the image padded once to a multiple of
`multiple` (reflection, bottom and right), a tile whose origin is a multiple of `multiple` and
which contains every pixel within `margin >= radius` of an output pixel -- or reaches the
padded image's border in that direction, where it sees the same zero padding as the whole
image -- computes that output pixel exactly as the whole image would. So the image is cut into
cores (sides multiples of `multiple`), each core is restored from a tile reaching `margin`
beyond it (clamped inside the image, still aligned), and only the core is kept: centre-crop
stitching, equal to whole-image restoration up to floating-point summation order, hence
without seams. No blending window is needed (blending is for networks whose receptive field is
larger than the overlap, where it only hides the seam).

The receptive field is measured, not assumed: the gradient of random projections of a block of
output pixels with respect to a random input is non-zero exactly on the pixels they depend on
(`receptive_radius`). A network with a global operation (pooling over the image, attention)
has no finite radius and is run on the whole image.

Memory: tiles of one size are restored `batch` at a time and written into the output array,
so the network's activations are bounded by `batch` tiles whatever the image size.
"""
import math

import numpy as np
import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.models.restorer import crop_output, pad_to_multiple

DEFAULT_TILE = 512
_MAX_PROBE = 1024
_geometry_cache = {}
_radius_cache = {}


def _call(model, x):
    """The model's float32 output for a float32 numpy batch."""
    return np.asarray(tf.cast(model(tf.constant(x, tf.float32), training=False), tf.float32))


def _input_channels(model):
    shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
    if shape is None or shape[-1] is None:
        raise UserError(f"Model {model.name} does not declare its input channels; it is not an image restorer.")
    return int(shape[-1])


def network_geometry(model):
    """(multiple, scale, output channels) of a fully convolutional image-to-image model.

    `multiple` is the smallest power of two such that inputs of 3 and 5 times it come out
    `scale` times larger; measured by calling the model on small zero images (cached per model).
    """
    key = id(model)
    if key in _geometry_cache and _geometry_cache[key][0] is model:
        return _geometry_cache[key][1]
    c = _input_channels(model)
    for multiple in (1, 2, 4, 8, 16, 32, 64):
        try:
            outs = [_call(model, np.zeros((1, k * multiple, k * multiple, c), np.float32)) for k in (3, 5)]
        except Exception:  # an input size the network cannot take: try the next multiple
            continue
        scale = outs[0].shape[1] // (3 * multiple)
        ok = scale >= 1 and all(o.shape[1:3] == (k * multiple * scale,) * 2 for o, k in zip(outs, (3, 5)))
        if ok:
            geometry = (multiple, scale, int(outs[0].shape[-1]))
            _geometry_cache[key] = (model, geometry)
            return geometry
    raise UserError(f"Model {model.name} does not map images of any size to images (tried sides 3..320); "
                    "it is not a fully convolutional restorer.")


def receptive_radius(model, multiple=None, seed=0):
    """Input pixels on each side that an output pixel depends on, or None if unbounded.

    Measured from the gradient of random projections of a `multiple` x `multiple` block of
    output pixels at the centre of a random input; the probe doubles in size until the
    dependence ends inside it (up to 1024 pixels).

    Args:
        model: the restorer.
        multiple: its size multiple (measured when None).
        seed: seeds the random probe.

    Returns:
        An int radius in input pixels (the largest distance from any pixel of the block), or
        None for a network that sees the whole image.
    """
    if multiple is None:
        multiple = network_geometry(model)[0]
    key = (id(model), multiple, seed)
    if key in _radius_cache and _radius_cache[key][0] is model:
        return _radius_cache[key][1]
    radius = _probe_radius(model, multiple, seed)
    _radius_cache[key] = (model, radius)
    return radius


def _probe_radius(model, multiple, seed):
    _, scale, out_c = network_geometry(model)
    c = _input_channels(model)
    rng = np.random.default_rng(seed)
    size = max(64, 8 * multiple)
    while size <= _MAX_PROBE:
        x = tf.Variable(rng.uniform(-1, 1, (1, size, size, c)).astype(np.float32))
        centre = (size // 2) // multiple * multiple
        lo, hi = centre * scale, (centre + multiple) * scale
        weights = tf.constant(rng.normal(size=(1, hi - lo, hi - lo, out_c)).astype(np.float32))
        with tf.GradientTape() as tape:
            y = tf.cast(model(x, training=False), tf.float32)
            target = tf.reduce_sum(y[:, lo:hi, lo:hi, :] * weights)
        grad = tape.gradient(target, x)
        if grad is None:
            return 0
        support = np.abs(np.asarray(grad)[0]).sum(axis=-1) > 0
        rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
        if rows.size == 0:
            return 0
        inside = min(rows[0], cols[0]) > 0 and max(rows[-1], cols[-1]) < size - 1
        if inside:
            last = centre + multiple - 1
            return int(max(last - rows[0], rows[-1] - centre, last - cols[0], cols[-1] - centre))
        size *= 2
    return None


def tile_plan(length, tile, margin, multiple):
    """[(core_start, core_end, tile_start)] along one axis of a padded length.

    Cores partition [0, length) in steps of tile - 2 * margin; each tile has side `tile`
    (or `length` if smaller), starts at a multiple of `multiple`, and covers its core plus
    `margin` on both sides wherever the image extends that far.
    """
    if length <= tile:
        return [(0, length, 0)]
    step = tile - 2 * margin
    plan = []
    for start in range(0, length, step):
        end = min(start + step, length)
        origin = min(max(start - margin, 0), length - tile)
        assert origin % multiple == 0
        plan.append((start, end, origin))
    return plan


def restore_array(model, image, scale=None, tile=None, overlap=None, batch=4, progress=None):
    """Restores one image of any size, whole or in exactly stitched tiles.

    Args:
        model: a fully convolutional Keras restorer taking [B, H, W, C] in [-1, 1].
        image: float [H, W, C] in [-1, 1] (C = the model's input channels, mask included).
        scale: the sr factor the output must have; measured from the model when None (and
            checked when given).
        tile: side of the input tiles in pixels (rounded down to the network's multiple);
            None = `DEFAULT_TILE`; an image that fits is restored whole.
        overlap: margin of every tile beyond its core, in input pixels; None = the measured
            receptive radius (rounded up to the multiple), which makes the result equal to
            whole-image restoration.
        batch: tiles per network call.
        progress: optional callable(n) told of each batch of n finished tiles.

    Returns:
        float32 [H * scale, W * scale, C_out], unclipped.
    """
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise UserError(f"restore_array takes one [H, W, C] image, got shape {image.shape}.")
    multiple, measured_scale, out_c = network_geometry(model)
    if scale is not None and scale != measured_scale:
        raise UserError(f"The model upscales by {measured_scale}, not by the expected {scale}.")
    scale = measured_scale
    if image.shape[-1] != _input_channels(model):
        raise UserError(f"The model takes {_input_channels(model)} channels, the image has {image.shape[-1]}.")
    padded, size = pad_to_multiple(image[None], multiple)
    padded = padded[0]
    hp, wp = padded.shape[:2]
    tile = DEFAULT_TILE if tile is None else int(tile)
    tile = max(multiple, tile // multiple * multiple)
    if hp <= tile and wp <= tile:
        out = _call(model, padded[None])
        if progress:
            progress(1)
        return crop_output(out, size, scale)[0]
    if overlap is None:
        radius = receptive_radius(model, multiple)
        if radius is None:  # a global operation: only the whole image is exact
            out = _call(model, padded[None])
            if progress:
                progress(1)
            return crop_output(out, size, scale)[0]
        overlap = radius
    margin = int(math.ceil(overlap / multiple)) * multiple
    if tile - 2 * margin < multiple:
        raise UserError(f"--tile {tile} is too small for this network, whose tiles need {margin} pixels of "
                        f"overlap on each side; use --tile {2 * margin + max(multiple, 64)} or more.")
    rows = tile_plan(hp, tile, margin, multiple)
    cols = tile_plan(wp, tile, margin, multiple)
    th, tw = min(tile, hp), min(tile, wp)
    out = np.empty((hp * scale, wp * scale, out_c), np.float32)
    jobs = [(r, c) for r in rows for c in cols]
    for i in range(0, len(jobs), batch):
        chunk = jobs[i:i + batch]
        x = np.stack([padded[r[2]:r[2] + th, c[2]:c[2] + tw] for r, c in chunk])
        y = _call(model, x)
        for (r, c), restored in zip(chunk, y):
            (r0, r1, ry), (c0, c1, cx) = r, c
            out[r0 * scale:r1 * scale, c0 * scale:c1 * scale] = \
                restored[(r0 - ry) * scale:(r1 - ry) * scale, (c0 - cx) * scale:(c1 - cx) * scale]
        if progress:
            progress(len(chunk))
    return out[:size[0] * scale, :size[1] * scale]


def count_tiles(shape, model, tile=None, overlap=None):
    """How many tiles `restore_array` would run for an image of `shape` [H, W, ...] (1 = whole)."""
    multiple = network_geometry(model)[0]
    hp, wp = (-(-s // multiple) * multiple for s in shape[:2])
    tile = DEFAULT_TILE if tile is None else max(multiple, int(tile) // multiple * multiple)
    if hp <= tile and wp <= tile:
        return 1
    radius = receptive_radius(model, multiple) if overlap is None else overlap
    if radius is None:
        return 1
    margin = int(math.ceil(radius / multiple)) * multiple
    return len(tile_plan(hp, tile, margin, multiple)) * len(tile_plan(wp, tile, margin, multiple))


def restore_batch(model, images, batch=8):
    """Restores a stack of same-size images whole, `batch` per network call.

    Args:
        model: the restorer.
        images: float [N, H, W, C] in [-1, 1].
        batch: images per call.

    Returns:
        float32 [N, H * scale, W * scale, C_out].
    """
    multiple, scale, _ = network_geometry(model)
    padded, size = pad_to_multiple(np.asarray(images, np.float32), multiple)
    outs = [_call(model, padded[i:i + batch]) for i in range(0, len(padded), batch)]
    return crop_output(np.concatenate(outs), size, scale)
