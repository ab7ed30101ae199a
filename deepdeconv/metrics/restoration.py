"""Evaluating a restoration run: PSNR/SSIM of the model beside the classical baselines.

    python -m deepdeconv.evaluate RUN --real CLEAN_FOLDER --metrics psnr,ssim
    python -m deepdeconv.evaluate RUN --real photos          # the built-in held-out photos

Each clean image is degraded exactly as the run's task degrades in training
(`data.degrade.degrade_for_eval`, seeded by (--seed, image index): the same images give the
same inputs every time), restored whole or in exact tiles, rounded to uint8, and scored with
`metrics.fidelity` under the field's conventions:
- sr: the clean image is cropped to a multiple of the scale; PSNR/SSIM on the BT.601
  studio-range Y channel with `scale` pixels cropped from every border;
- every other task: the whole image, all its channels (grayscale for a grayscale run), no crop.
The classical baselines of the task (`metrics.baselines`) restore the same degraded uint8
input knowing what the model was not told: the noise sigma, the PSF, the mask; the deblur
`wiener_oracle` even sees the clean image, to pick its best balance. The degraded input itself
is scored too ("input"), except for sr whose input is smaller.
"""
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from deepdeconv import rundir
from deepdeconv.config import TrainConfig
from deepdeconv.data.degrade import degrade_for_eval
from deepdeconv.data.fullsize import PHOTOS, held_out_indices, load_full_images
from deepdeconv.errors import UserError
from deepdeconv.fileio import append_jsonl
from deepdeconv.metrics import baselines, fidelity
from deepdeconv.pixels import to_uint8
from deepdeconv.restoring.load import default_known, load_restorer
from deepdeconv.restoring.tiles import restore_array

METRICS = ("psnr", "ssim")
MAX_TILE_BATCH = 8
GAN_DEFAULT_METRICS = "fid"  # the evaluate parser's default: means psnr,ssim for a restoration run


def is_restoration_run(path):
    """True when `path` is a local run directory whose config.json names a restoration task."""
    path = Path(str(path))
    config = path / rundir.CONFIG
    if not config.is_file():
        return False
    try:
        return json.loads(config.read_text()).get("task", "gan") != "gan"
    except (OSError, ValueError):
        return False  # the GAN path reports an unreadable config in its own words


def parse_metric_names(text):
    """"psnr,ssim" -> ("psnr", "ssim"); UserError for a name restoration runs do not measure."""
    if text in (None, GAN_DEFAULT_METRICS):
        return METRICS
    names = tuple(n.strip().lower() for n in text.split(",") if n.strip())
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        given = ", ".join(repr(n) for n in bad) if bad else repr(text)
        raise UserError(f"Restoration runs are measured with {', '.join(METRICS)}, not {given}.")
    return names


def choose_baselines(task, text):
    """The baselines to run: "all" (default; BM3D when installed), "none", or a comma list."""
    available = baselines.task_baselines(task)
    if text in (None, "all"):
        return available
    if text == "none":
        return ()
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    for name in names:
        if name == "bm3d" and task == "denoise" and not baselines.bm3d_available():
            raise UserError("--baselines bm3d needs the bm3d package (pip install bm3d; free for non-commercial "
                            "use only).")
        if name not in baselines.TASK_BASELINES.get(task, ()):
            raise UserError(f"--baselines {name!r} is not a {task} baseline; choose from "
                            f"{', '.join(baselines.TASK_BASELINES[task])}, all or none.")
    return names


def score(task, scale, output, target, metrics):
    """{metric: value} of one uint8 output against its clean target, by the task's conventions."""
    sr = task == "sr"
    kwargs = dict(crop=scale if sr else 0, y_channel=sr and target.shape[-1] == 3)
    fns = {"psnr": fidelity.psnr, "ssim": fidelity.ssim}
    return {m: fns[m](output, target, **kwargs) for m in metrics}


def _known(task, pair, scale):
    """What the baselines are told about the degradation of one EvalPair."""
    known = {"scale": scale, "clean": pair.target}
    if task == "denoise":
        known["sigma"] = pair.level
    if task == "deblur":
        known.update(psf=pair.kernel, noise=pair.level)
    if task == "inpaint":
        known["mask"] = pair.mask
    return known


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def evaluate_restoration(spec, images, names, metrics, methods, seed=0, tile=None, batch=4, progress=True):
    """Scores the model and the baselines on clean images.

    The model and every baseline restore the same degraded image, clipped and rounded to uint8
    as a user's file holds it (the papers' unclipped noisy input would favour a network fed
    floats over baselines fed the file).

    Args:
        spec: a `restoring.load.RestorerSpec`.
        images: uint8 clean images [H, W, C] (C = the model's channels).
        names: a display name per image.
        metrics: names from METRICS.
        methods: baseline names.
        seed: evaluation seed (with the image index, it keys every degradation).
        tile, batch: see `restoring.tiles.restore_array`.
        progress: show a progress bar.

    Returns:
        {"per_image": [{"name", method: {metric..., "seconds"}}], "mean": {method: {...}}}.
    """
    rows = []
    for index, (image, name) in enumerate(tqdm(list(zip(images, names)), desc="evaluating", unit="img",
                                               disable=not progress, file=sys.stderr)):
        pair = degrade_for_eval(image, spec.restore, spec.task, index, seed=seed, clip=True)
        row = {"name": name}
        if spec.task != "sr":
            row["input"] = dict(score(spec.task, spec.scale, pair.degraded, pair.target, metrics), seconds=0.0)
        out, seconds = _timed(lambda: to_uint8(restore_array(spec.model, pair.inputs[0], spec.scale, tile=tile,
                                                             batch=batch)))
        row["model"] = dict(score(spec.task, spec.scale, out, pair.target, metrics), seconds=seconds)
        known = _known(spec.task, pair, spec.scale)
        for method in methods:
            out, seconds = _timed(lambda: baselines.run_baseline(method, pair.degraded, **known))
            row[method] = dict(score(spec.task, spec.scale, out, pair.target, metrics), seconds=seconds)
        rows.append(row)
    keys = [k for k in rows[0] if k != "name"]
    mean = {k: {m: float(np.mean([r[k][m] for r in rows])) for m in rows[0][k]} for k in keys}
    return {"per_image": rows, "mean": mean}


def format_table(result, metrics, conventions):
    """The per-image and mean table as text: one row per image and method."""
    lines = [f"# {conventions}"]
    header = f"{'image':<24} {'method':<16}" + "".join(f"{m:>10}" for m in metrics) + f"{'s/image':>10}"
    lines += [header, "-" * len(header)]

    def fmt(values):
        cells = "".join(f"{values[m]:>10.4f}" if m == "ssim" else
                        (f"{'inf':>10}" if math.isinf(values[m]) else f"{values[m]:>10.2f}") for m in metrics)
        return cells + f"{values['seconds']:>10.2f}"

    for row in result["per_image"] + [dict(result["mean"], name="MEAN")]:
        for method, values in row.items():
            if method != "name":
                lines.append(f"{row['name'][:24]:<24} {method:<16}" + fmt(values))
    return "\n".join(lines)


def conventions_text(task, scale, channels):
    """One line saying how the numbers were computed (Y vs RGB, crop)."""
    if task == "sr":
        where = f"Y channel (BT.601 studio range), {scale} px border crop" if channels == 3 else \
            f"grayscale, {scale} px border crop"
        return f"sr x{scale}: PSNR/SSIM on the {where}; outputs rounded to uint8; SSIM 11x11 Gaussian, sigma 1.5"
    return (f"{task}: PSNR/SSIM on the whole {'RGB' if channels == 3 else 'grayscale'} image, no crop; outputs "
            "rounded to uint8; SSIM 11x11 Gaussian, sigma 1.5")


def held_out_images(config, channels, real=None, num_real=None):
    """The clean images a restoration run is measured on, never trained on, and their names.

    `real` (a folder or "photos") when given; else the run's --val folder; else the built-in
    held-out photos for `--data photos`; else the run's fixed held-out slice of its --data.
    Files that cannot be used are listed on stderr.

    Args:
        config: the run's TrainConfig.
        channels: 1 or 3, the restorer's.
        real: a folder or "photos", or None for the run's own held-out images.
        num_real: keep only the first this many, or None for all.

    Returns:
        (list of uint8 [H, W, channels] images, list of file names).
    """
    source = real or config.restore.val or config.data
    full = load_full_images(source, channels, min_side=16, option="--real", split="val")
    keep = range(len(full.images))
    if not real and not config.restore.val and source != PHOTOS:
        # the run's own held-out slice of its --data, never trained on
        keep = held_out_indices(len(full.images), config.restore.val_count)
    images, paths = [full.images[i] for i in keep], [full.paths[i] for i in keep]
    if num_real is not None:
        images, paths = images[:num_real], paths[:num_real]
    for path, reason in full.skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    return images, [Path(p).name for p in paths]


def comparison_baseline(spec):
    """callable(pixels, mask) -> (name, image) running the task's first classical baseline.

    For `restoring.files.restore_files(..., baseline=...)` (restore.py --compare). Told what
    a user's photo does not say by itself: the run's sr scale and PSF, the mask; the noise
    level is estimated from the image. A task whose baseline is the input itself (jpeg)
    gives no third panel.
    """
    name = baselines.TASK_BASELINES[spec.task][0]

    def baseline(pixels, mask):
        if name == "jpeg":
            return "", None
        return name, baselines.run_baseline(name, pixels, **default_known(spec, pixels, mask))

    return baseline


def with_noise(spec, sigma):
    """`spec` with its noise level replaced by `sigma` (the `--noise` of evaluate), or unchanged for None.

    Raises:
        UserError: `sigma` given for a task other than denoise, or not a number in [0, 255].
    """
    if sigma is None:
        return spec
    if spec.task != "denoise":
        raise UserError(f"--noise applies to denoise runs; this one restores {spec.task}.")
    try:
        value = float(sigma)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 255:
        raise UserError(f"--noise must be one number in [0, 255], got {sigma!r}.")
    return dataclasses.replace(spec, restore=dataclasses.replace(spec.restore, noise=str(value)))


def restoration_main(args):
    """`deepdeconv.evaluate RUN ...` for a restoration run: prints the table and a JSON line.

    Reads from the evaluate parser: fake (the run), real, metrics, checkpoint, ema, seed,
    num_real, batch (tiles per call, at most MAX_TILE_BATCH: evaluate's default of 100 is
    meant for small generated images), progress, and `baselines` / `tile` when present.
    Without --real: the run's --val folder, else the built-in held-out photos for
    `--data photos`, else the run's fixed held-out slice of its --data.
    """
    run = rundir.require_run_dir(args.fake)
    config = TrainConfig.load(run / rundir.CONFIG)
    metrics = parse_metric_names(args.metrics)
    methods = choose_baselines(config.task, getattr(args, "baselines", None))
    spec = with_noise(load_restorer(run, checkpoint=args.checkpoint, ema=args.ema), getattr(args, "noise", None))
    real = args.real or config.restore.val or config.data
    images, names = held_out_images(config, spec.channels, args.real, args.num_real)
    result = evaluate_restoration(spec, images, names, metrics, methods, seed=args.seed,
                                  tile=getattr(args, "tile", None), batch=min(args.batch, MAX_TILE_BATCH),
                                  progress=args.progress)
    conventions = conventions_text(spec.task, spec.scale, spec.channels)
    print(format_table(result, metrics, conventions))
    record = {"event": "evaluate", "task": spec.task, "real": str(real), "num_images": len(images), "seed": args.seed,
              "noise": spec.restore.noise if spec.task == "denoise" else None,
              "checkpoint": args.checkpoint or "exported", "ema": bool(args.ema), "metrics": list(metrics),
              "baselines": list(methods), "conventions": conventions, "mean": result["mean"],
              "per_image": result["per_image"]}
    print(json.dumps({"mean": result["mean"], "task": spec.task, "num_images": len(images)}, sort_keys=True))
    append_jsonl(run / rundir.METRICS, record)
    return 0
