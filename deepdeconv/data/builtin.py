"""The built-in data sets: `digits` (offline) and the Keras data sets.

- `digits`: scikit-learn's 1,797 8x8 handwritten digits, shipped inside scikit-learn, so it
  works without a network. Values 0..16 are scaled to 0..255; strokes are white on black,
  like MNIST.
- `mnist`, `fashion_mnist`, `cifar10`: the training split (60,000 / 60,000 / 50,000
  images) of the files `keras.datasets` downloads, from the same URLs with pinned sha256.
  `name:path` reads a local copy instead: an .npz with `x_train`/`y_train` (Keras'
  mnist.npz is one), or the published format (Fashion-MNIST: a folder with the IDX files;
  CIFAR-10: cifar-10-python.tar.gz or its extracted cifar-10-batches-py folder).

Every image is resized to the training resolution by `decode.fit_square`; for the 28x28
MNIST images at 32 px that is a plain bicubic upscale without padding, the usual DCGAN
convention.
"""
import dataclasses
import functools
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from deepdeconv.data import archives
from deepdeconv.data.download import RemoteFile, fetch
from deepdeconv.data.materialise import decode_all
from deepdeconv.data.source import ImageSource
from deepdeconv.errors import UserError

_KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_ZALANDO_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
_DIGITS = tuple(str(d) for d in range(10))


@dataclasses.dataclass(frozen=True)
class _KerasDataset:
    files: tuple  # RemoteFile per published file
    read_published: Callable  # paths of the fetched files -> (x, y)
    read_local: Callable  # a user's file or folder (not .npz) -> (x, y)
    class_names: tuple


def _fashion_local(path):
    if not path.is_dir():
        raise ValueError("expected an .npz file or a folder holding train-images-idx3-ubyte.gz")
    return archives.read_idx_pair(_first_existing(path, "train-images-idx3-ubyte"),
                                  _first_existing(path, "train-labels-idx1-ubyte"))


def _first_existing(folder, stem):
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise ValueError(f"the folder has no {stem}.gz")


def _cifar_local(path):
    if path.is_dir():
        inner = path / "cifar-10-batches-py"
        return archives.read_cifar_folder(inner if inner.is_dir() else path)
    return archives.read_cifar_tar(path)


# Hashes: mnist.npz and cifar-10-python.tar.gz as pinned in keras/src/datasets; the
# Fashion-MNIST files as published by Zalando (Keras' mirror serves the same bytes).
DATASETS = {
    "mnist": _KerasDataset(
        files=(RemoteFile("mnist.npz", "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
                          (_KERAS_URL + "mnist.npz",)),),
        read_published=lambda paths: archives.read_npz(paths[0]),
        read_local=lambda path: archives.read_npz(path),
        class_names=_DIGITS),
    "fashion_mnist": _KerasDataset(
        files=tuple(RemoteFile(name, sha, (_KERAS_URL + name, _ZALANDO_URL + name)) for name, sha in (
            ("train-images-idx3-ubyte.gz", "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"),
            ("train-labels-idx1-ubyte.gz", "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"))),
        read_published=lambda paths: archives.read_idx_pair(*paths),
        read_local=_fashion_local,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                     "Ankle boot")),
    "cifar10": _KerasDataset(
        files=(RemoteFile("cifar-10-python.tar.gz",
                          "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
                          ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)),),
        read_published=lambda paths: archives.read_cifar_tar(paths[0]),
        read_local=_cifar_local,
        class_names=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")),
}
NAMES = ("digits",) + tuple(DATASETS)


def load_builtin(name, resolution, channels=None, cache_dir=None, local_path=None) -> ImageSource:
    """Loads a built-in data set (training split) at `resolution`.

    Args:
        name: one of `NAMES`.
        resolution: output side in pixels.
        channels: 1 or 3 to force, None for the data set's own (1 for the MNISTs and digits).
        cache_dir: where resized images may be cached when they do not fit in memory.
        local_path: read this file or folder instead of the download cache (Keras data sets).
    """
    if name == "digits":
        images, labels, class_names, identity = _digits()
    else:
        images, labels, identity = _keras_arrays(name, local_path)
        class_names = DATASETS[name].class_names
    decoded = decode_all(lambda i, _: Image.fromarray(images[i]), len(images), resolution, name=name,
                         desc=f"Preparing {name}", channels=channels, grey_hint=images.ndim == 3,
                         cache_dir=cache_dir, cache_key=lambda: identity)
    return ImageSource(name=name, resolution=resolution, channels=decoded.channels, num_images=len(decoded.kept),
                       class_names=class_names, skipped=(), _store=decoded.store,
                       _labels=labels[decoded.kept].astype(np.int32))


def _digits():
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).astype(np.uint8)
    return images, digits.target.astype(np.int32), _DIGITS, "sklearn-digits"


def _keras_arrays(name, local_path):
    """(images, labels, identity) of a Keras data set, from `local_path` or the download cache."""
    dataset = DATASETS[name]
    if local_path is None:
        paths = [fetch(remote, name) for remote in dataset.files]
        where, read = paths[0], functools.partial(dataset.read_published, paths)
        identity = ",".join(remote.sha256 for remote in dataset.files)
    else:
        where = Path(local_path).expanduser()
        if not where.exists():
            raise UserError(f"--data {name}:{local_path}: no such file or folder.")
        read = functools.partial(archives.read_npz if where.suffix == ".npz" else dataset.read_local, where)
        stat = where.stat()
        identity = f"{where.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        images, labels = _checked(*read(), num_classes=len(dataset.class_names))
    except Exception as e:  # any malformed archive: one sentence naming the file
        raise UserError(f"Could not read {where} as {name} training data ({e}).") from None
    return images, labels, identity


def _checked(images, labels, num_classes):
    """Validates shapes and labels; squeezes [N, H, W, 1] and [N, 1] to [N, H, W] and [N]."""
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    labels = labels.reshape(-1)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] != 3):
        raise ValueError(f"images must be uint8 [N, H, W] or [N, H, W, 3], got {images.dtype} {images.shape}")
    if len(images) == 0 or len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(f"labels must lie in 0..{num_classes - 1}")
    return images, labels
