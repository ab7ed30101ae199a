"""The legacy TensorFlow 1 bilinear resize that Inception-based metrics assume.

`tf.compat.v1.image.resize_bilinear(x, size, half_pixel_centers=False)` samples the source at
`i * in / out` (corner-aligned origin, no half-pixel offset). TF2's `tf.image.resize`,
PyTorch's and PIL's resizers all sample at `(i + 0.5) * in / out - 0.5` and give different
pixels, hence different FIDs. The 2015-12-05 graph does this resize itself; networks that
do not (Keras InceptionV3, the classifier) call this function.
"""
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
