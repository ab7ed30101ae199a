"""What a `--data` spec is, as data: its resolved location and a fingerprint of its files.

Two uses: a run records the absolute folder it trained on and a fingerprint (file count and
total size), so `--resume` from another working directory trains on the same images and refuses
images that changed; and caches (real statistics, metric classifiers) are keyed on what the data
is (resolved path and every file's size and modification time) rather than on how it was
spelled, so `./mnist` and the built-in `mnist` never share an entry.
"""
import hashlib
import os
from pathlib import Path

from deepdeconv.data.builtin import DATASETS, NAMES
from deepdeconv.errors import UserError
from deepdeconv.fileio import is_image_file, slug
from deepdeconv.paths import walk_dirs


def _split(spec):
    """(built-in data set name or "", local path text or None) of a data spec, as `load_source` reads it."""
    spec = str(spec)
    if spec in NAMES or "://" in spec:
        return "", None
    name, colon, rest = spec.partition(":")
    if colon and name in DATASETS and rest:
        return name, rest
    return "", spec


def local_path(spec):
    """The local file or folder a data spec reads, resolved; None for built-in names, URLs and missing paths.

    Follows `load_source`'s precedence: a built-in name wins over a folder of the same name,
    and `NAME:PATH` reads PATH.
    """
    _, text = _split(spec)
    if text is None:
        return None
    path = Path(os.path.expanduser(text))
    return path.resolve() if path.exists() else None


def _files(path):
    """(relative path, os.stat) of the data files under `path` (or of `path` itself), sorted."""
    path = Path(path)
    if path.is_file():
        return [(path.name, path.stat())]
    found = []
    for root, dirs, names in walk_dirs(path):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if is_image_file(name):
                file = Path(root, name)
                found.append((file.relative_to(path).as_posix(), file.stat()))
    return sorted(found, key=lambda item: item[0])


def fingerprint(path):
    """"N files, S bytes" for a local data folder or file: what a resumed run must find again."""
    files = _files(path)
    return f"{len(files)} files, {sum(s.st_size for _, s in files)} bytes"


def resolved_spec(spec):
    """(spec with its local path made absolute, fingerprint), or (spec, "") for built-ins and URLs."""
    path = local_path(spec)
    if path is None:
        return str(spec), ""
    dataset, _ = _split(spec)
    return (f"{dataset}:{path}" if dataset else str(path)), fingerprint(path)


def source_key(spec):
    """A filesystem-safe cache key naming exactly the data a spec reads.

    Built-in names and URLs key on their text (a built-in's files are checked against published
    hashes when loaded); a local file or folder keys on its resolved path and the relative path,
    size and modification time of every data file, so editing, adding or replacing a file, or
    pointing at another folder, changes the key.
    """
    path = local_path(spec)
    if path is None:
        safe = slug(str(spec), empty="")
        if safe != str(spec):  # e.g. "gs://b/data": keep it readable, make it unique
            safe = f"{safe}-{hashlib.sha256(str(spec).encode()).hexdigest()[:8]}"
        return safe
    digest = hashlib.sha256(f"{path}\n".encode())
    for rel, stat in _files(path):
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    dataset, _ = _split(spec)
    return f"{slug(dataset or path.name, empty='folder')}-{digest.hexdigest()[:16]}"


def check_data_unchanged(config):
    """Refuses to resume a run whose local data folder no longer holds what it was trained on.

    Args:
        config: the resumed run's TrainConfig (its `data` and recorded `data_fingerprint`).

    Raises:
        UserError: the folder is gone or its file count or total size changed.
    """
    if not config.data_fingerprint:
        return  # a built-in data set, a URL, or a run recorded before fingerprints existed
    path = local_path(config.data)
    found = fingerprint(path) if path is not None else "nothing"
    if found != config.data_fingerprint:
        raise UserError(f"--data {config.data} held {config.data_fingerprint} when the run started and now holds "
                        f"{found}; pass --allow-data-change to resume on it anyway.")
