"""sample.py: turn a trained generator into pictures, one subcommand per kind (grid, bulk, interpolate,
truncation, classes, progress); the older flag form (`sample.py RUN --interpolate 3,7`) still works."""
import argparse
import dataclasses
import sys
from pathlib import Path

from deepdeconv.cli.common import quiet_tensorflow, run_cli
from deepdeconv.errors import UserError
from deepdeconv.rundir import require_run_dir

EPILOG = """\
examples:
  # 8x8 grid of seeds 0-63 from the run's EMA generator -> RUN/samples/seeds0-63.png
  python sample.py grid runs/00000-digits --seeds 0-63

  # the same seeds one PNG each (seed0000.png ...), 4x upscaled grid to a named file
  python sample.py grid runs/00000-digits --seeds 0-63 --outdir out/digits
  python sample.py grid runs/00000-digits --seeds 0-31 --grid 4x8 --scale 4 --out grid.png

  # 10,000 images as a uint8 .npz for metrics (seeds 0-9999, streamed to disk)
  python sample.py bulk runs/00000-digits --n 10000 --seed 0 --npz out/fake.npz

  # truncation: one image set at threshold 1.5, or a row per threshold
  python sample.py grid runs/00000-digits --seeds 0-15 --trunc 1.5
  python sample.py truncation runs/00000-digits --seeds 0-9 --thresholds 0.5,1,1.5,2,inf

  # spherical interpolation 3 -> 7 -> 11, 16 frames per leg: strip PNG + GIF
  python sample.py interpolate runs/00000-digits --seeds 3,7,11 --frames 16

  # conditional runs: one class, or one row per class
  python sample.py grid runs/00001-mnist --seeds 0-15 --class 7
  python sample.py classes runs/00001-mnist --seeds 0-9

  # the training grids of a run as a GIF -> RUN/samples/progress.gif
  python sample.py progress runs/00000-digits

  # the best-FID checkpoint, raw (non-EMA) weights; a bare .keras generator file
  python sample.py grid runs/00000-digits --checkpoint best --no-ema
  python sample.py grid generator.keras --seeds 0-15 --out grid.png

Seed s always gives the same image: its latent is RandomState(s).randn(z_dim), whatever
the batch size or the other seeds. Without --out/--outdir/--npz paths, files go to the run
directory's samples/ folder; from a .keras file, name the output. `sample.py COMMAND --help`
lists a command's options. The older form `sample.py RUN [--n N | --interpolate A,B |
--trunc-sweep T1,T2 | --grid-by-class | --progress-gif] ...` still works.
"""

# The flags that chose a picture before there were subcommands: (subcommand, option its value moves to).
LEGACY_MODES = {"--n": ("bulk", "--n"), "--interpolate": ("interpolate", "--seeds"),
                "--trunc-sweep": ("truncation", "--thresholds"), "--grid-by-class": ("classes", None),
                "--progress-gif": ("progress", None)}


def _parents():
    """Option groups shared by several subcommands, as argparse parent parsers."""
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("source", help="run directory (uses its latest generator) or a .keras generator file")
    generator = argparse.ArgumentParser(add_help=False)
    g = generator.add_argument_group("which generator")
    g.add_argument("--checkpoint", metavar="CKPT",
                   help='"best" (best by the run\'s first metric), "latest", or a checkpoint .npz; '
                        "default: the exported generator, else the latest checkpoint")
    g.add_argument("--no-ema", dest="ema", action="store_false",
                   help="use the raw generator weights instead of their moving average")
    g.add_argument("--batch", type=int, default=256, help="images per generator call (default 256)")
    seeds = argparse.ArgumentParser(add_help=False)
    seeds.add_argument("--seeds", metavar="LIST", default="0-63", help="seeds such as 0-63 or 1,5,9 (default 0-63)")
    klass = argparse.ArgumentParser(add_help=False)
    klass.add_argument("--class", dest="class_", metavar="C",
                       help="class name or index for a conditional generator (default: seed mod classes)")
    trunc = argparse.ArgumentParser(add_help=False)
    trunc.add_argument("--trunc", type=float, metavar="T",
                       help="truncation: redraw latent components with |z| > T until inside (BigGAN)")
    layout = argparse.ArgumentParser(add_help=False)
    layout.add_argument("--pad", type=int, default=2, help="pixels between grid tiles (default 2)")
    layout.add_argument("--scale", type=int, default=1, help="nearest-neighbour upscale of each image (default 1)")
    files = argparse.ArgumentParser(add_help=False)
    g = files.add_argument_group("outputs (default: a grid)")
    g.add_argument("--grid", nargs="?", const="auto", metavar="RxC",
                   help="one PNG grid; rows x cols fitted to the images, or given as 8x8")
    g.add_argument("--out", metavar="PATH", help="file for the grid")
    g.add_argument("--outdir", nargs="?", const="", metavar="DIR", help="one PNG per image, seedNNNN.png")
    g.add_argument("--npz", nargs="?", const="", metavar="PATH",
                   help="uint8 images [N,H,W,C] (+ seeds, labels) in an .npz, for metrics")
    picture = argparse.ArgumentParser(add_help=False)
    picture.add_argument("--out", metavar="PATH", help="file to write (default: in the run's samples folder)")
    return source, generator, seeds, klass, trunc, layout, files, picture


def build_parser():
    """The sample.py argument parser: one subcommand per kind of picture."""
    p = argparse.ArgumentParser(
        prog="sample.py", description="Generate images from a trained deepdeconv generator.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    source, generator, seeds, klass, trunc, layout, files, picture = _parents()
    common = [source, generator]
    sub.add_parser("grid", parents=[*common, seeds, klass, trunc, layout, files],
                   help="chosen seeds as a grid (default), one PNG each (--outdir) and/or an .npz (--npz)")
    c = sub.add_parser("bulk", parents=[*common, klass, trunc, layout, files],
                       help="N images from seeds S..S+N-1, streamed: --npz and/or --outdir (or a grid)")
    c.add_argument("--n", type=int, required=True, metavar="N", help="how many images")
    c.add_argument("--seed", type=int, default=0, metavar="S", help="first seed (default 0)")
    c = sub.add_parser("interpolate", parents=[source, generator, klass, trunc, layout, picture],
                       help="spherical interpolation between seeds' latents: a strip PNG and a GIF")
    c.add_argument("--seeds", required=True, metavar="A,B[,C...]", help="the waypoints, at least two seeds")
    c.add_argument("--frames", type=int, default=16, help="frames per interpolation leg (default 16)")
    c.add_argument("--frame-ms", type=int, help="GIF frame time (default 80)")
    c = sub.add_parser("truncation", parents=[*common, seeds, klass, layout, picture],
                       help="a grid with a row per truncation threshold")
    c.add_argument("--thresholds", required=True, metavar="T1,T2,...", help="thresholds such as 0.5,1,2,inf")
    sub.add_parser("classes", parents=[*common, seeds, trunc, layout, picture],
                   help="a grid with a row per class (conditional generators)")
    c = sub.add_parser("progress", parents=[source, picture], help="the run's training grids as a GIF")
    c.add_argument("--frame-ms", type=int, help="GIF frame time (default 250)")
    return p


def from_legacy(argv):
    """`argv` in the subcommand form; the older flag form (no subcommand) is rewritten to it."""
    argv = list(argv)
    commands = {"grid", "bulk", "interpolate", "truncation", "classes", "progress"}
    if not argv or argv[0] in commands or argv[0] in ("-h", "--help"):
        return argv
    found = [a for a in argv if a.split("=", 1)[0] in LEGACY_MODES]
    if len(found) > 1:
        raise UserError(f"{' and '.join(found)} each choose a picture; give one (or use a subcommand: "
                        "sample.py COMMAND RUN ...).")
    if not found:
        return ["grid", *argv]
    flag, _, value = found[0].partition("=")
    command, option = LEGACY_MODES[flag]
    i = argv.index(found[0])
    if option is None:
        return [command, *argv[:i], *argv[i + 1:]]
    if not value and i + 1 == len(argv):
        raise UserError(f"{flag} needs a value.")
    if command == "interpolate" and ("--seeds" in argv or "--n" in argv):
        raise UserError("--interpolate names its own seeds; drop --seeds/--n.")
    rest = argv[:i] + argv[i + (1 if value else 2):]
    return [command, *rest, option, value or argv[i + 1]]


@dataclasses.dataclass
class _Job:
    """What every generator picture needs once the generator is loaded."""

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
    args = build_parser().parse_args(from_legacy(sys.argv[1:] if argv is None else argv))
    _check_numbers(args)
    args.source = _local_source(args)
    return {"grid": _seed_images, "bulk": _seed_images, "interpolate": _interpolate, "truncation": _truncation,
            "classes": _class_grid, "progress": _progress_gif}[args.command](args) or 0


def _check_numbers(args):
    """Refuses out-of-range numbers before anything is loaded."""
    for name, low in (("batch", 1), ("pad", 0), ("scale", 1), ("frames", 2), ("n", 1), ("seed", 0), ("frame_ms", 10)):
        value = getattr(args, name, None)
        if value is not None and value < low:
            why = " (GIF timing is in hundredths)" if name == "frame_ms" else ""
            raise UserError(f"--{name.replace('_', '-')} must be at least {low}{why}, got {value}.")
    if getattr(args, "trunc", None) is not None and not args.trunc > 0:
        raise UserError(f"--trunc must be positive, got {args.trunc}.")


def _local_source(args):
    """`args.source`, or for a gs:// run a local copy of what this command reads."""
    # Deferred here and below: TensorFlow takes seconds to import, and --help or an argument
    # error must answer at once (every deepdeconv.sampling module imports it).
    from deepdeconv import remote

    if not remote.is_url(args.source):
        return args.source
    skip = {"tensorboard"} | ({"samples"} if args.command != "progress" else set())
    if not getattr(args, "checkpoint", None):
        skip.add("checkpoints")
    local = remote.local_run_dir(args.source, skip=tuple(skip))
    print(f"reading {args.source} from a local copy: {local}", file=sys.stderr)
    return str(local)


def _load(args, seeds):
    """Loads the generator and settles classes, labels and the default file-name stem."""
    from deepdeconv.sampling import outputs
    from deepdeconv.sampling.load import load_generator

    generator, config = load_generator(args.source, checkpoint=args.checkpoint, ema=args.ema)
    class_names = tuple(config.class_names) if config is not None else ()
    fixed_class = outputs.class_index(getattr(args, "class_", None), generator, class_names)
    tag = outputs.file_tag(seeds, getattr(args, "seeds", "0-63"), class_names, fixed_class,
                           getattr(args, "trunc", None), args.checkpoint, args.ema)
    return _Job(generator=generator, seeds=seeds,
                labels=outputs.seed_labels(generator, seeds, fixed_class, class_names), class_names=class_names,
                run_dir=Path(args.source) if Path(args.source).is_dir() else None, tag=tag)


def _progress_gif(args):
    from deepdeconv.sampling import outputs
    from deepdeconv.sampling.tasks import write_progress_gif

    run_dir = require_run_dir(args.source)
    out = outputs.output_path(args.out, run_dir, "progress.gif", "--out", ".gif")
    count = outputs.writing(write_progress_gif, run_dir, out, duration_ms=args.frame_ms or 250)
    print(f"wrote {out} ({count} training grids)")


def _interpolate(args):
    from deepdeconv.sampling import outputs, parse_seeds
    from deepdeconv.sampling.tasks import write_interpolation

    seeds = parse_seeds(args.seeds)
    if len(seeds) < 2:
        raise UserError(f"interpolate needs at least two --seeds, got {args.seeds!r}.")
    job = _load(args, seeds)
    out = outputs.output_path(args.out, job.run_dir, f"interp-{job.tag}-f{args.frames}.png", "--out", ".png", ".gif")
    strip, gif = out.with_suffix(".png"), out.with_suffix(".gif")
    # The whole path keeps the first waypoint's class, so only the latent moves.
    label = None if job.labels is None else int(job.labels[0])
    outputs.writing(write_interpolation, job.generator, job.seeds, args.frames, strip, gif, label=label,
                    trunc=args.trunc, duration_ms=args.frame_ms or 80, batch_size=args.batch, pad=args.pad,
                    scale=args.scale)
    print(f"wrote {strip} and {gif}")


def _truncation(args):
    from deepdeconv.sampling import outputs, parse_seeds, parse_thresholds
    from deepdeconv.sampling.tasks import write_trunc_sweep

    thresholds = parse_thresholds(args.thresholds)
    job = _load(args, parse_seeds(args.seeds))
    out = outputs.output_path(args.out, job.run_dir, f"trunc-sweep-{job.tag}.png", "--out", ".png")
    outputs.writing(write_trunc_sweep, job.generator, job.seeds, thresholds, out, labels=job.labels,
                    batch_size=args.batch, pad=args.pad, scale=args.scale)
    print(f"wrote {out} (rows: truncation {', '.join(f'{t:g}' for t in thresholds)})")


def _class_grid(args):
    from deepdeconv.sampling import outputs, parse_seeds
    from deepdeconv.sampling.tasks import write_class_grid

    job = _load(args, parse_seeds(args.seeds))
    count = outputs.class_count(job.generator, job.class_names)
    if count is None:
        raise UserError("sample.py classes needs a conditional generator, but this one is unconditional.")
    out = outputs.output_path(args.out, job.run_dir, f"classes-{job.tag}.png", "--out", ".png")
    outputs.writing(write_class_grid, job.generator, job.seeds, list(range(count)), out, trunc=args.trunc,
                    batch_size=args.batch, pad=args.pad, scale=args.scale)
    print(f"wrote {out} (rows: {', '.join(job.class_names) or f'classes 0-{count - 1}'})")


def _seed_images(args):
    """grid and bulk: any of grid, outdir, npz for a list (or range) of seeds."""
    from deepdeconv.sampling import outputs, parse_grid, parse_seeds
    from deepdeconv.sampling.latents import MAX_SEED
    from deepdeconv.sampling.tasks import write_seed_images

    if args.command == "bulk":
        if args.seed + args.n - 1 > MAX_SEED:
            raise UserError("--seed + --n must stay below 2**32.")
        seeds = range(args.seed, args.seed + args.n)
    else:
        seeds = parse_seeds(args.seeds)
    grid = parse_grid(args.grid)  # parse everything before the slow model load
    job = _load(args, seeds)
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


def console_main():
    """Entry point of the `deepdeconv-sample` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
