"""Where the 2015-12-05 Inception graph file comes from, and the check that it is the right file.

Where the file comes from, in order: `path` argument (`--inception`), `$DEEPDECONV_INCEPTION`,
the user cache, a download into the user cache. No reference implementation publishes a
checksum of this file, so the integrity check is trust-on-first-use unless
`PINNED_SHA256` is set: the first download records its sha256 beside the cached file and
every later load must match it. Results record the sha256 of the graph they used.
"""
import os
import shutil
import tarfile
import urllib.error
import warnings
from pathlib import Path

from deepdeconv.cache import cache_dir, download, sha256_file
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path

URL = "https://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
GRAPH_FILE = "classify_image_graph_def.pb"
ENV_VAR = "DEEPDECONV_INCEPTION"
# sha256 of classify_image_graph_def.pb. None: no published value could be found; set it
# from the `.sha256` file a first download records (see `graph_path`).
PINNED_SHA256 = None

_HOW_TO_GET = (f"download {URL} on a connected machine and pass the .tgz or the {GRAPH_FILE} inside it with "
               f"--inception PATH or ${ENV_VAR}, or use the offline classifier metrics (cfid, cis, ckid)")


def _cached_graph():
    return cache_dir("inception", GRAPH_FILE)


def _recorded_hash_path(pb_path):
    return Path(str(pb_path) + ".sha256")


def extract_graph(tgz_path, destination):
    """Extracts `classify_image_graph_def.pb` from the release archive to `destination`."""
    try:
        with tarfile.open(tgz_path, "r:*") as tar:
            member = next((m for m in tar.getmembers() if Path(m.name).name == GRAPH_FILE and m.isfile()), None)
            if member is None:
                raise UserError(f"{tgz_path} does not contain {GRAPH_FILE}; is it inception-2015-12-05.tgz?")
            with tar.extractfile(member) as src, atomic_path(destination) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{tgz_path} is not a readable .tgz archive ({e}).") from None
    return Path(destination)


def download_graph(destination=None, url=URL):
    """Downloads the release archive with a progress bar and extracts the graph into the cache.

    Returns:
        Path of the extracted `.pb`.
    """
    destination = Path(destination or _cached_graph())
    archive = destination.with_name("inception-2015-12-05.tgz")
    try:
        download(url, archive, desc="Downloading the Inception graph")
    except (OSError, urllib.error.URLError) as e:
        raise UserError(f"The Inception graph is not available and could not be downloaded ({e}); "
                        f"{_HOW_TO_GET}.") from None
    try:
        return extract_graph(archive, destination)
    finally:
        archive.unlink(missing_ok=True)


def verify_graph(pb_path, record=False):
    """Checks a graph file's sha256 against the pinned value or the one recorded at first download.

    Args:
        pb_path: the `.pb` file.
        record: store the hash when nothing is known yet (trust on first use).

    Returns:
        The file's sha256.
    """
    digest = sha256_file(pb_path)
    recorded = _recorded_hash_path(pb_path)
    expected = PINNED_SHA256 or (recorded.read_text().strip() if recorded.is_file() else None)
    if expected and digest != expected:
        raise UserError(f"{pb_path} has sha256 {digest} but {expected} was expected; delete it and download "
                        "the graph again.")
    if expected is None and record:
        with atomic_path(recorded) as tmp:
            tmp.write_text(digest + "\n")
        warnings.warn(f"No published checksum exists for {GRAPH_FILE}; recorded its sha256 {digest} in {recorded} "
                      "and every later load will be checked against it (trust on first use).", stacklevel=2)
    return digest


def graph_path(path=None, download=True):
    """Finds the Inception `.pb`: option, environment variable, cache, then download.

    A `.tgz` given by the user is extracted into the cache once (keyed by its hash).

    Args:
        path: a `.pb`, the `.tgz`, or a folder holding the `.pb`, given explicitly
            (`--inception`), or None.
        download: whether to download when nothing local is found.

    Returns:
        (path to the .pb, its sha256).
    """
    given = path or os.environ.get(ENV_VAR)
    if given:
        given = Path(given).expanduser()
        origin = "--inception" if path else f"${ENV_VAR}"
        if given.is_dir():  # TTUR's --inception names the folder holding the .pb
            given = given / GRAPH_FILE
        if not given.is_file():
            raise UserError(f"The Inception graph {given} given by {origin} does not exist.")
        if given.suffix == ".pb":
            return given, verify_graph(given)
        extracted = cache_dir("inception", f"from-{sha256_file(given)[:16]}", GRAPH_FILE)
        if not extracted.is_file():
            extract_graph(given, extracted)
        return extracted, verify_graph(extracted)
    cached = _cached_graph()
    if cached.is_file():
        return cached, verify_graph(cached)
    if not download:
        raise UserError(f"The Inception graph is not available; {_HOW_TO_GET}.")
    return cached, verify_graph(download_graph(cached), record=True)
