"""Where downloaded networks, trained classifiers and real-data statistics are kept."""
import hashlib
import os
from pathlib import Path

from deepdeconv.fingerprint import data_key

CACHE_ENV = "DEEPDECONV_CACHE"


def cache_dir(*parts):
    """The user cache directory (`$DEEPDECONV_CACHE` or `~/.cache/deepdeconv`), joined with `parts`.

    The directory is not created here: callers create it only when they write into it.
    """
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "deepdeconv")
    return Path(root).joinpath(*parts)


def source_key(spec):
    """A filesystem-safe cache key for a data spec (see `deepdeconv.fingerprint.data_key`)."""
    return data_key(spec)


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file, read in chunks so large files need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
