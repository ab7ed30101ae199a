"""The restorer: a fully convolutional deconvolution encoder-decoder with residual learning.

    image (+ mask) -> stem conv -> depth x [strided Conv2D down, conv] -> bottleneck conv
                   -> depth x [Conv2DTranspose up, add the encoder features of that
                      resolution, conv] -> conv to the correction -> input + correction

(RED-Net / U-Net / DnCNN in one: strided convolutions down, transposed convolutions up, skips
between matching resolutions, and the network predicts only what to change.) For `sr` the
network runs at the low resolution and upsamples at the end, by sub-pixel convolution (a conv
to `channels * scale**2` then depth_to_space, ESPCN) or by a learned Conv2DTranspose; the
correction is added to a bicubic upscaling of the input. For `inpaint` the input carries the
mask as an extra last channel; the correction is added to the image channels only.

No batch normalisation: training batches are a few small patches, whose batch statistics are
noisy and differ from those of the whole photos restored at inference (EDSR dropped batch norm
from SR networks for the same reasons), and residual learning trains well without it.

Input sides must be multiples of 2**depth (of the low-resolution input for sr): inference pads
other sizes with `pad_to_multiple` and cuts the output back with `crop_output`, as
`restoring.tiles.restore_array` (restore.py, validation during training) does.

The last layer starts at zero, so an untrained restorer returns its input (for sr: the bicubic
upscaling): training starts from the identity, never from noise.

Only standard Keras layers and `keras.ops` calls are used, so an exported `.keras` restorer
loads with plain `keras.models.load_model` (safe mode), without deepdeconv installed.
"""
import random

import keras
import numpy as np
import tensorflow as tf
from keras import layers

BASE_CHANNELS = 32  # channels at full resolution for width=1
MAX_MULTIPLIER = 8  # channels double per level up to 8 x base


def _init():
    """He-normal weights whose seed comes from Python's `random`.

    `keras.utils.set_random_seed` seeds `random`, so restorers built after it start from the
    same weights every time (Keras' unseeded initialisers do not), and each layer draws its own.
    """
    return keras.initializers.HeNormal(seed=random.randrange(2 ** 31))


def base_channels(width):
    """Channels of the full-resolution layers: round(32 * width), at least 4."""
    return max(4, int(round(BASE_CHANNELS * width)))


def input_channels(task, channels):
    """Channels the restorer takes: the image's, plus one mask channel for inpaint."""
    return channels + 1 if task == "inpaint" else channels


def _conv(x, filters, name, strides=1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", kernel_initializer=_init(), name=name)(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_restorer(task, channels, width=1.0, depth=2, scale=2, upsample="subpixel", name="restorer"):
    """Builds the restorer as a functional Keras model of any input size.

    Args:
        task: "denoise", "deblur", "sr", "inpaint" or "jpeg".
        channels: 1 (grayscale) or 3 (RGB) image channels.
        width: multiplier on every layer's channels (base round(32 * width), doubling per
            level up to 8x).
        depth: number of stride-2 downsamplings; inputs must have sides that are multiples of
            2**depth (see `pad_to_multiple`).
        scale: sr only: upscaling factor.
        upsample: sr only: "subpixel" (conv + depth_to_space) or "transpose" (Conv2DTranspose).
        name: model name.

    Returns:
        A `keras.Model` mapping [B, H, W, C (+1 for inpaint)] in [-1, 1] to float32
        [B, H*s, W*s, C] (s = scale for sr, else 1), unclipped: the input plus the predicted
        correction.
    """
    c = base_channels(width)
    inputs = keras.Input((None, None, input_channels(task, channels)), name="degraded")
    image = inputs[..., :channels] if task == "inpaint" else inputs
    x = _conv(inputs, c, "stem")
    skips = []
    for level in range(1, depth + 1):
        skips.append(x)
        filters = c * min(2 ** level, MAX_MULTIPLIER)
        x = _conv(x, filters, f"down{level}", strides=2)
        x = _conv(x, filters, f"down{level}_conv")
    x = _conv(x, x.shape[-1], "bottleneck")
    for level in range(depth, 0, -1):
        skip = skips[level - 1]
        # Kernel 4 with stride 2: every output pixel receives the same number of taps, which
        # avoids the checkerboard pattern of kernel 3.
        x = layers.Conv2DTranspose(skip.shape[-1], 4, strides=2, padding="same", kernel_initializer=_init(),
                                   name=f"up{level}")(x)
        x = layers.ReLU(name=f"up{level}_relu")(x)
        # Added (RED-Net) rather than concatenated (U-Net): the conv after it reads half the
        # channels, and it costs half as much.
        x = layers.Add(name=f"up{level}_skip")([x, skip])
        x = _conv(x, skip.shape[-1], f"up{level}_conv")
    if task == "sr":
        x, base = _upsample_head(x, image, channels, scale, upsample, c)
    else:
        x = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
        base = image
    # float32 output under mixed precision: losses and pixel values need the range.
    x = layers.Activation("linear", dtype="float32", name="correction_f32")(x)
    base = layers.Activation("linear", dtype="float32", name="base_f32")(base)
    output = layers.Add(dtype="float32", name="restored")([base, x])
    return keras.Model(inputs, output, name=name)


def _upsample_head(x, image, channels, scale, upsample, c):
    """The sr head: features at low resolution -> correction at high resolution, and its base."""
    if upsample == "subpixel":
        x = layers.Conv2D(channels * scale * scale, 3, padding="same", kernel_initializer="zeros",
                          name="correction_lr")(x)
        x = keras.ops.depth_to_space(x, scale)
    elif upsample == "transpose":
        # Kernel 2*scale: every output pixel receives the same number of taps (no checkerboard).
        x = layers.Conv2DTranspose(c, 2 * scale, strides=scale, padding="same", kernel_initializer=_init(),
                                   name="upsample")(x)
        x = layers.ReLU(name="upsample_relu")(x)
        x = layers.Conv2D(channels, 3, padding="same", kernel_initializer="zeros", name="correction")(x)
    else:
        raise ValueError(f"unknown upsample {upsample!r}")
    # float32 even under mixed precision: the base carries the image itself, and bfloat16
    # would round it by more than a uint8 step.
    base = BicubicUpsample(scale, dtype="float32", name="bicubic")(image)
    return x, base


@keras.saving.register_keras_serializable(package="deepdeconv")
class BicubicUpsample(layers.Layer):
    """Bicubic upscaling by an integer factor, for inputs whose height and width are unknown.

    `UpSampling2D(interpolation="bicubic")` computes its output size from the static shape, so
    a model using it cannot be traced for images of any size (a SavedModel signature, TFLite);
    this layer takes the size from the tensor at run time. Same resize as `tf.image.resize`
    (half-pixel centres, Keys a=-0.5), which the evaluation's bicubic baseline also uses.

    Args:
        scale: the integer upscaling factor.
    """

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = int(scale)

    def call(self, images):
        # tf.image.resize takes a size tensor; keras.ops.image.resize wants Python integers.
        size = tf.shape(images)[1:3] * self.scale
        return tf.cast(tf.image.resize(images, size, method="bicubic"), images.dtype)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        return b, None if h is None else h * self.scale, None if w is None else w * self.scale, c

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def pad_to_multiple(images, multiple):
    """Pads [B, H, W, C] (numpy) on the bottom and right to sides that are multiples of `multiple`.

    Reflection padding continues the image's texture, so the network sees no artificial edge;
    the pad is cut off again with `crop_output`. Images smaller than the pad fall back to
    edge replication (reflection needs more pixels than it mirrors).

    Args:
        images: numpy array [B, H, W, C].
        multiple: 2**depth of the restorer (what `restoring.tiles.network_geometry` measures).

    Returns:
        (padded images, (H, W)): the original size, for `crop_output`.
    """
    images = np.asarray(images)
    h, w = images.shape[1:3]
    ph, pw = -h % multiple, -w % multiple
    if ph == 0 and pw == 0:
        return images, (h, w)
    mode = "reflect" if ph < h and pw < w else "edge"
    return np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)), mode=mode), (h, w)


def crop_output(outputs, size, scale=1):
    """Cuts a restorer's output of a padded input back to the original `size` (times `scale`)."""
    h, w = size
    return outputs[:, :h * scale, :w * scale]
