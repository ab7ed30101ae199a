"""Running a generator in batches: latents (and class labels) in, uint8 images out."""
import keras
import numpy as np

from deepdeconv.pixels import to_uint8
from deepdeconv.sampling.latents import latents_from_seeds


def is_conditional(generator):
    """True if the generator takes `[z, labels]` rather than `z` alone."""
    return len(generator.inputs) == 2


def z_dim_of(generator):
    """Latent size the generator expects."""
    return int(generator.inputs[0].shape[-1])


def num_classes_of(generator):
    """Number of classes a conditional generator knows, read from the model, or None.

    A one-hot label input tells it by its width; an integer label input tells it through
    the Embedding layer that consumes it.
    """
    if not is_conditional(generator):
        return None
    width = generator.inputs[1].shape[-1]
    if len(generator.inputs[1].shape) == 2 and width and width > 1:
        return int(width)
    embeddings = [layer for layer in generator.layers if isinstance(layer, keras.layers.Embedding)]
    return int(embeddings[0].input_dim) if embeddings else None


def label_input(generator, labels):
    """Class indices [B] in the form the generator's label input takes (one-hot or ints)."""
    spec = generator.inputs[1]
    labels = np.asarray(labels).reshape(-1)
    if len(spec.shape) == 2 and spec.shape[-1] and spec.shape[-1] > 1:
        return np.eye(spec.shape[-1], dtype=np.float32)[labels]
    return labels.reshape((-1,) + tuple(spec.shape[1:])).astype(spec.dtype)


def generate(generator, latents, batch_size=256, labels=None):
    """Runs the generator over `latents` in inference mode, one batch at a time.

    Every call runs with the same batch shape (the last batch is padded and the padding
    dropped) so the compiled predict function is traced once, not once per odd tail.

    Args:
        generator: a Keras generator taking z [B, z_dim], or `[z, labels]` when conditional.
        latents: float32 array [N, z_dim].
        batch_size: images per model call.
        labels: class indices [N] for a conditional generator, else None.

    Yields:
        uint8 arrays [b, H, W, C], b <= batch_size, in the order of `latents`.
    """
    latents = np.asarray(latents, np.float32)
    for _, images in _batched(generator, latents, labels, batch_size, lambda part: latents[part]):
        yield images


def generate_from_seeds(generator, seeds, batch_size=256, labels=None, trunc=None):
    """Streams images for a long seed list while holding only one batch of latents.

    Args:
        generator: see `generate`.
        seeds: sequence of seeds (a `range` costs no memory).
        batch_size: images per model call.
        labels: class indices [N] aligned with `seeds`, or None.
        trunc: truncation threshold for `latents_from_seeds`, or None.

    Yields:
        (seeds of the batch, uint8 images [b, H, W, C]).
    """
    z_dim = z_dim_of(generator)
    yield from _batched(generator, seeds, labels, batch_size,
                        lambda part: latents_from_seeds(seeds[part], z_dim, trunc=trunc))


def _batched(generator, items, labels, batch_size, latents_of):
    """The one batching loop: yields (items[part], uint8 images) per batch of `items`."""
    _check_labels(generator, labels)
    size = max(1, min(batch_size, len(items)))
    for start in range(0, len(items), size):
        part = slice(start, start + size)
        batch_labels = None if labels is None else np.asarray(labels)[part]
        yield items[part], _predict(generator, latents_of(part), batch_labels, size)


def _check_labels(generator, labels):
    if is_conditional(generator) and labels is None:
        raise ValueError("a conditional generator needs labels")
    if not is_conditional(generator) and labels is not None:
        raise ValueError("labels were given for an unconditional generator")


def _predict(generator, z, labels, size):
    """One inference call on a batch padded to `size`; returns uint8 images without the padding."""
    count = len(z)
    inputs = _pad(z, size)
    if labels is not None:
        inputs = [inputs, label_input(generator, _pad(labels, size))]
    return to_uint8(generator.predict_on_batch(inputs))[:count]


def _pad(array, size):
    """Pads the first axis to `size` by repeating the last row."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.repeat(array[-1:], size - len(array), axis=0)])
