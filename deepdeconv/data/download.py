"""Fetching the published data set files once, verified by pinned sha256, into a user cache.

The folder is `$DEEPDECONV_DATA_DIR` if set, else `datasets/` in the user cache shared with the
metrics (`$DEEPDECONV_CACHE`, default `~/.cache/deepdeconv`). A machine without internet can
be served by copying the official files into that folder under their published names.
"""
import dataclasses
import os
import urllib.error
from pathlib import Path

from deepdeconv import cache
from deepdeconv.cache import cache_dir, sha256_file
from deepdeconv.errors import UserError

DATA_DIR_ENV = "DEEPDECONV_DATA_DIR"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """A published file: its name in the cache, its sha256, and mirrors tried in order."""

    name: str
    sha256: str
    urls: tuple


def data_dir() -> Path:
    """The folder that holds downloaded data set files."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV]).expanduser()
    return cache_dir("datasets")


def fetch(remote: RemoteFile, dataset: str) -> Path:
    """The verified local copy of `remote`, downloading it on first use.

    A file already in the cache is checked against the pinned sha256 too, so a truncated copy
    or a different file under the same name is reported instead of silently trained on.

    Raises:
        UserError: no mirror could be downloaded, or the bytes do not match the checksum.
    """
    path = data_dir() / remote.name
    if path.is_file():
        if sha256_file(path) != remote.sha256:
            raise UserError(f"{path} does not match the published {dataset} file (sha256 mismatch); delete it "
                            "to download it again.")
        return path
    problems = []
    for url in remote.urls:
        try:
            # Nothing lands in the cache unless it verifies.
            return cache.download(url, path, sha256=remote.sha256)
        except cache.ChecksumMismatch:
            problems.append(f"{url} sent a file whose sha256 does not match the published one")
        except (OSError, urllib.error.URLError) as e:
            problems.append(f"{url}: {getattr(e, 'reason', None) or e}")
    raise UserError(f"Could not download {dataset} ({'; '.join(problems)}); put {remote.name} into "
                    f"{path.parent} (or set {DATA_DIR_ENV}), or pass --data {dataset}:/path/to/a/local/copy.")
