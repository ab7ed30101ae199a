"""Steps of the restoration notebook between library calls: a run's latest strips, a damaged example."""
from pathlib import Path

from deepdeconv import rundir
from deepdeconv.callbacks.validation import VAL_EVENT
from deepdeconv.data.decode import to_channels
from deepdeconv.data.degrade import degrade_for_eval
from deepdeconv.errors import UserError
from deepdeconv.restoring.apply import decode, save_image
from deepdeconv.fileio import read_jsonl


def latest_val_strips(run_dir):
    """The input | output | target strips of a restoration run's last validation.

    Read from the last validation record of log.jsonl, so only strips of one complete
    validation are returned, one per held-out image in order.

    Args:
        run_dir: a restoration run directory.

    Returns:
        (step, list of PNG paths).

    Raises:
        UserError: the run has not validated yet.
    """
    records = read_jsonl(Path(run_dir) / rundir.LOG, event=VAL_EVENT)
    last = records[-1] if records else None
    if last is None:
        raise UserError(f"{run_dir} has no validation yet (a restoration run validates every --val-every steps "
                        "and at its end).")
    step = int(last["step"])
    return step, [rundir.val_strip_path(run_dir, step, i) for i in range(len(last["psnr"]))]


def write_degraded(spec, source, out, index=0, seed=0):
    """Writes a damaged copy of a clean photo, degraded as `spec`'s restorer was trained to undo.

    The photo is brought to the restorer's channels and degraded by
    `data.degrade.degrade_for_eval` (reproducible for `(seed, index)`), then saved as a uint8
    file, as a user's damaged photo would be: noisy, blurred, smaller (sr), with holes
    (inpaint: the mask is written beside it as `<stem>_mask.png`, white = missing) or
    JPEG-blocked.

    Args:
        spec: a `restoring.load.RestorerSpec`.
        source: a clean image file.
        out: the damaged image file to write (its suffix chooses the format; use .png).
        index, seed: which degradation draw.

    Returns:
        The path written (a Path).
    """
    out = Path(out)
    clean = to_channels(decode(source), spec.channels)
    pair = degrade_for_eval(clean, spec.restore, spec.task, index, seed=seed, clip=True)
    save_image(out, pair.degraded)
    if pair.mask is not None:
        save_image(out.with_name(f"{out.stem}_mask.png"), pair.mask * 255)
    return out
