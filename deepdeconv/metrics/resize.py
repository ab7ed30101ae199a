"""The legacy TensorFlow 1 bilinear resize that Inception-based metrics assume.

`tf.compat.v1.image.resize_bilinear(x, size, half_pixel_centers=False)` samples the source at
`i * in / out` (corner-aligned origin, no half-pixel offset). TF2's `tf.image.resize`,
PyTorch's and PIL's resizers all sample at `(i + 0.5) * in / out - 0.5` and give different
pixels, hence different FIDs. The 2015-12-05 graph does this resize itself; networks that
do not (Keras InceptionV3, the classifier) call this function. `Uint8Network` is the calling
convention all three share.
"""
import numpy as np
import tensorflow as tf


def legacy_resize(images, size):
    """Resizes NHWC float images with TF1 bilinear semantics (no half-pixel centres).

    Args:
        images: float tensor [B, H, W, C].
        size: (height, width).

    Returns:
        float32 tensor [B, height, width, C]; returned unchanged when already that size.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape[1] == size[0] and images.shape[2] == size[1]:
        return images
    return tf.raw_ops.ResizeBilinear(images=images, size=tf.constant(size, tf.int32),
                                     align_corners=False, half_pixel_centers=False)


class Uint8Network:
    """What every feature network shares: called on uint8 batches, returns numpy outputs.

    A subclass defines `forward_float(pixels)` -> (features, logits) on float pixels and may
    override `to_input(pixels)`, which receives uint8 values as float32 (0..255) with the
    images' own channels; by default grayscale is repeated to RGB.
    """

    outputs = ("features", "logits")
    _forward = None

    def to_input(self, pixels):
        """Float pixels 0..255 in the images' channels -> what `forward_float` takes."""
        return tf.tile(pixels, [1, 1, 1, 3]) if pixels.shape[-1] == 1 else pixels

    def _uint8_to_outputs(self, images):
        return self.forward_float(self.to_input(tf.cast(images, tf.float32)))

    def __call__(self, images):
        """Features and logits for a uint8 batch, as numpy float32 arrays."""
        if self._forward is None:
            self._forward = tf.function(self._uint8_to_outputs, reduce_retracing=True)
        features, logits = self._forward(tf.convert_to_tensor(np.asarray(images, np.uint8)))
        return {"features": features.numpy(), "logits": logits.numpy()}
