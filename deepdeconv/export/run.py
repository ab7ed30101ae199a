"""`export.py RUN`: write the SavedModel and TFLite files, measure them, describe them."""
import dataclasses
import shutil
import tempfile
from pathlib import Path

from tqdm import tqdm

from deepdeconv import rundir
from deepdeconv.errors import UserError
from deepdeconv.export import formats, measure, readme
from deepdeconv.export.load import load_network
from deepdeconv.export.signatures import GENERATE_FROM_LATENTS, RESTORE, functions_for

FORMATS = ("savedmodel", "tflite", "all")
SAVEDMODEL = "savedmodel"


@dataclasses.dataclass
class Exported:
    """One written file or folder and how far its outputs are from the Keras model's."""

    path: Path
    signature: str
    variant: str  # "savedmodel", "float32" or "dynamic"
    size: int  # bytes
    max_diff: int  # uint8 levels, largest over the fixed inputs
    mean_diff: float
    tile: int = 0


def _size(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def default_out(source):
    """RUN/export for a run directory, NAME-export beside a bare .keras file."""
    source = Path(source)
    return source.parent / f"{source.stem}-export" if source.is_file() else source / rundir.EXPORT


def export_run(source, fmt="all", out=None, checkpoint=None, ema=True, tile=None, log=tqdm.write):
    """Exports a generator or restorer and writes `README.md` beside the files.

    Args:
        source: run directory or `.keras` file.
        fmt: "savedmodel", "tflite" or "all" (TFLite is converted from the SavedModel, which is
            kept only when asked for).
        out: output folder; default `default_out(source)`.
        checkpoint, ema: which weights, as for `sample.py`.
        tile: restorers: also write TFLite files with a fixed [1, tile, tile, C] input.
        log: where progress lines go.

    Returns:
        The list of Exported records.
    """
    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}.")
    if tile is not None and tile < 1:
        raise UserError(f"--tile must be a positive number of pixels, got {tile}.")
    model, info, config = load_network(source, checkpoint=checkpoint, ema=ema)
    if tile is not None and info.kind != "restorer":
        raise UserError("--tile applies to restorers; this is a generator.")
    out = Path(out) if out is not None else default_out(source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"Cannot create the output folder {out} ({e.strerror}).") from None
    inputs = measure.generator_inputs(info) if info.kind == "generator" else measure.restorer_inputs(info)
    wanted = {sig: measure.keras_outputs(model, info, x) for sig, x in inputs.items()}
    records = []
    scratch = Path(tempfile.mkdtemp(prefix=".savedmodel-", dir=out))
    try:
        saved = out / SAVEDMODEL if fmt in ("savedmodel", "all") else scratch / SAVEDMODEL
        steps = [("savedmodel", None)]
        if fmt in ("tflite", "all"):
            steps += [(v, None) for v in formats.TFLITE_VARIANTS]
            if tile:
                steps += [(v, tile) for v in formats.TFLITE_VARIANTS]
        for variant, tile_side in tqdm(steps, desc="export", unit="file", leave=False):
            records += _export_step(model, info, saved, out, scratch, variant, tile_side, inputs, wanted, log)
        if fmt == "tflite":
            records = [r for r in records if r.variant != "savedmodel"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    readme.write(out / "README.md", info, records, source=source, checkpoint=checkpoint, ema=ema, config=config)
    log(f"wrote {out / 'README.md'}")
    return records


def _export_step(model, info, saved, out, scratch, variant, tile, inputs, wanted, log):
    if variant == "savedmodel":
        formats.save_savedmodel(model, functions_for(model, info), saved)
        found = []
        loaded = formats.load_savedmodel(saved)
        for sig, x in inputs.items():
            worst, mean = measure.differences(formats.run_savedmodel(loaded, sig, **x), wanted[sig])
            found.append(Exported(saved, sig, "savedmodel", _size(saved), worst, mean))
        if saved.parent == out:
            for r in found:
                log(f"wrote {r.path} signature {r.signature}: {r.size / 1e6:.2f} MB, largest difference from "
                    f"Keras {r.max_diff} (mean {r.mean_diff:.3f}) uint8 levels")
        return found
    signature = GENERATE_FROM_LATENTS if info.kind == "generator" else RESTORE
    source, x, want = saved, inputs[signature], wanted[signature]
    name = f"{signature}_{variant}.tflite"
    if tile:
        source = scratch / f"tile{tile}"
        if not source.exists():
            formats.save_savedmodel(model, functions_for(model, info, tile=tile), source)
        x = measure.restorer_inputs(info, size=(1, tile, tile))[RESTORE]
        want = measure.keras_outputs(model, info, x)
        name = f"{signature}_tile{tile}_{variant}.tflite"
    path = out / name
    formats.write_bytes(path, formats.convert_tflite(source, signature, variant))
    worst, mean = measure.differences(formats.run_tflite(path, signature, **x), want)
    record = Exported(path, signature, variant, _size(path), worst, mean, tile or 0)
    log(f"wrote {path}: {record.size / 1e6:.2f} MB, largest difference from Keras {worst} (mean {mean:.3f}) "
        "uint8 levels")
    return [record]
