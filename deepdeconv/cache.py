"""The user cache: its folder, its keys, file hashes, and the one downloader.

Downloaded data sets and networks, trained metric classifiers, real-data statistics and
staged remote folders all live under `$DEEPDECONV_CACHE` (default `~/.cache/deepdeconv`).
"""
import hashlib
import os
import urllib.request
from pathlib import Path

from tqdm import tqdm

from deepdeconv.fileio import atomic_path

CACHE_ENV = "DEEPDECONV_CACHE"
_TIMEOUT_SECONDS = 60


def cache_dir(*parts):
    """The user cache directory (`$DEEPDECONV_CACHE` or `~/.cache/deepdeconv`), joined with `parts`.

    The directory is not created here: callers create it only when they write into it.
    """
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "deepdeconv")
    return Path(root).joinpath(*parts)


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, read in chunks so large files need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def download(url, dest, sha256=None, desc=None):
    """Streams `url` into `dest` atomically with a progress bar (rate and ETA).

    Args:
        url: http(s) URL.
        dest: destination path; written only if the download completes (and verifies).
        sha256: expected hex digest, or None to accept any content.
        desc: progress bar label (default: the file name).

    Raises:
        OSError, urllib.error.URLError: the download failed.
        ChecksumMismatch: the bytes do not match `sha256`; `dest` is left untouched.
    """
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_SECONDS) as response, open(tmp, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, desc=desc or f"Downloading {url.rsplit('/', 1)[-1]}", unit="B", unit_scale=True,
                      unit_divisor=1024, dynamic_ncols=True) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    bar.update(len(block))
        if sha256 is not None and sha256_file(tmp) != sha256:
            raise ChecksumMismatch(url)
    return dest


class ChecksumMismatch(Exception):
    """A download whose sha256 differs from the pinned one."""
