"""Decode every image of a source once, in parallel, into memory or a memory-mapped cache.

Decoding everything up front is what finds the undecodable files and the channel count
before training starts. Where the pixels then live depends on their size:

- up to `MEMORY_LIMIT_BYTES`: one uint8 array in memory;
- larger, with a `cache_dir`: a `.npy` file there, memory-mapped, reused by later runs on
  the same files (keyed by paths, sizes, modification times and resolution);
- larger, without a `cache_dir`: nothing is kept; images are decoded again when read.
"""
import concurrent.futures
import dataclasses
import hashlib
import json
import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deepdeconv.data.decode import fit_square, is_grey, to_channels
from deepdeconv.data.source import ArrayStore, FunctionStore
from deepdeconv.fileio import atomic_path, slug, write_json

# In-memory pixels become one constant inside the tf.data graph; a distributed dataset may
# serialise that graph, and protocol buffers stop at 2 GB. 1 GiB keeps a safe margin
# (CIFAR-10 at 64 px is 0.6 GB, MNIST at 128 px 1.0 GB).
MEMORY_LIMIT_BYTES = 1 << 30
_CHUNK = 1024  # images converted at a time when changing channel count: bounds temporary memory
_TASK = 64  # images per thread-pool task
_CACHE_VERSION = 1  # bump when decoding changes, so old cache files are not reused


@dataclasses.dataclass(frozen=True)
class Decoded:
    """What `decode_all` found.

    Attributes:
        store: ArrayStore or FunctionStore holding the decoded images, in `kept` order.
        channels: 1 or 3.
        kept: item indices that decoded, ascending.
        failures: ((item index, reason), ...) for items that did not.
    """

    store: object
    channels: int
    kept: np.ndarray
    failures: tuple


def decode_all(load_item, count, resolution, *, name, desc, channels=None, grey_hint=False, cache_dir=None,
               cache_key=None):
    """Decodes items 0..count-1 and squares them to `resolution`, showing a progress bar.

    Args:
        load_item: `load_item(index, resolution)` -> PIL image in mode "L" or "RGB"; may raise
            for an undecodable item, which is then skipped.
        count: number of items.
        resolution: output side in pixels.
        name: the source's name, used in the cache file's name.
        desc: progress bar label.
        channels: 1 or 3 to force, None to detect (1 when every image is grey).
        grey_hint: the items are known to be grey (stores one channel while decoding).
        cache_dir: where a memory-mapped cache may be written when the data is large.
        cache_key: callable returning a string that identifies the items' content.

    Returns:
        A `Decoded`.
    """
    stored_channels = channels or (1 if grey_hint else 3)
    if count * resolution * resolution * stored_channels <= MEMORY_LIMIT_BYTES:
        return _in_memory(load_item, count, resolution, stored_channels, channels, desc)
    if cache_dir is not None:
        return _memory_mapped(load_item, count, resolution, stored_channels, channels, desc,
                              _cache_stem(name, resolution, stored_channels, cache_key()), Path(cache_dir))
    return _on_demand(load_item, count, resolution, channels, desc)


def _in_memory(load_item, count, resolution, stored_channels, channels, desc):
    sink = np.empty((count, resolution, resolution, stored_channels), np.uint8)
    grey, failures = _render_all(load_item, count, resolution, stored_channels, sink, desc)
    kept = _kept(count, failures)
    channels = channels or (1 if grey[kept].all() else 3)
    pixels = sink[kept] if failures else sink
    if len(pixels) and pixels.shape[-1] != channels:
        pixels = np.concatenate([to_channels(pixels[i:i + _CHUNK], channels) for i in range(0, len(pixels), _CHUNK)])
    return Decoded(ArrayStore(pixels), channels, kept, failures)


def _cache_stem(name, resolution, stored_channels, content_key):
    """Cache file name: readable prefix, then a hash of everything the pixels depend on."""
    key = hashlib.sha256(f"{_CACHE_VERSION}|{resolution}|{stored_channels}|{content_key}".encode()).hexdigest()
    return f"{slug(name, empty='data')}-{resolution}px-{key[:16]}"


def _memory_mapped(load_item, count, resolution, stored_channels, channels, desc, stem, cache_dir):
    data_path, meta_path = cache_dir / f"{stem}.npy", cache_dir / f"{stem}.json"
    meta = _read_meta(meta_path, count) if data_path.is_file() else None
    if meta is None:
        with atomic_path(data_path) as tmp:
            sink = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8,
                                             shape=(count, resolution, resolution, stored_channels))
            grey, failures = _render_all(load_item, count, resolution, stored_channels, sink, desc)
            sink.flush()
            del sink
        kept = _kept(count, failures)
        meta = {"count": count, "failures": [list(f) for f in failures], "all_grey": bool(grey[kept].all())}
        write_json(meta_path, meta)  # written last: its presence means the data file is complete
    failures = tuple((int(i), str(reason)) for i, reason in meta["failures"])
    kept = _kept(count, failures)
    channels = channels or (1 if meta["all_grey"] else 3)
    pixels = np.load(data_path, mmap_mode="r")

    def read(indices):
        return np.ascontiguousarray(to_channels(pixels[kept[indices]], channels))

    return Decoded(FunctionStore(read, resolution, channels), channels, kept, failures)


def _on_demand(load_item, count, resolution, channels, desc):
    # The full pass still runs, to list the undecodable files and count channels up front.
    grey, failures = _render_all(load_item, count, resolution, channels or 3, None, f"{desc} (checking)")
    kept = _kept(count, failures)
    channels = channels or (1 if grey[kept].all() else 3)

    def read(indices):
        return np.stack([_render_one(load_item, kept[i], resolution, channels)[0] for i in indices])

    return Decoded(FunctionStore(read, resolution, channels), channels, kept, failures)


def _render_one(load_item, index, resolution, channels):
    pixels = fit_square(load_item(index, resolution), resolution)
    return to_channels(pixels, channels), is_grey(pixels)


def _render_all(load_item, count, resolution, channels, sink, desc):
    """Renders every item into `sink` (or nowhere); returns (grey flags, failures)."""
    grey = np.zeros(count, bool)

    def work(indices):
        failures = []
        for index in indices:
            try:
                pixels, grey[index] = _render_one(load_item, index, resolution, channels)
            except Exception as e:  # any decoder failure means "skip this file", never "stop"
                failures.append((index, str(e) or type(e).__name__))
                continue
            if sink is not None:
                sink[index] = pixels
        return len(indices), failures

    failures = []
    # PIL releases the GIL while decoding and resizing, so one thread per core keeps every
    # core busy; tasks of several images keep the per-task overhead small for tiny images.
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
    try:
        tasks = (range(i, min(count, i + _TASK)) for i in range(0, count, _TASK))
        with tqdm(total=count, desc=desc, unit="img", dynamic_ncols=True) as bar:
            for done, task_failures in pool.map(work, tasks):
                failures += task_failures
                if task_failures:
                    bar.set_postfix(skipped=len(failures), refresh=False)
                bar.update(done)
    finally:
        pool.shutdown(cancel_futures=True)  # on Ctrl-C, do not decode what is still queued
    return grey, tuple(failures)


def _kept(count, failures):
    return np.setdiff1d(np.arange(count), [i for i, _ in failures]).astype(np.int64)


def _read_meta(path, count):
    """The cache's metadata if it is present, readable and for `count` items; else None."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("count") == count else None
