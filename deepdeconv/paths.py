"""Local paths from untrusted names and from users: the checks every writer shares.

A bucket listing or an archive is written by someone else, so a member name such as
`a/../../../home/me/.bashrc` must never leave the folder it is copied into; a path option
such as `--outdir=~/runs` means the user's home, not a folder named `~`.
"""
import os
from pathlib import Path

from deepdeconv.errors import UserError


def safe_join(root, name, origin=None):
    """`root / name`, refused unless it resolves inside `root`.

    Args:
        root: the destination folder.
        name: a relative, '/'-separated member name from a listing or an archive.
        origin: what to name in the error (the remote folder or archive); defaults to `root`.

    Returns:
        The joined Path (not resolved, so symlinks the user made inside `root` keep working).

    Raises:
        UserError: `name` is absolute, empty, or climbs out of `root` with `..`.
    """
    root = Path(root)
    parts = str(name).replace("\\", "/").split("/")
    inside = os.path.realpath(root)
    target = os.path.realpath(os.path.join(inside, *parts)) if name and not str(name).startswith("/") else None
    if target is None or ".." in parts or os.path.commonpath([inside, target]) != inside or target == inside:
        raise UserError(f"Refusing {name!r} from {origin or root}: it names a path outside {root}.")
    return root.joinpath(*[p for p in parts if p])


def _expand_home(text):
    return os.path.expanduser(text) if text == "~" or text.startswith("~/") else text


def expand_argv(argv):
    """Command-line arguments with a leading `~/` expanded, as the shell does for a lone word.

    The shell leaves `--outdir=~/runs` (and a quoted "~/runs") alone, which would make a folder
    named `~`; every path option of deepdeconv means the user's home there. `~user` forms
    and `~` inside a value are left as they are.
    """
    out = []
    for arg in argv:
        option, eq, value = arg.partition("=")
        out.append(f"{option}={_expand_home(value)}" if eq and option.startswith("--") else _expand_home(arg))
    return out


def walk_dirs(folder):
    """Like `os.walk(folder)`, but following symlinked folders, each real folder visited once.

    A class folder is often a symlink to where the images really are; a link back to an
    ancestor would make a plain `followlinks=True` walk loop forever, so a folder whose real
    path was already walked is skipped.

    Yields:
        (root, dirnames, filenames) as `os.walk` does; prune `dirnames` in place to skip folders.
    """
    seen = set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        yield root, dirs, files
