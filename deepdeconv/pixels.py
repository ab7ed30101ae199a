"""The pixel range contract: models see [-1, 1] floats, files hold uint8.

Both conversions (and `to_uint8_tensor`, the in-graph twin of `to_uint8`) live here and nowhere
else, so that training data, samples written to disk, images fed to metrics and exported models
all quantise identically.
"""
import numpy as np
import tensorflow as tf


def to_uint8(images):
    """Maps model output in [-1, 1] to uint8 in [0, 255], rounding then clipping.

    Rounding (not truncation) makes -1 -> 0, 0 -> 128 and 1 -> 255, exactly what a PNG of
    the same image would hold, so metrics computed from these arrays match metrics computed
    from saved files.

    Args:
        images: array or tensor of any shape, float, nominally in [-1, 1].

    Returns:
        A numpy uint8 array of the same shape.
    """
    x = np.asarray(images, dtype=np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_uint8_tensor(images):
    """Graph twin of `to_uint8`: [-1, 1] -> tf.uint8, round half to even, then clip.

    `to_uint8` is numpy and cannot run inside a tf.function or a SavedModel; this is the same
    arithmetic in float32 (tf.round, like np.rint, rounds halves to even). tests/test_export.py
    and tests/test_degrade.py pin the two equal on every half-level and beyond [-1, 1].

    Args:
        images: tensor of any shape, float, nominally in [-1, 1].

    Returns:
        A tf.uint8 tensor of the same shape.
    """
    x = (tf.cast(images, tf.float32) + 1.0) * 127.5
    return tf.cast(tf.clip_by_value(tf.round(x), 0.0, 255.0), tf.uint8)


def from_uint8(images):
    """Maps uint8 pixels (tensor or array) to float32 in [-1, 1] inside a TF graph.

    Args:
        images: uint8 (or integer-valued float) tensor of any shape.

    Returns:
        A float32 tensor with 0 -> -1 and 255 -> 1.
    """
    return tf.cast(images, tf.float32) / 127.5 - 1.0
