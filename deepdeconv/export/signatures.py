"""Serving functions around a network: uint8 in and out, our pixel conventions inside.

A client of the exported model sees only seeds, latents, labels and uint8 pixels; the [-1, 1]
range, the per-seed latent algorithm, reflect padding to the restorer's multiple and the
rounding to uint8 all live in the graph.
"""
import dataclasses

import tensorflow as tf

from deepdeconv.export.seed_latents import seed_latents
from deepdeconv.pixels import from_uint8, to_uint8_tensor
from deepdeconv.sampling.latents import MAX_SEED

GENERATE = "generate"
GENERATE_FROM_LATENTS = "generate_from_latents"
RESTORE = "restore"
# Output names of the signatures (the input names are in the TensorSpecs below).
IMAGES = "images"
RESTORED = "restored"


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the serving functions need to know about a network besides its weights."""

    kind: str  # "generator" or "restorer"
    channels: int  # image channels of the output (and of the restorer's input image)
    z_dim: int = 0  # generator latent size
    num_classes: int = 0  # conditional generator: number of classes; 0 = unconditional
    resolution: int = 0  # generator output side
    multiple: int = 1  # restorer: input sides must be a multiple of this (2**depth)
    scale: int = 1  # restorer: output side / input side (sr)
    mask: bool = False  # restorer: takes an inpainting mask as an extra input channel
    task: str = "gan"


def reflect_indices(size, padded):
    """Indices into an axis of length `size` that extend it to `padded` by mirror reflection.

    Reflection without repeating the edge (numpy's "reflect"), repeated as often as needed,
    so any padding works, even beyond the image side (where tf.pad's REFLECT mode refuses);
    an axis of length 1 repeats its only pixel.
    """
    i = tf.range(padded)
    period = tf.maximum(2 * size - 2, 1)
    j = tf.math.floormod(i, period)
    return tf.minimum(tf.where(j >= size, period - j, j), size - 1)


def pad_to_multiple(images, multiple):
    """Pads [N, H, W, C] at the bottom and right to sides that are multiples of `multiple`."""
    if multiple == 1:
        return images
    h, w = tf.shape(images)[1], tf.shape(images)[2]
    ph = (h + multiple - 1) // multiple * multiple
    pw = (w + multiple - 1) // multiple * multiple
    images = tf.gather(images, reflect_indices(h, ph), axis=1)
    return tf.gather(images, reflect_indices(w, pw), axis=2)


def _check_labels(labels, num_classes):
    return [tf.debugging.assert_non_negative(labels, message="labels must be class indices >= 0"),
            tf.debugging.assert_less(labels, tf.cast(num_classes, labels.dtype),
                                     message=f"labels must be below the number of classes ({num_classes})")]


def generator_functions(model, info):
    """The generator's serving functions, as {signature name: tf.function with input_signature}.

    - `generate(seeds int64[N] (, labels int32[N])) -> {"images": uint8[N, H, W, C]}`: the
      latent of seed s is `RandomState(s).randn(z_dim)`, as in `sample.py`.
    - `generate_from_latents(z float32[N, z_dim] (, labels int32[N])) -> {"images": ...}`.
    """
    conditional = info.num_classes > 0

    def run(z, labels=None):
        inputs = [z, labels] if conditional else z
        return {IMAGES: to_uint8_tensor(model(inputs, training=False))}

    seeds_spec = tf.TensorSpec([None], tf.int64, name="seeds")
    z_spec = tf.TensorSpec([None, info.z_dim], tf.float32, name="z")
    labels_spec = tf.TensorSpec([None], tf.int32, name="labels")

    def latents(seeds):
        checks = [tf.debugging.assert_non_negative(seeds, message="seeds must be >= 0"),
                  tf.debugging.assert_less_equal(seeds, tf.constant(MAX_SEED, tf.int64),
                                                 message="seeds must be below 2**32")]
        with tf.control_dependencies(checks):
            return seed_latents(seeds, info.z_dim)

    if conditional:
        def generate(seeds, labels):
            with tf.control_dependencies(_check_labels(labels, info.num_classes)):
                return run(latents(seeds), labels)

        def generate_from_latents(z, labels):
            with tf.control_dependencies(_check_labels(labels, info.num_classes)):
                return run(z, labels)

        return {GENERATE: tf.function(generate, input_signature=[seeds_spec, labels_spec]),
                GENERATE_FROM_LATENTS: tf.function(generate_from_latents, input_signature=[z_spec, labels_spec])}

    def generate_unconditional(seeds):
        return run(latents(seeds))

    def generate_from_latents_unconditional(z):
        return run(z)

    return {GENERATE: tf.function(generate_unconditional, input_signature=[seeds_spec]),
            GENERATE_FROM_LATENTS: tf.function(generate_from_latents_unconditional, input_signature=[z_spec])}


def mask_channel(mask):
    """Inpainting mask uint8 [N, H, W, 1] -> the network's extra channel: 1.0 where missing."""
    # min(mask, 1) in float rather than `mask > 0`: TFLite has no uint8 comparison kernel.
    return tf.minimum(tf.cast(mask, tf.float32), 1.0)


def restorer_functions(model, info, tile=None):
    """The restorer's serving function, as {"restore": tf.function with input_signature}.

    `restore(image uint8[N, H, W, C] (, mask uint8[N, H, W, 1])) -> {"restored": uint8[N,
    H*scale, W*scale, C]}` for any H and W: the image is reflect-padded at the bottom and right
    to a multiple of `info.multiple`, restored, and cropped back.

    Args:
        model: the Keras restorer.
        info: its ModelInfo.
        tile: None for dynamic H, W (and N); an int fixes the input to [1, tile, tile, C] for
            converters that need static shapes.
    """
    side = tile
    batch = 1 if tile else None
    image_spec = tf.TensorSpec([batch, side, side, info.channels], tf.uint8, name="image")
    mask_spec = tf.TensorSpec([batch, side, side, 1], tf.uint8, name="mask")

    def run(image, mask=None):
        x = from_uint8(image)
        if mask is not None:
            # As in training and restore.py: the holes are blanked (0, mid-grey) and marked.
            holes = mask_channel(mask)
            x = tf.concat([x * (1.0 - holes), holes], axis=-1)
        h, w = tf.shape(image)[1], tf.shape(image)[2]
        y = model(pad_to_multiple(x, info.multiple), training=False)
        return {RESTORED: to_uint8_tensor(y[:, :h * info.scale, :w * info.scale, :])}

    def restore_masked(image, mask):
        return run(image, mask)

    def restore(image):
        return run(image)

    if info.mask:
        return {RESTORE: tf.function(restore_masked, input_signature=[image_spec, mask_spec])}
    return {RESTORE: tf.function(restore, input_signature=[image_spec])}


def functions_for(model, info, tile=None):
    """The serving functions of a generator or restorer (see the two builders above)."""
    if info.kind == "generator":
        return generator_functions(model, info)
    return restorer_functions(model, info, tile=tile)
