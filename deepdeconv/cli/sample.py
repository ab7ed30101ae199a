"""sample.py: turn a trained generator into pictures (grids, per-seed PNGs, .npz, GIFs)."""
import argparse
import dataclasses
import sys
from pathlib import Path

from deepdeconv.cli.common import quiet_tensorflow, run_cli
from deepdeconv.errors import UserError
from deepdeconv.rundir import require_run_dir
from deepdeconv.sampling import outputs

EPILOG = """\
examples:
  # 8x8 grid of seeds 0-63 from the run's EMA generator -> RUN/samples/seeds0-63.png
  python sample.py runs/00000-digits --seeds 0-63

  # the same seeds one PNG each (seed0000.png ...), 4x upscaled grid to a named file
  python sample.py runs/00000-digits --seeds 0-63 --outdir out/digits
  python sample.py runs/00000-digits --seeds 0-31 --grid 4x8 --scale 4 --out grid.png

  # 10,000 images as a uint8 .npz for metrics (seeds 0-9999, streamed to disk)
  python sample.py runs/00000-digits --n 10000 --seed 0 --npz out/fake.npz

  # truncation: one image set at threshold 1.5, or a row per threshold
  python sample.py runs/00000-digits --seeds 0-15 --trunc 1.5
  python sample.py runs/00000-digits --seeds 0-9 --trunc-sweep 0.5,1,1.5,2,inf

  # spherical interpolation 3 -> 7 -> 11, 16 frames per leg: strip PNG + GIF
  python sample.py runs/00000-digits --interpolate 3,7,11 --frames 16

  # conditional runs: one class, or one row per class
  python sample.py runs/00001-mnist --seeds 0-15 --class 7
  python sample.py runs/00001-mnist --seeds 0-9 --grid-by-class

  # the training grids of a run as a GIF -> RUN/samples/progress.gif
  python sample.py runs/00000-digits --progress-gif

  # the best-FID checkpoint, raw (non-EMA) weights; a bare .keras generator file
  python sample.py runs/00000-digits --checkpoint best --no-ema
  python sample.py generator.keras --seeds 0-15 --out grid.png

Seed s always gives the same image: its latent is RandomState(s).randn(z_dim), whatever
the batch size or the other seeds. Without --out/--outdir/--npz paths, files go to the run
directory's samples/ folder; from a .keras file, name the output.
"""

MODES = ("interpolate", "trunc_sweep", "grid_by_class", "progress_gif")


def build_parser():
    """The sample.py argument parser."""
    p = argparse.ArgumentParser(
        prog="sample.py", description="Generate images from a trained deepdeconv generator.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run directory (uses its latest generator) or a .keras generator file")
    g = p.add_argument_group("which generator")
    g.add_argument("--checkpoint", metavar="CKPT",
                   help='"best" (best by the run\'s first metric), "latest", or a checkpoint .npz; '
                        "default: the exported generator, else the latest checkpoint")
    g.add_argument("--no-ema", dest="ema", action="store_false",
                   help="use the raw generator weights instead of their moving average")
    g = p.add_argument_group("which images")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--seeds", metavar="LIST", help="seeds such as 0-63 or 1,5,9 (default 0-63)")
    which.add_argument("--n", type=int, metavar="N", help="bulk sampling: N images from seeds S..S+N-1")
    g.add_argument("--seed", type=int, default=0, metavar="S", help="first seed for --n (default 0)")
    g.add_argument("--class", dest="class_", metavar="C",
                   help="class name or index for a conditional generator (default: seed mod classes)")
    g.add_argument("--trunc", type=float, metavar="T",
                   help="truncation: redraw latent components with |z| > T until inside (BigGAN)")
    g.add_argument("--batch", type=int, default=256, help="images per generator call (default 256)")
    g = p.add_argument_group("outputs (default: a grid)")
    g.add_argument("--grid", nargs="?", const="auto", metavar="RxC",
                   help="one PNG grid; rows x cols fitted to the images, or given as 8x8")
    g.add_argument("--out", metavar="PATH", help="file for the grid, strip+GIF, sweep or progress GIF")
    g.add_argument("--outdir", nargs="?", const="", metavar="DIR", help="one PNG per image, seedNNNN.png")
    g.add_argument("--npz", nargs="?", const="", metavar="PATH",
                   help="uint8 images [N,H,W,C] (+ seeds, labels) in an .npz, for metrics")
    g.add_argument("--pad", type=int, default=2, help="pixels between grid tiles (default 2)")
    g.add_argument("--scale", type=int, default=1, help="nearest-neighbour upscale of each image (default 1)")
    g = p.add_argument_group("other pictures (one at a time)")
    mode = g.add_mutually_exclusive_group()
    mode.add_argument("--interpolate", metavar="A,B[,C...]", help="slerp between these seeds' latents")
    g.add_argument("--frames", type=int, default=16, help="frames per interpolation leg (default 16)")
    mode.add_argument("--trunc-sweep", metavar="T1,T2,...", help="grid with a row per truncation threshold")
    mode.add_argument("--grid-by-class", action="store_true", help="grid with a row per class")
    mode.add_argument("--progress-gif", action="store_true", help="the run's training grids as a GIF")
    g.add_argument("--frame-ms", type=int, help="GIF frame time (default 80, or 250 for --progress-gif)")
    return p


@dataclasses.dataclass
class _Job:
    """What every mode needs once the generator is loaded."""

    generator: object
    seeds: object  # list of seeds, or a range for bulk sampling
    labels: object  # class index per seed (conditional generators), else None
    class_names: tuple
    run_dir: object  # Path when sampling from a run directory, else None
    tag: str  # default file-name stem


def main(argv=None):
    """Parses the command line and writes the requested pictures.

    Returns:
        0 on success; predictable mistakes raise UserError.
    """
    args = build_parser().parse_args(argv)
    mode = _check_options(args)
    args.source = _local_source(args, mode)
    if mode == "progress_gif":
        return _progress_gif(args)
    from deepdeconv import sampling

    seeds = _seeds(args)
    grid = sampling.parse_grid(args.grid)  # parse everything before the slow model load
    thresholds = _thresholds(args.trunc_sweep) if args.trunc_sweep else None
    job = _load(args, seeds)
    if mode == "interpolate":
        _interpolate(args, job)
    elif mode == "trunc_sweep":
        _trunc_sweep(args, job, thresholds)
    elif mode == "grid_by_class":
        _class_grid(args, job)
    else:
        _sample_seeds(args, job, grid)
    return 0


def _check_options(args):
    """Refuses out-of-range numbers and combinations that make no sense; returns the mode."""
    for name, value, low in (("--batch", args.batch, 1), ("--pad", args.pad, 0), ("--scale", args.scale, 1),
                             ("--frames", args.frames, 2), ("--n", args.n, 1), ("--seed", args.seed, 0)):
        if value is not None and value < low:
            raise UserError(f"{name} must be at least {low}, got {value}.")
    if args.trunc is not None and not args.trunc > 0:
        raise UserError(f"--trunc must be positive, got {args.trunc}.")
    if args.frame_ms is not None and args.frame_ms < 10:
        raise UserError(f"--frame-ms must be at least 10 (GIF timing is in hundredths), got {args.frame_ms}.")
    mode = next((m for m in MODES if getattr(args, m)), None)
    if mode and (args.grid or args.outdir is not None or args.npz is not None):
        raise UserError(f"--{mode.replace('_', '-')} writes its own picture; drop --grid/--outdir/--npz.")
    if args.interpolate and (args.seeds or args.n):
        raise UserError("--interpolate names its own seeds; drop --seeds/--n.")
    if args.grid_by_class and args.class_ is not None:
        raise UserError("--grid-by-class draws every class; drop --class.")
    return mode


def _local_source(args, mode):
    """`args.source`, or for a gs:// run a local copy of what this command reads."""
    # Deferred: TensorFlow takes seconds to import, and --help or an argument error must answer at once.
    from deepdeconv import remote

    if not remote.is_url(args.source):
        return args.source
    skip = {"tensorboard"} | ({"samples"} if mode != "progress_gif" else set())
    if not args.checkpoint:
        skip.add("checkpoints")
    local = remote.local_run_dir(args.source, skip=tuple(skip))
    print(f"reading {args.source} from a local copy: {local}", file=sys.stderr)
    return str(local)


def _load(args, seeds):
    """Loads the generator and settles classes, labels and the default file-name stem."""
    from deepdeconv.sampling.load import load_generator

    generator, config = load_generator(args.source, checkpoint=args.checkpoint, ema=args.ema)
    class_names = tuple(config.class_names) if config is not None else ()
    fixed_class = outputs.class_index(args.class_, generator, class_names)
    tag = outputs.file_tag(seeds, args.interpolate or args.seeds or "0-63", class_names, fixed_class, args.trunc,
                           args.checkpoint, args.ema)
    return _Job(generator=generator, seeds=seeds,
                labels=outputs.seed_labels(generator, seeds, fixed_class, class_names), class_names=class_names,
                run_dir=Path(args.source) if Path(args.source).is_dir() else None, tag=tag)


def _progress_gif(args):
    from deepdeconv.sampling.tasks import write_progress_gif

    run_dir = require_run_dir(args.source)
    out = outputs.output_path(args.out, run_dir, "progress.gif", "--out", ".gif")
    count = outputs.writing(write_progress_gif, run_dir, out, duration_ms=args.frame_ms or 250)
    print(f"wrote {out} ({count} training grids)")
    return 0


def _interpolate(args, job):
    from deepdeconv.sampling.tasks import write_interpolation

    out = outputs.output_path(args.out, job.run_dir, f"interp-{job.tag}-f{args.frames}.png", "--out", ".png", ".gif")
    strip, gif = out.with_suffix(".png"), out.with_suffix(".gif")
    # The whole path keeps the first waypoint's class, so only the latent moves.
    label = None if job.labels is None else int(job.labels[0])
    outputs.writing(write_interpolation, job.generator, job.seeds, args.frames, strip, gif, label=label,
             trunc=args.trunc, duration_ms=args.frame_ms or 80, batch_size=args.batch, pad=args.pad,
             scale=args.scale)
    print(f"wrote {strip} and {gif}")


def _trunc_sweep(args, job, thresholds):
    from deepdeconv.sampling.tasks import write_trunc_sweep

    out = outputs.output_path(args.out, job.run_dir, f"trunc-sweep-{job.tag}.png", "--out", ".png")
    outputs.writing(write_trunc_sweep, job.generator, job.seeds, thresholds, out, labels=job.labels,
             batch_size=args.batch, pad=args.pad, scale=args.scale)
    print(f"wrote {out} (rows: truncation {', '.join(f'{t:g}' for t in thresholds)})")


def _class_grid(args, job):
    from deepdeconv.sampling.tasks import write_class_grid

    count = outputs.class_count(job.generator, job.class_names)
    if count is None:
        raise UserError("--grid-by-class needs a conditional generator, but this one is unconditional.")
    out = outputs.output_path(args.out, job.run_dir, f"classes-{job.tag}.png", "--out", ".png")
    outputs.writing(write_class_grid, job.generator, job.seeds, list(range(count)), out, trunc=args.trunc,
             batch_size=args.batch, pad=args.pad, scale=args.scale)
    print(f"wrote {out} (rows: {', '.join(job.class_names) or f'classes 0-{count - 1}'})")


def _sample_seeds(args, job, grid):
    """The default mode: any of grid, outdir, npz for a list of seeds."""
    from deepdeconv.sampling.tasks import write_seed_images

    want_grid = args.grid is not None or args.out is not None or (args.outdir is None and args.npz is None)
    grid_path = outputs.output_path(args.out, job.run_dir, f"{job.tag}.png", "--out", ".png") if want_grid else None
    outdir = None if args.outdir is None else outputs.output_path(args.outdir or None, job.run_dir, job.tag, "--outdir", "")
    npz = None if args.npz is None else outputs.output_path(args.npz or None, job.run_dir, f"{job.tag}.npz", "--npz", ".npz")
    outputs.writing(write_seed_images, job.generator, job.seeds, grid_path=grid_path, grid=grid, outdir=outdir,
             npz_path=npz, labels=job.labels, trunc=args.trunc, batch_size=args.batch, pad=args.pad,
             scale=args.scale)
    n = len(job.seeds)
    for path, what in ((grid_path, "grid"), (outdir, "one PNG per seed"), (npz, "uint8 array")):
        if path is not None:
            print(f"wrote {path} ({n} image{'s' if n != 1 else ''}, {what})")


def _seeds(args):
    """The seed sequence: --interpolate's waypoints, --seeds, or range(S, S+N)."""
    from deepdeconv import sampling

    if args.interpolate:
        seeds = sampling.parse_seeds(args.interpolate, option="--interpolate")
        if len(seeds) < 2:
            raise UserError(f"--interpolate needs at least two seeds, got {args.interpolate!r}.")
        return seeds
    if args.n is not None:
        if args.seed + args.n - 1 > sampling.latents.MAX_SEED:
            raise UserError("--seed + --n must stay below 2**32.")
        return range(args.seed, args.seed + args.n)
    return sampling.parse_seeds(args.seeds or "0-63")


def _thresholds(text):
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        values = []
    if not values or not all(v > 0 for v in values):
        raise UserError(f"--trunc-sweep takes positive thresholds such as 0.5,1,2,inf, got {text!r}.")
    return values


def console_main():
    """Entry point of the `deepdeconv-sample` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
