"""Writers for many images: a folder of PNGs and an .npz array, both streamed and all-or-nothing.

Memory stays flat however many images pass through: each batch is written and dropped.
Neither leaves a partial result behind on failure or Ctrl-C: PNGs go to a hidden folder
that is moved into place at the end, the .npz goes through `atomic_path`.
"""
import collections
import contextlib
import os
import shutil
import sys
import tempfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from deepdeconv.fileio import atomic_path
from deepdeconv.sampling.images import to_pil


def seed_filename(seed):
    """File name of the image of `seed` in a PNG folder, e.g. seed0042.png."""
    return f"seed{seed:04d}.png"


class PngFolder:
    """Writes one PNG per image into `folder`, encoding on worker threads.

    Pillow releases the GIL while compressing, so with a few batches in flight the workers
    encode while the caller generates the next batch. Files become visible in `folder` only
    when the `with` block ends without error.

    Usage:
        with PngFolder(path) as out:
            out.add(images, names)
    """

    def __init__(self, folder, workers=2, max_pending=4):
        self.folder = Path(folder)
        self.workers = workers
        self.max_pending = max_pending

    def __enter__(self):
        self._created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.folder))
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="png-writer")
        self._pending = collections.deque()
        return self

    def add(self, images, names):
        """Queues uint8 images [B, H, W, C] to be written under `names`; blocks if too far behind."""
        names = list(names)
        if len(names) != len(images):
            raise ValueError(f"{len(images)} images but {len(names)} names")
        while len(self._pending) >= self.max_pending:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(self._write, np.asarray(images), names))

    def _write(self, images, names):
        for image, name in zip(images, names):
            to_pil(image).save(self._tmp / name, format="PNG")

    def __exit__(self, exc_type, exc, tb):
        done = False
        try:
            if exc_type is None:
                while self._pending:
                    self._pending.popleft().result()
                for entry in os.scandir(self._tmp):
                    os.replace(entry.path, self.folder / entry.name)
                done = True
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(self._tmp, ignore_errors=True)
            if not done and self._created and not any(self.folder.iterdir()):
                self.folder.rmdir()


class NpzStream:
    """Writes `count` uint8 images to an .npz one batch at a time.

    The file holds `images` (uint8 [N, H, W, C], the array metrics read), `seeds` (int64
    [N]) and, for conditional generators, `labels` (int64 [N]); `np.load(path)["images"]`
    reads it. The images are written straight into an uncompressed zip member, so the array
    never has to exist in memory.

    Usage:
        with NpzStream(path, count) as out:
            out.add(images, seeds, labels)
    """

    def __init__(self, path, count):
        self.path = Path(path)
        self.count = count

    def __enter__(self):
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._zip = self._stack.enter_context(
            zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True))
        self._member = None
        self._written = 0
        self._seeds, self._labels = [], []
        return self

    def add(self, images, seeds, labels=None):
        """Appends a batch of uint8 images [B, H, W, C] with their seeds (and class labels)."""
        images = np.ascontiguousarray(images, dtype=np.uint8)
        if self._written + len(images) > self.count:
            raise ValueError(f"more than the announced {self.count} images")
        if self._member is None:
            self._member = self._stack.enter_context(self._zip.open("images.npy", "w", force_zip64=True))
            header = {"descr": np.lib.format.dtype_to_descr(images.dtype), "fortran_order": False,
                      "shape": (self.count,) + images.shape[1:]}
            np.lib.format.write_array_header_1_0(self._member, header)
        self._member.write(images.tobytes())
        self._written += len(images)
        self._seeds.append(np.asarray(seeds, np.int64))
        if labels is not None:
            self._labels.append(np.asarray(labels, np.int64))

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            try:
                self._finish()
            except BaseException:
                self._stack.__exit__(*sys.exc_info())
                raise
        return self._stack.__exit__(exc_type, exc, tb)

    def _finish(self):
        if self._written != self.count:
            raise ValueError(f"{self._written} images written, {self.count} announced")
        self._member.close()
        self._write_array("seeds", np.concatenate(self._seeds))
        if self._labels:
            self._write_array("labels", np.concatenate(self._labels))

    def _write_array(self, name, array):
        with self._zip.open(f"{name}.npy", "w") as f:
            np.lib.format.write_array(f, array)
