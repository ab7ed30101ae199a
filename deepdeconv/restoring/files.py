"""Restoring files: which outputs an INPUT / --out pair names, and the loop that writes them.

- INPUT a file: OUTPUT is that file (its suffix chooses the format; no suffix: .png is added),
  or, if OUTPUT is an existing folder or ends with "/", OUTPUT/<input stem>.png.
- INPUT a folder: every image under it (recursively) goes to the same relative path under
  OUTPUT, as .png (lossless: a restored photo saved as JPEG would get new blocking).
- `--compare` adds `<output stem>_compare.png` beside each output.
Every output is checked before any work starts: nothing that exists is replaced without
`overwrite`. A file that cannot be decoded is skipped and reported; the rest are restored.
"""
import dataclasses
import sys
import time
from pathlib import Path

from tqdm import tqdm

from deepdeconv.data.folder import IMAGE_SUFFIXES
from deepdeconv.errors import UserError
from deepdeconv.restoring import apply

SUFFIXES = tuple(sorted(set(IMAGE_SUFFIXES) | {".tif", ".tiff", ".ppm", ".pgm", ".pbm"}))
COMPARE_SUFFIX = "_compare.png"
_GROUP = 8  # images decoded at a time: small ones of one size share network calls


@dataclasses.dataclass(frozen=True)
class Job:
    """One input file and where its results go."""

    source: Path
    output: Path
    compare: Path = None
    mask: Path = None


def find_inputs(folder):
    """Image files under `folder`, recursively (hidden ones skipped), in path order."""
    folder = Path(folder)
    found = [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def _mask_for(mask_root, rel):
    """The mask of the input at relative path `rel`: same relative path, any image suffix."""
    for suffix in SUFFIXES:
        candidate = (mask_root / rel).with_suffix(suffix)
        if candidate.is_file():
            return candidate
    raise UserError(f"No mask for {rel} in {mask_root} (expected {rel.with_suffix('.png')} or another image suffix).")


def plan_jobs(source, out, compare=False, overwrite=False, mask=None):
    """The Jobs for INPUT `source` and OUTPUT `out`; UserError before any work if one is impossible.

    Args:
        source: an image file or a folder.
        out: output file or folder (see the module docstring).
        compare: also write comparison strips.
        overwrite: allow replacing existing files.
        mask: inpaint: a mask file (file INPUT) or folder mirroring INPUT (folder INPUT).
    """
    into_folder = str(out).endswith(("/", "\\"))  # Path() drops a trailing separator
    source, out = Path(source), Path(out)
    if not source.exists():
        raise UserError(f"Input {source} does not exist.")
    if source.is_dir():
        inputs = find_inputs(source)
        if not inputs:
            raise UserError(f"Input folder {source} holds no images ({', '.join(SUFFIXES)}).")
        if out.is_file():
            raise UserError(f"--out {out} is a file, but the input {source} is a folder: give a folder.")
        jobs = [Job(p, (out / p.relative_to(source)).with_suffix(".png"),
                    mask=_mask_for(Path(mask), p.relative_to(source)) if mask else None) for p in inputs]
    else:
        if out.is_dir() or into_folder:
            target = out / f"{source.stem}.png"
        else:
            target = out if out.suffix else out.with_suffix(".png")
        apply.suffix_format(target)
        jobs = [Job(source, target, mask=Path(mask) if mask else None)]
    if compare:
        jobs = [dataclasses.replace(j, compare=j.output.with_name(j.output.stem + COMPARE_SUFFIX)) for j in jobs]
    outputs = [p for j in jobs for p in (j.output, j.compare) if p is not None]
    seen = {}
    for j in jobs:
        for p in (j.output, j.compare):
            if p is not None and p in seen and seen[p] != j.source:
                raise UserError(f"{seen[p]} and {j.source} would both be written to {p}; rename one of them.")
            seen[p] = j.source
    if not overwrite:
        existing = [p for p in outputs if p.exists()]
        if existing:
            raise UserError(f"{len(existing)} output file(s) already exist (first: {existing[0]}); pass --overwrite "
                            "to replace them.")
    return jobs


def restore_files(spec, jobs, tile=None, batch=4, progress=True, baseline=None):
    """Restores every job's file; returns the list of (path, reason) skipped.

    Args:
        spec: a `load.RestorerSpec`.
        jobs: from `plan_jobs`.
        tile: tile side (see `tiles.restore_array`).
        batch: images or tiles per network call.
        progress: show a tqdm bar with images/s.
        baseline: for comparison strips: callable(pixels, mask) -> (label, uint8 image or
            None when the baseline is the input itself). The caller supplies it (the CLI,
            from `metrics.baselines`), so that restoring does not depend on metrics.
    """
    skipped = []
    bar = tqdm(total=len(jobs), unit="img", desc="restoring", disable=not progress, file=sys.stderr)
    start = time.perf_counter()
    for i in range(0, len(jobs), _GROUP):
        group, images, masks = [], [], []
        for job in jobs[i:i + _GROUP]:
            try:
                pixels = apply.decode(job.source)
            except Exception as e:  # PIL raises many types for files it cannot decode
                skipped.append((job.source, f"{type(e).__name__}: {e}"))
                bar.update(1)
                continue
            masks.append(apply.read_mask(job.mask, pixels.shape) if job.mask else None)
            group.append(job)
            images.append(pixels)
        if not group:
            continue
        results = apply.restore_pixels(spec, images, masks if spec.task == "inpaint" else None, tile=tile, batch=batch)
        for job, pixels, mask, restored in zip(group, images, masks, results):
            apply.save_image(job.output, restored)
            if job.compare is not None:
                label, classical = baseline(pixels, mask) if baseline is not None else ("", None)
                apply.save_image(job.compare, apply.compare_strip(spec, pixels, classical, restored,
                                                                  ("input", label, "ours")))
            bar.update(1)
    bar.close()
    done = len(jobs) - len(skipped)
    if progress and done:
        print(f"restored {done} image(s) in {time.perf_counter() - start:.1f} s", file=sys.stderr)
    return skipped
