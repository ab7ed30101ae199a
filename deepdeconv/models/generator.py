"""DCGAN-style generator: z -> Dense -> 4x4 -> Conv2DTranspose blocks -> tanh image."""
import keras
from keras import layers

from deepdeconv.models import conditional
from deepdeconv.models.layers import channels_at, dcgan_init, num_doublings


def build_generator(resolution=32, channels=3, z_dim=128, width=1.0, name="generator", num_classes=0,
                    upsample="transpose"):
    """Builds the generator as a functional Keras model of standard layers only.

    Standard layers mean the exported `.keras` file loads anywhere without custom objects.
    Each up-sampling block is Conv2DTranspose(kernel 4, stride 2) + BatchNorm + ReLU, as in
    DCGAN; kernel 4 with stride 2 avoids the checkerboard artefacts of kernel 3 or 5. A final
    3x3 convolution maps to the image channels so that the last up-sampling block keeps its
    full width, and tanh puts pixels in [-1, 1].

    Args:
        resolution: output side in pixels (32, 64, 128 or 256).
        channels: 1 (grayscale) or 3 (RGB).
        z_dim: latent size.
        width: multiplier on every layer's channel count.
        name: model name.
        num_classes: 0 for an unconditional generator; otherwise the model takes
            `[z, labels]` (int32 labels [B]), appends a class embedding to z and uses
            conditional batch norm in the up-sampling blocks (see `models.conditional`).
        upsample: "transpose" for Conv2DTranspose(4, stride 2), or "resize" for nearest-
            neighbour x2 followed by Conv2D(3) (Odena et al. 2016: no checkerboard pattern
            by construction, at about twice the multiply-adds).

    Returns:
        A `keras.Model` mapping [B, z_dim] float32 (and labels, when conditional) to
        [B, resolution, resolution, channels] in [-1, 1] (float32 even under a
        mixed-precision policy).
    """
    init = dcgan_init()
    gamma_init = dcgan_init(mean=1.0)
    z = keras.Input((z_dim,), name="z")
    labels = conditional.label_input() if num_classes else None
    code = conditional.embed_and_concat(z, labels, num_classes) if num_classes else z
    c0 = channels_at(4, resolution, width)
    x = layers.Dense(4 * 4 * c0, use_bias=False, kernel_initializer=init, name="project")(code)
    x = layers.Reshape((4, 4, c0))(x)
    x = layers.BatchNormalization(gamma_initializer=gamma_init, name="project_bn")(x)
    x = layers.ReLU()(x)
    res = 4
    for i in range(num_doublings(resolution)):
        res *= 2
        if upsample == "resize":
            x = layers.UpSampling2D(2, interpolation="nearest")(x)
            x = layers.Conv2D(channels_at(res, resolution, width), 3, padding="same",
                              use_bias=False, kernel_initializer=init, name=f"up{res}")(x)
        else:
            x = layers.Conv2DTranspose(channels_at(res, resolution, width), 4, strides=2, padding="same",
                                       use_bias=False, kernel_initializer=init, name=f"up{res}")(x)
        if num_classes:
            x = conditional.conditional_batch_norm(x, labels, num_classes, gamma_init, name=f"up{res}_bn")
        else:
            x = layers.BatchNormalization(gamma_initializer=gamma_init, name=f"up{res}_bn")(x)
        x = layers.ReLU()(x)
    x = layers.Conv2D(channels, 3, padding="same", kernel_initializer=init, name="to_image")(x)
    # The output stays float32 under mixed precision: pixel values and losses need the range.
    image = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model([z, labels] if num_classes else z, image, name=name)


def generator_for(config, name="generator"):
    """The generator a TrainConfig describes (its `channels` resolved), with fresh weights."""
    return build_generator(config.resolution, config.channels, config.z_dim, config.width, name=name,
                           num_classes=conditional.num_classes(config), upsample=config.g_upsample)
