"""The identity of a feature network: what cached real statistics must have been computed with."""
import hashlib

import numpy as np


def weights_sha256(model):
    """Hex sha256 of a Keras model's weights (shapes and values, in order).

    Two networks with the same name but other weights (a classifier retrained after its cache
    entry was deleted, Keras InceptionV3 with other weights) give different hashes, so their
    cached real-data statistics are never mixed up.
    """
    digest = hashlib.sha256()
    for weight in model.weights:
        value = np.ascontiguousarray(weight.numpy())
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
