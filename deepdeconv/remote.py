"""gs:// (any `tf.io.gfile` URL) for --data, --outdir and run directories, staged on local disk.

A run directory on a bucket is written locally first and mirrored file by file: local disk
gives what the rest of deepdeconv relies on (atomic renames, appends to log.jsonl, `np.load`
of a checkpoint), and a cloud object appears whole or not at all, so a copy is as safe as the
local rename it follows. Remote data folders are downloaded once into the user cache and
decoded from there, which is also what a TPU VM's host-side input pipeline wants.
"""
import hashlib
import os
import random
import re
import shutil
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tensorflow as tf
from tqdm.auto import tqdm

from deepdeconv import rundir
from deepdeconv.cache import cache_dir
from deepdeconv.errors import UserError
from deepdeconv.fileio import slug
from deepdeconv.paths import safe_join

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_WORKERS = 16  # concurrent requests to the remote file system


def is_url(path):
    """True for `gs://bucket/x` and other `scheme://` paths that `tf.io.gfile` opens."""
    return bool(_URL.match(str(path)))


def join(url, *parts):
    """`url/part/...` without doubling slashes (pathlib would collapse `gs://` to `gs:/`)."""
    return "/".join([str(url).rstrip("/"), *[str(p).strip("/") for p in parts]])


def basename(url):
    """The last component of a URL: `gs://b/data/cats/` -> `cats`."""
    return str(url).rstrip("/").rsplit("/", 1)[-1]


def staging_dir(url, *parts):
    """The local folder that stands in for `url` (stable, so a later resume finds it)."""
    key = hashlib.sha256(str(url).rstrip("/").encode()).hexdigest()[:12]
    return cache_dir("remote", f"{slug(basename(url), empty='root')}-{key}", *parts)


def _gfile(what, url, fn, *args):
    """Calls a tf.io.gfile function, turning its errors into one sentence naming `url`."""
    try:
        return fn(*args)
    except tf.errors.OpError as e:
        reason = e.message.strip().splitlines()[0] if e.message else type(e).__name__
        reason = re.sub(r"\s*\(file: .*\)$", "", reason)  # TensorFlow repeats the path
        raise UserError(f"Cannot {what} {url} ({reason}).") from None


def exists(url):
    """Whether `url` exists (UserError when its file system cannot be reached)."""
    return bool(_gfile("reach", url, tf.io.gfile.exists, url))


def _in_parallel(fn, items, desc=None, progress=False):
    """[fn(item) for item in items], with requests overlapped; a bar when `desc` is given.

    An object store answers each small-file request at network latency, so a folder of
    thousands of images is fetched many requests at a time (gfile calls release the GIL).
    """
    with ThreadPoolExecutor(_WORKERS) as pool:
        return list(tqdm(pool.map(fn, items), total=len(items), desc=desc, unit="file",
                         disable=not (progress and desc and items)))


def remote_files(url):
    """{relative path: size} of every file under `url`."""
    if not _gfile("list", url, tf.io.gfile.isdir, url):
        return {}
    paths = []
    for folder, _, files in _gfile("list", url, lambda: list(tf.io.gfile.walk(url))):
        rel_folder = str(folder)[len(str(url).rstrip("/")):].strip("/")
        paths += [f"{rel_folder}/{name}" if rel_folder else name for name in files]
    sizes = _in_parallel(lambda rel: _gfile("read", join(url, rel), tf.io.gfile.stat, join(url, rel)).length, paths)
    return dict(zip(paths, sizes))


def download_tree(url, local, skip=(), progress=True):
    """Makes the folder `local` a copy of the remote folder `url`.

    Files already there with the remote size are kept (a resumed run re-downloads only what
    grew, such as log.jsonl); local files the remote folder no longer has are deleted, so a
    stale checkpoint left from an earlier session cannot be mistaken for the newest.

    Args:
        url: remote folder.
        local: local folder (created).
        skip: top-level subfolder names not to download.
        progress: show a progress bar.

    Returns:
        `local` as a Path.
    """
    local = Path(local)

    def kept(rel):
        return rel.split("/", 1)[0] not in skip

    files = {rel: size for rel, size in remote_files(url).items() if kept(rel)}
    for rel in files:  # a bucket is someone else's: every name must land inside `local`
        safe_join(local, rel, url)
    todo = [rel for rel, size in sorted(files.items())
            if not ((local / rel).is_file() and (local / rel).stat().st_size == size)]

    def fetch(rel):
        target = local / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        _gfile("download", join(url, rel), tf.io.gfile.copy, join(url, rel), str(partial), True)
        os.replace(partial, target)

    _in_parallel(fetch, todo, f"Downloading {basename(url)}", progress)
    if local.is_dir():
        for path in list(local.rglob("*")):
            rel = path.relative_to(local).as_posix()
            if path.is_file() and rel not in files and kept(rel):
                path.unlink()
    return local


def next_run_name(url, name):
    """The next numbered run folder name under the remote output folder `url` (`00003-name`)."""
    safe = slug(name) if name else "run"
    taken = []
    if _gfile("list", url, tf.io.gfile.isdir, url):
        taken = [int(n[:5]) for n in _gfile("list", url, tf.io.gfile.listdir, url) if re.match(r"^\d{5}-", n)]
    rundir.check_run_number(max(taken, default=-1) + 1, url)
    return f"{max(taken, default=-1) + 1:05d}-{safe}"


_CLAIMS = ".claims"  # folder of claim markers beside the run folders
_CLAIM_TRIES = 20


def _claims(outdir_url, number):
    """Tokens of every claim marker for run number `number` (any run name)."""
    folder = join(outdir_url, _CLAIMS)
    if not _gfile("list", folder, tf.io.gfile.isdir, folder):
        return []
    return [entry.rstrip("/").rsplit(".", 1)[-1] for entry in _gfile("list", folder, tf.io.gfile.listdir, folder)
            if entry.startswith(f"{number}-")]


def _write_text(url, text):
    with tf.io.gfile.GFile(url, "w") as f:  # closing is what uploads the object
        f.write(text)


def claim_run(outdir_url, name):
    """Takes the next run number under `outdir_url` so that no other launch can take it too.

    An object store has no create-if-absent through `tf.io.gfile` (GCS has it only as a
    request precondition gfile does not expose), and a folder is just a name prefix, so
    `makedirs` succeeds for both of two launches. What is atomic is writing one whole object,
    and a GCS listing is strongly consistent: it shows every object whose write completed
    before the listing began. So each launch creates the run folder it wants, writes a marker
    `.claims/<run name>.<random token>` beside it, then lists every marker for that number,
    and keeps the number only if its own is the only one. Of two launches, the one that lists second sees both markers,
    so at most one wins; when both see both, both withdraw and retry after a random pause,
    and the numbers they tried stay skipped. TF's in-memory `ram://` file system, used by the
    tests, gives the same guarantees.

    Returns:
        The claimed run folder's URL (its marker stays, so a later launch cannot take the number).
    """
    token = uuid.uuid4().hex
    for attempt in range(_CLAIM_TRIES):
        url = join(outdir_url, next_run_name(outdir_url, name))
        marker = join(outdir_url, _CLAIMS, f"{basename(url)}.{token}")
        _gfile("create", url, tf.io.gfile.makedirs, url)
        _gfile("create", marker, tf.io.gfile.makedirs, join(outdir_url, _CLAIMS))
        _gfile("create", marker, _write_text, marker, token)
        if _claims(outdir_url, basename(url)[:5]) == [token]:
            return url
        _gfile("delete", marker, tf.io.gfile.remove, marker)
        time.sleep(random.uniform(0.05, 0.25) * (attempt + 1))
    raise UserError(f"Could not claim a run number under {outdir_url} after {_CLAIM_TRIES} tries; too many "
                    "launches are starting there at once.")


def create_remote_run(outdir_url, name):
    """Claims the next numbered run folder under `outdir_url` and its local staging folder.

    Returns:
        (run URL, local staging Path), the latter created empty.
    """
    url = claim_run(outdir_url, name)
    local = staging_dir(url)
    shutil.rmtree(local, ignore_errors=True)  # left by an earlier run of that name that was deleted remotely
    local.mkdir(parents=True)
    return url, local


class Mirror:
    """Keeps a remote folder equal to a local one by copying what changed since the last sync.

    Files deleted locally (old checkpoints) are deleted remotely too. Temporary files of
    atomic writes (dot-prefixed) are never copied.

    Args:
        local: the local folder that is written to.
        url: the remote folder it is mirrored to.
    """

    def __init__(self, local, url):
        self.local = Path(local)
        self.url = str(url).rstrip("/")
        self._sent = {}  # relative path -> (size, mtime_ns) at the last copy

    def _local_files(self):
        """{relative path: (size, mtime_ns)} of the local files, temporaries left out."""
        found = {}
        for folder, dirs, files in os.walk(self.local):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                if not name.startswith("."):
                    path = Path(folder) / name
                    stat = path.stat()
                    found[path.relative_to(self.local).as_posix()] = (stat.st_size, stat.st_mtime_ns)
        return found

    def sync(self):
        """Copies new and changed files, deletes remote copies of removed ones."""
        current = self._local_files()
        for rel, signature in sorted(current.items()):
            if self._sent.get(rel) != signature:
                upload_file(self.local / rel, join(self.url, rel))
                self._sent[rel] = signature
        for rel in sorted(set(self._sent) - set(current)):
            target = join(self.url, rel)
            if tf.io.gfile.exists(target):
                _gfile("delete", target, tf.io.gfile.remove, target)
            del self._sent[rel]

    def mark_synced(self):
        """Records the local files as already present remotely (after a download)."""
        self._sent = self._local_files()


def local_run_dir(run, skip=(), progress=True):
    """A local copy of run directory `run` when it is a URL (downloaded), else `run` itself.

    Args:
        run: a local path or a URL of a run directory (or of a `.keras` generator file).
        skip: top-level subfolders not to download (samples/, tensorboard/ for sampling).
        progress: show a progress bar.
    """
    if not is_url(run):
        return Path(run)
    if not exists(run):
        raise UserError(f"{run} does not exist.")
    if str(run).endswith(".keras"):
        local = staging_dir(run) / basename(run)
        local.parent.mkdir(parents=True, exist_ok=True)
        _gfile("download", run, tf.io.gfile.copy, str(run), str(local), True)
        return local
    return download_tree(run, staging_dir(run), skip=skip, progress=progress)


def upload_file(local, url):
    """Copies one local file to `url`, replacing it whole.

    The copy goes to a temporary name first and is renamed over the target, so a reader
    never sees a half-copied file and a file system whose writes do not truncate (TF's
    in-memory one) still ends up with exactly the new contents.
    """
    folder, name = str(url).rsplit("/", 1)
    partial = join(folder, f".{name}.part")
    _gfile("write", url, tf.io.gfile.makedirs, folder)
    if tf.io.gfile.exists(partial):
        tf.io.gfile.remove(partial)
    _gfile("write", url, tf.io.gfile.copy, str(local), partial, True)
    _gfile("write", url, tf.io.gfile.rename, partial, str(url), True)
