"""Pieces shared by the generator and the discriminator."""
import random

import keras
from keras import layers, ops

BASE_WIDTH = 64  # channels at full resolution for width=1 (DCGAN's ngf/ndf)
MAX_WIDTH = 512
MIN_WIDTH = 8


def dcgan_init(mean=0.0):
    """Weight initialiser N(mean, 0.02) from the DCGAN paper (Radford et al. 2015).

    Its seed generator is seeded from Python's `random`, which `keras.utils.set_random_seed`
    seeds, so models built after that call start from the same weights every time (Keras'
    unseeded initialisers do not), while each layer sharing it still draws different values.
    """
    seed = keras.random.SeedGenerator(random.randrange(2**31))
    return keras.initializers.RandomNormal(mean=mean, stddev=0.02, seed=seed)


def channels_at(feature_res, image_res, width):
    """Channel count for a feature map of side `feature_res` in a model for `image_res`.

    Channels double each time the resolution halves, starting from 64*width at full
    resolution and capped at 512*width, which reproduces DCGAN's 512-256-128-64 at 32 or 64
    pixels and keeps 128/256-pixel models affordable.
    """
    ch = BASE_WIDTH * width * image_res / feature_res
    return int(max(MIN_WIDTH, min(ch, MAX_WIDTH * width)))


def num_doublings(resolution):
    """How many stride-2 stages separate 4x4 from `resolution` (32 -> 3)."""
    n = resolution.bit_length() - 3
    if resolution != 4 * 2 ** n:
        raise ValueError(f"resolution must be 4 * 2**k, got {resolution}")
    return n


@keras.saving.register_keras_serializable(package="deepdeconv")
class MinibatchStd(layers.Layer):
    """Appends one channel holding the batch's mean feature standard deviation (ProGAN).

    The discriminator then sees how varied a batch is, so a generator that collapses onto
    a few outputs is told apart from data (Karras et al. 2018). Statistics are computed in
    float32 under mixed precision; they cover the batch the layer is called on, so real and
    fake batches scored separately each get their own.
    """

    def __init__(self, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        # Like BatchNormalization(synchronized=True): statistics of the global batch, so that
        # N replicas train as one device does (set by `distribute.synchronize_batch_statistics`).
        self.synchronized = synchronized

    def call(self, x):
        x32 = ops.cast(x, "float32")
        # Sums rather than ops.var, so that the replicas' parts can be all-reduced.
        count = ops.cast(ops.shape(x32)[0], "float32")
        total, squares = ops.sum(x32, axis=0), ops.sum(ops.square(x32), axis=0)
        if self.synchronized:
            count, total, squares = _replica_sums(count, total, squares)
        mean = total / count
        variance = ops.maximum(squares / count - ops.square(mean), 0.0)
        spread = ops.mean(ops.sqrt(variance + 1e-8))
        feature = ops.ones_like(x32[..., :1]) * spread
        return ops.cast(ops.concatenate([x32, feature], axis=-1), x.dtype)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self):
        return {**super().get_config(), "synchronized": self.synchronized}


def _replica_sums(*values):
    """Each value summed over the replicas in sync (unchanged outside a multi-replica step)."""
    import tensorflow as tf  # the one backend this project runs on; imported where it is needed
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return values
    return context.all_reduce(tf.distribute.ReduceOp.SUM, list(values))
