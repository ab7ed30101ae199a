"""Atomic file writing: a crash or Ctrl-C never leaves a half-written file behind."""
import contextlib
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it onto `path` only on success.

    The temporary file lives in the same directory so that `os.replace` is a rename on one
    filesystem, which POSIX guarantees atomic. On any exception the temporary is removed and
    the previous `path`, if any, is untouched.

    Args:
        path: final destination.

    Yields:
        A `Path` to write to. Its suffix matches `path`'s, since some writers (Keras, Pillow)
        choose the format from the suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path, obj):
    """Writes `obj` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def append_jsonl(path, record):
    """Appends one JSON line and flushes it to disk.

    Appending a single short line with one write() is as close to atomic as a log gets: a
    crash loses at most the line being written, never earlier lines.
    """
    line = json.dumps(record, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
