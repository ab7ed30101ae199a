"""Readers for the file formats the Keras data sets are published in.

Each reader returns the training split as (images uint8 [N, H, W] or [N, H, W, 3], labels [N]).
They read archives in place: nothing is extracted to disk.
"""
import gzip
import io
import pickle
import struct
import tarfile
import warnings

import numpy as np

_IDX_IMAGES, _IDX_LABELS = 0x0803, 0x0801  # IDX magic numbers: unsigned bytes, 3-D and 1-D


def read_npz(path):
    """`x_train` and `y_train` from an .npz (the format of Keras' mnist.npz; any data set saved so)."""
    with np.load(path, allow_pickle=False) as f:
        missing = {"x_train", "y_train"} - set(f.files)
        if missing:
            raise ValueError(f"it has no {' or '.join(sorted(missing))} array")
        return f["x_train"], f["y_train"]


def read_idx_pair(images_path, labels_path):
    """Images and labels from the (optionally gzipped) IDX files of MNIST and Fashion-MNIST."""
    images = _read_idx(images_path, _IDX_IMAGES)
    labels = _read_idx(labels_path, _IDX_LABELS)
    return images, labels


def _read_idx(path, magic):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    found, = struct.unpack(">I", data[:4])
    if found != magic:
        raise ValueError(f"{path} is not an IDX {'image' if magic == _IDX_IMAGES else 'label'} file")
    ndim = magic & 0xFF
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


CIFAR10_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def read_cifar_tar(path):
    """The CIFAR-10 training batches straight from cifar-10-python.tar.gz."""
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name.rsplit("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
        missing = [name for name in CIFAR10_BATCHES if name not in members]
        if missing:
            raise ValueError(f"the archive has no {missing[0]}")
        return _read_cifar_batches(tar.extractfile(members[name]).read() for name in CIFAR10_BATCHES)


def read_cifar_folder(folder):
    """The CIFAR-10 training batches from an extracted cifar-10-batches-py folder."""
    return _read_cifar_batches((folder / name).read_bytes() for name in CIFAR10_BATCHES)


def _read_cifar_batches(blobs):
    """Pickled CIFAR-10 python batches -> images [N, 32, 32, 3] and labels [N]."""
    images, labels = [], []
    for blob in blobs:
        batch = _RestrictedUnpickler.loads(blob)
        images.append(np.asarray(batch[b"data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[b"labels"]))
    return np.concatenate(images), np.concatenate(labels)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and plain containers only: a tampered file cannot run code."""

    # What pickled arrays need; _codecs.encode is how protocol 2 spells bytes under Python 3.
    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        with warnings.catch_warnings():  # numpy 2 warns on the numpy.core alias old pickles use
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)

    @classmethod
    def loads(cls, data):
        return cls(io.BytesIO(data), encoding="bytes").load()
