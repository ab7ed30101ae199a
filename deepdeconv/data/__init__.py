"""Training data: folders and built-in data sets -> tf.data of images in [-1, 1] with labels.

    source = load_source("digits", resolution=32)            # or a folder, mnist, cifar10, ...
    batches = training_batches(source, batch_size=64, seed=0)  # endless, shuffled, resumable
    for real in real_uint8_batches(source, 500): ...            # uint8 batches for metrics

Modules: `load` (spec parsing), `folder` and `builtin` (the sources), `decode` (PIL, one
image), `materialise` (decode all in parallel; memory or cache file), `download` (verified
downloads), `archives` (Keras file formats), `source` (ImageSource), `batches` (pipelines).
"""
from deepdeconv.data.batches import real_uint8_batches, training_batches
from deepdeconv.data.builtin import NAMES as BUILTIN_NAMES
from deepdeconv.data.load import load_source
from deepdeconv.data.source import ImageSource

__all__ = ["BUILTIN_NAMES", "ImageSource", "load_source", "real_uint8_batches", "training_batches"]
