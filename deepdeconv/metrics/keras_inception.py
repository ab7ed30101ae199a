"""Keras InceptionV3 as a feature network: a named alternative, NOT comparable with papers.

`keras.applications.InceptionV3(weights="imagenet")` is a different network from the
2015-12-05 graph (1000 classes instead of 1008, different weights, average pooling in the
last block, inputs scaled by x / 127.5 - 1). FID and IS computed with it are internally
consistent but differ from every published number. Use it only when the 2015 graph cannot
be had and the classifier metrics do not fit.
"""
import keras
import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.metrics.identity import weights_sha256
from deepdeconv.metrics.resize import Uint8Network, legacy_resize

NAME = "keras-inception-v3"
RESIZE = "tf1-bilinear-299"
_WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"


class KerasInceptionNetwork(Uint8Network):
    """Average-pooled features [B, 2048] and logits [B, 1000] of Keras' InceptionV3."""

    name = NAME
    resize = RESIZE

    def __init__(self, weights="imagenet"):
        """Builds the network.

        Args:
            weights: "imagenet" (Keras downloads them once into ~/.keras/models), a path to
                the weights file, or None for random weights (tests and benchmarks only).
        """
        try:
            model = keras.applications.InceptionV3(weights=weights, include_top=True)
        except Exception as e:  # Keras raises several types for a failed download
            raise UserError(f"Keras InceptionV3 weights could not be loaded ({e}); put {_WEIGHTS_FILE} in "
                            "~/.keras/models, or use the 2015 Inception graph or the classifier metrics.") from None
        self.weights = weights if isinstance(weights, str) else "random"
        self.sha256 = weights_sha256(model)  # in the statistics cache key (see evaluate.py)
        pooled = model.get_layer("avg_pool").output
        self._features = keras.Model(model.inputs, pooled)
        head = model.get_layer("predictions")
        self._kernel, self._bias = (tf.constant(v) for v in head.get_weights())

    def forward_float(self, pixels):
        """Features and logits for float pixels in 0..255 at any size (resized here)."""
        x = legacy_resize(pixels, (299, 299)) / 127.5 - 1.0
        features = self._features(x, training=False)
        return features, tf.matmul(features, self._kernel) + self._bias

    def describe(self):
        """What a result records about this network."""
        return {"network": self.name, "resize": self.resize, "network_weights": self.weights}
