"""Run directory layout: numbered `runs/00000-name/` folders, never overwritten.

Everything that knows where a file lives in a run directory asks this module.
"""
import re
from pathlib import Path

from deepdeconv.errors import UserError
from deepdeconv.fileio import slug

CONFIG = "config.json"
LOG = "log.jsonl"
METRICS = "metrics.jsonl"
SAMPLES = "samples"
CHECKPOINTS = "checkpoints"
BEST = "best"
TENSORBOARD = "tensorboard"
GENERATOR = "generator.keras"
GENERATOR_EMA = "generator_ema.keras"
RESTORER = "restorer.keras"
RESTORER_EMA = "restorer_ema.keras"
EXPORT = "export"
# Validation strips (input | output | target) of restoration runs, one per held-out image.
VAL_STRIP = "val-{step:09d}-{index:02d}.png"

_CKPT = re.compile(r"^ckpt-(\d{9})\.npz$")
_GRID = re.compile(r"^grid-(\d{9})\.png$")


def create_run_dir(outdir, name):
    """Creates the next numbered run directory `outdir/NNNNN-name` and returns its path.

    The number is one more than the highest already present, so runs sort in creation order
    and an existing run is never reused. `mkdir(exist_ok=False)` makes two concurrent
    launches pick different numbers instead of sharing a directory.
    """
    outdir = Path(outdir)
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"Cannot create the output folder {outdir} ({e.strerror}).") from None
    safe = slug(name)
    while True:
        numbers = [int(p.name[:5]) for p in outdir.iterdir() if re.match(r"^\d{5}-", p.name)]
        run_dir = outdir / f"{max(numbers, default=-1) + 1:05d}-{safe}"
        check_run_number(max(numbers, default=-1) + 1, outdir)
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:
            continue


MAX_RUNS = 100000  # five-digit run numbers


def check_run_number(number, outdir):
    """Refuses a run number that no longer fits the five digits of the naming scheme."""
    if number >= MAX_RUNS:
        raise UserError(f"{outdir} already holds a run numbered {MAX_RUNS - 1:05d}; choose another --outdir.")


def checkpoint_path(run_dir, step, best=False):
    """Path of the checkpoint written at `step` (under `checkpoints/best/` if `best`)."""
    folder = Path(run_dir) / CHECKPOINTS
    if best:
        folder = folder / BEST
    return folder / f"ckpt-{step:09d}.npz"


def val_strip_path(run_dir, step, index):
    """Path of the validation strip of held-out image `index` written at `step`."""
    return Path(run_dir) / SAMPLES / VAL_STRIP.format(step=step, index=index)


def list_checkpoints(folder):
    """Checkpoint files in `folder`, oldest step first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _CKPT.match(p.name))]
    return [p for _, p in sorted(found)]


def grid_path(run_dir, step):
    """Path of the training sample grid written at `step`."""
    return Path(run_dir) / SAMPLES / f"grid-{step:09d}.png"


def grid_step(path):
    """The step of a training grid path, or None if `path` is not named like one."""
    m = _GRID.match(Path(path).name)
    return int(m.group(1)) if m else None


def list_grids(run_dir):
    """The training sample grids of a run, oldest step first."""
    folder = Path(run_dir) / SAMPLES
    found = [(step, p) for p in folder.glob("grid-*.png") if (step := grid_step(p)) is not None]
    return [p for _, p in sorted(found)]


def require_run_dir(path):
    """Returns `path` as a Path if it is a run directory; UserError naming it otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"Run directory {path} does not exist.")
    if not (path / CONFIG).is_file():
        raise UserError(f"{path} is not a deepdeconv run directory (no {CONFIG}).")
    return path
