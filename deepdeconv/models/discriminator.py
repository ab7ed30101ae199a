"""DCGAN-style discriminator: strided Conv2D + LeakyReLU(0.2) stack -> one logit."""
import keras
from keras import layers

from deepdeconv.models import conditional
from deepdeconv.models.layers import MinibatchStd, channels_at, dcgan_init, num_doublings


def build_discriminator(resolution=32, channels=3, width=1.0, norm="none", name="discriminator", num_classes=0,
                        mbstd=False):
    """Builds the discriminator as a functional Keras model.

    Each stage halves the resolution with Conv2D(kernel 4, stride 2) followed by
    LeakyReLU(0.2) (DCGAN); the first stage is never normalised (DCGAN, SNGAN). With
    `norm="none"` real and fake batches may be scored in one call, which is faster; batch
    norm would mix their statistics, so the GAN step scores them separately in that case.

    Args:
        resolution: input side in pixels.
        channels: 1 or 3.
        width: multiplier on every layer's channel count.
        norm: "none", "batch" or "spectral" (spectral normalisation, Miyato et al. 2018).
        name: model name.
        num_classes: 0 for an unconditional discriminator; otherwise the model takes
            `[images, labels]` (int32 labels [B]) and adds a projection head
            (Miyato & Koyama 2018, see `models.conditional`).
        mbstd: append the minibatch standard deviation channel before the last stage
            (`layers.MinibatchStd`).

    Returns:
        A `keras.Model` mapping [B, H, W, C] images in [-1, 1] (and labels, when
        conditional) to [B, 1] float32 logits.
    """
    init = dcgan_init()

    def wrap(layer):
        # Named after the layer it wraps: an auto-numbered name would change a checkpoint's
        # variable paths with the number of models built before it in the process.
        # The wrapper takes the wrapped layer's policy: the float32 logit must stay float32
        # under mixed precision.
        return (layers.SpectralNormalization(layer, name=f"{layer.name}_sn", dtype=layer.dtype_policy)
                if norm == "spectral" else layer)

    image = keras.Input((resolution, resolution, channels), name="image")
    x = image
    res = resolution
    for i in range(num_doublings(resolution)):
        res //= 2
        if mbstd and i == num_doublings(resolution) - 1:
            x = MinibatchStd(name="mbstd")(x)
        batch_norm = norm == "batch" and i > 0
        # Batch norm subtracts a bias again: such a bias has zero gradient, and Adam would turn
        # rounding noise in it into full-size steps that differ between devices.
        x = wrap(layers.Conv2D(channels_at(2 * res, resolution, width), 4, strides=2, padding="same",
                               use_bias=not batch_norm, kernel_initializer=init, name=f"down{res}"))(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"down{res}_bn")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.Flatten()(x)
    logit = wrap(layers.Dense(1, kernel_initializer=init, dtype="float32", name="logit"))(x)
    if not num_classes:
        return keras.Model(image, logit, name=name)
    labels = conditional.label_input()
    logit = conditional.projection_logit(x, labels, num_classes, logit, wrap)
    return keras.Model([image, labels], logit, name=name)
