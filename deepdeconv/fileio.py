"""Atomic, durable file writing: a crash, Ctrl-C or power cut never leaves a half-written file."""
import contextlib
import json
import os
import secrets
import re
from pathlib import Path

# Files the loader, the metrics and every folder listing treat as images.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEMP_TOKEN_BYTES = 4
# `atomic_path`'s temporaries: ".<stem>.<random hex>.tmp<suffix>"
_TEMP_NAME = re.compile(rf"\..+\.[0-9a-f]{{{2 * TEMP_TOKEN_BYTES}}}\.tmp(\.[^./]+)?")


def is_image_file(path):
    """True if `path` has one of IMAGE_SUFFIXES (any case) and is not hidden."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def slug(text, empty="run"):
    """`text` as a safe file-name part: runs of other characters than A-Z a-z 0-9 _ . - become "-".

    Args:
        text: any name (a data set, a URL's last part, a run name).
        empty: what to return when nothing safe is left.
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-.") or empty


def _fsync(path, flags=os.O_RDONLY):
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`; renames it onto `path` only on success.

    The temporary file lives in the same directory so that `os.replace` is a rename on one
    filesystem, which POSIX guarantees atomic. The file is flushed to disk before the rename and
    the directory after it, so a power cut leaves either the old file or the complete new one.
    The file gets the mode the umask gives any new file (not the 0600 of a private temporary),
    so a shared output folder stays readable. On any exception the temporary is removed and
    the previous `path`, if any, is untouched.

    Args:
        path: final destination.

    Yields:
        A `Path` to write to. Its suffix matches `path`'s, since some writers (Keras, Pillow)
        choose the format from the suffix.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.stem}.{secrets.token_hex(TEMP_TOKEN_BYTES)}.tmp{path.suffix}"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, path)
        _fsync(path.parent, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder):
    """Deletes the temporaries of `atomic_path` writes that a kill -9 or power cut left in `folder`.

    Only for a folder no other process writes into at the time (a run being resumed): a live
    write's temporary looks the same.

    Args:
        folder: searched recursively; a missing folder is fine.

    Returns:
        The removed paths.
    """
    folder = Path(folder)
    stale = [p for p in folder.rglob(".*.tmp*") if p.is_file() and _TEMP_NAME.fullmatch(p.name)] \
        if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


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


def read_jsonl(path, event=None):
    """The records of a JSON-lines log, oldest first; [] when the file does not exist.

    A line cut short by a crash (the only way an appended log is damaged) is skipped, as is
    anything that is not a JSON object.

    Args:
        path: a `.jsonl` file.
        event: keep only records whose "event" field equals this (None keeps all).
    """
    path = Path(path)
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and (event is None or record.get("event") == event):
            records.append(record)
    return records
