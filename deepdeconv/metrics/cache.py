"""Where downloaded networks, trained classifiers and real-data statistics are kept."""
import hashlib
import os
from pathlib import Path

from deepdeconv.fingerprint import data_key

CACHE_ENV = "DEEPDECONV_CACHE"

# Image suffixes that count towards a folder's fingerprint.
_IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def cache_dir(*parts):
    """The user cache directory (`$DEEPDECONV_CACHE` or `~/.cache/deepdeconv`), joined with `parts`.

    The directory is not created here: callers create it only when they write into it.
    """
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "deepdeconv")
    return Path(root).joinpath(*parts)


def folder_fingerprint(folder):
    """A short hash of a folder's image files (relative path, size, modification time).

    Reading every byte of a large dataset just to key a cache would cost as much as the
    statistics themselves; size and mtime change whenever a file is replaced or edited.
    """
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES:
            info = path.stat()
            digest.update(f"{path.relative_to(folder).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def source_key(spec):
    """A filesystem-safe cache key for a data spec (see `deepdeconv.fingerprint.data_key`)."""
    return data_key(spec)


def _safe(text):
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in text).strip("-.")


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, read in chunks so large files need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
