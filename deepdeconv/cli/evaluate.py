"""deepdeconv-evaluate: FID / IS / KID / precision-recall of a generator or a folder of images."""
import argparse
import json
import sys
from pathlib import Path

from deepdeconv import rundir
from deepdeconv.cli.common import quiet_tensorflow, run_cli
from deepdeconv.errors import UserError
from deepdeconv.fileio import append_jsonl

EPILOG = """\
examples:
  # FID of a run's exported EMA generator against its training data (50,000 samples)
  python -m deepdeconv.evaluate runs/00000-cifar10 --metrics fid,is

  # the best checkpoint, 10,000 samples, against published TTUR statistics
  python -m deepdeconv.evaluate runs/00000-cifar10 --checkpoint best --num-gen 10000 \\
      --real fid_stats_cifar10_train.npz

  # offline: classifier-based metrics (a small CNN trained on the data, cached)
  python -m deepdeconv.evaluate runs/00001-digits --metrics cfid,cis,ckid --num-gen 2000

  # two folders of images; a .keras generator file against a dataset
  python -m deepdeconv.evaluate generated/ --real real_images/ --metrics fid,kid,pr
  python -m deepdeconv.evaluate generator.keras --real mnist --metrics fid

  # a conditional run: also per-class accuracy and per-class FID (5,000 class-balanced images)
  python -m deepdeconv.evaluate runs/00002-digits --metrics cfid --num-gen 10000 --per-class 5000

  # write reference statistics (TTUR / pytorch-fid .npz: mu, sigma) for later use
  python -m deepdeconv.evaluate --real cifar10 --save-stats cifar10_train.npz

Metrics: fid, is, kid, pr use the 2015-12-05 Inception graph, comparable with papers
(--inception PATH or $DEEPDECONV_INCEPTION for a local copy; otherwise it is downloaded once
into $DEEPDECONV_CACHE or ~/.cache/deepdeconv). fid_keras, is_keras, ... use Keras InceptionV3
(not comparable with papers). cfid, cis, ckid, cpr use a classifier trained on the real data.
Generated images are quantised to uint8 exactly as saved PNGs would be. The result is printed
as one JSON line and, for a run directory, appended to its metrics.jsonl. For a conditional
generator the record also holds "per_class": the accuracy of a classifier trained on the real
labelled data on class-balanced samples (overall, per class, classes present) and per-class FID
with the network of the first FID-type metric requested (their mean is the intra-class FID).
"""


def build_parser():
    """The evaluate argument parser."""
    p = argparse.ArgumentParser(
        prog="deepdeconv-evaluate", description="Measure generated images against real data.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("fake", nargs="?", help="run directory, .keras generator file, or folder of images")
    p.add_argument("--real", metavar="DATA",
                   help="folder, dataset name (digits, mnist, fashion_mnist, cifar10) or .npz statistics; "
                        "default for a run: its training data")
    p.add_argument("--metrics", default="fid", help="comma-separated metric names (default fid)")
    p.add_argument("--network", choices=("inception", "keras", "classifier"),
                   help="compute the named metrics with this network (fid -> fid_keras / cfid ...)")
    p.add_argument("--num-gen", type=int, default=50000, metavar="N",
                   help="generated images (default 50000); for a folder, at most N of its images")
    p.add_argument("--num-real", type=int, metavar="N", help="use only the first N real images (default all)")
    p.add_argument("--seed", type=int, default=0, help="first latent seed (default 0)")
    p.add_argument("--checkpoint", metavar="CKPT", help='"best", "latest" or a checkpoint .npz (run directories)')
    p.add_argument("--per-class", type=int, default=None, metavar="N",
                   help="conditional generators: class-balanced images for per-class results "
                        "(default: --num-gen, at most 10000; 0 turns them off)")
    p.add_argument("--no-ema", dest="ema", action="store_false", help="use the raw generator weights")
    p.add_argument("--resolution", type=int, help="image side for two folders (default: the first fake image's)")
    p.add_argument("--batch", type=int, default=100, help="images per network call (default 100)")
    p.add_argument("--inception", metavar="PATH", help="local classify_image_graph_def.pb or inception-2015-12-05.tgz")
    p.add_argument("--save-stats", metavar="PATH", help="write the real data's statistics as a .npz")
    p.add_argument("--no-cache", dest="cache", action="store_false",
                   help="do not read or write cached real statistics and classifiers")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide progress bars")
    # --- restoration runs (deepdeconv.metrics.restoration) ---
    r = p.add_argument_group("restoration runs (--metrics psnr,ssim; --real FOLDER or photos)")
    r.add_argument("--baselines", metavar="LIST",
                   help="classical methods beside the model: all (default; bm3d when installed), none, or names")
    r.add_argument("--tile", type=int, metavar="N", help="restore images larger than N pixels in exact tiles")
    r.add_argument("--noise", metavar="SIGMA",
                   help="denoise runs: add noise of this sigma (0..255) instead of the run's --noise, e.g. to "
                        "score a blind model at 15, 25 and 50 as the papers do")
    return p


def main(argv=None):
    """Parses the command line, evaluates, prints one JSON line.

    Returns:
        0 on success; predictable mistakes raise UserError.
    """
    args = build_parser().parse_args(argv)
    for name, value, low in (("--num-gen", args.num_gen, 1), ("--num-real", args.num_real, 2),
                             ("--batch", args.batch, 1), ("--seed", args.seed, 0),
                             ("--resolution", args.resolution, 1), ("--per-class", args.per_class, 0)):
        if value is not None and value < low:
            raise UserError(f"{name} must be at least {low}, got {value}.")
    # --- restoration runs are measured by PSNR/SSIM against classical baselines ---
    # Deferred: TensorFlow takes seconds to import, and --help or an argument error must answer at once.
    from deepdeconv.metrics.restoration import is_restoration_run, restoration_main

    if args.fake is not None and is_restoration_run(args.fake):
        return restoration_main(args)
    # ---
    from deepdeconv.metrics import registry

    metrics = registry.parse_metrics(args.metrics)
    if args.network:
        metrics = registry.with_network(metrics, args.network)
    if args.fake is None:
        return _save_stats_only(args, metrics)
    from deepdeconv import remote

    fake_url = args.fake if remote.is_url(args.fake) else None
    if fake_url:
        args.fake = str(remote.local_run_dir(fake_url, skip=("tensorboard", "samples"), progress=args.progress))
    fake, run_dir, real_default, resolution, channels, model = _fake_stream(args)
    real = args.real or real_default
    if real is None and any(m.needs_real for m in metrics):
        raise UserError("Say what to compare with: --real FOLDER, a dataset name, or a statistics .npz.")
    from deepdeconv.metrics.evaluator import Evaluator

    evaluator = Evaluator(metrics, real, resolution=resolution, channels=channels, num_real=args.num_real,
                          inception=args.inception, batch_size=args.batch, cache=args.cache, progress=args.progress)
    if args.save_stats:
        _write_stats(evaluator, args.save_stats, metrics)
    record = evaluator.evaluate(fake)
    if model is not None:
        _add_per_class(record, evaluator, *model, args)
    for text in record["warnings"]:
        print(f"warning: {text}", file=sys.stderr)
    print(json.dumps(record, sort_keys=True))
    if run_dir is not None:
        append_jsonl(run_dir / rundir.METRICS, dict(record, event="evaluate"))
        if fake_url:
            remote.upload_file(run_dir / rundir.METRICS, remote.join(fake_url, rundir.METRICS))
    return 0


def _fake_stream(args):
    """(stream, run dir or None, default real data, resolution, channels, model) for FAKE.

    `model` is (generator, class names) for a run or .keras file, None for a folder.
    """
    from deepdeconv.metrics import sources

    path = Path(args.fake)
    is_run = path.is_dir() and (path / rundir.CONFIG).is_file()
    if is_run or (path.is_file() and path.suffix == ".keras"):
        from deepdeconv.sampling.load import load_generator

        generator, config = load_generator(path, checkpoint=args.checkpoint, ema=args.ema)
        what = f"{path} ({args.checkpoint or 'exported'} {'EMA' if args.ema else 'raw'} generator)"
        num_classes = len(config.class_names) if config is not None and config.class_names else None
        stream = sources.generator_stream(generator, args.num_gen, args.seed, what, num_classes)
        class_names = tuple(config.class_names) if config is not None and config.class_names else ()
        return (stream, (path if is_run else None), (config.data if config else None), stream.resolution,
                stream.channels, (generator, class_names))
    if args.checkpoint or not args.ema:
        raise UserError("--checkpoint and --no-ema apply to a run directory or .keras generator, not a folder.")
    if not path.is_dir():
        raise UserError(f"{path} is neither a run directory, a .keras generator nor a folder of images.")
    resolution = args.resolution or sources.folder_resolution(path)
    stream = sources.data_stream(str(path), resolution, None, limit=args.num_gen)
    return stream, None, None, resolution, stream.channels, None


def _add_per_class(record, evaluator, generator, class_names, args):
    """Adds "per_class" to the record of a conditional generator, or a warning saying why not."""
    from deepdeconv.metrics.per_class import per_class_for_evaluator
    from deepdeconv.sampling import is_conditional

    num = min(args.num_gen, 10000) if args.per_class is None else args.per_class
    if not is_conditional(generator) or num == 0:
        return
    source = getattr(evaluator.real, "source", None)
    # Without metrics that read real images there is no source yet: the classifier, trained
    # on --real, then finds out whether it has labels.
    if not evaluator.classifier_data or (source is not None and not source.class_names):
        record["warnings"].append("Per-class results need labelled real images (classes as subfolders, or "
                                  "digits/mnist/...) as --real; skipped.")
        return
    try:
        record["per_class"] = per_class_for_evaluator(evaluator, generator, class_names, num, args.seed)
    except UserError as e:  # unlabelled or other classes: the metrics above still stand
        record["warnings"].append(f"Per-class results skipped: {e}")


def _write_stats(evaluator, path, metrics):
    kind = next((m.network for m in metrics if m.kind == "fid"), metrics[0].network)
    n = evaluator.save_real_stats(path, kind)
    print(f"wrote {path} ({n} real images, {evaluator.network(kind).name})", file=sys.stderr)


def _save_stats_only(args, metrics):
    if not (args.save_stats and args.real):
        raise UserError("Give generated images to evaluate, or --real DATA with --save-stats PATH.")
    if args.real.endswith(".npz"):
        raise UserError("--save-stats needs real images, not a statistics file.")
    from deepdeconv.metrics.evaluator import Evaluator
    from deepdeconv.metrics.sources import folder_resolution

    resolution = args.resolution or (folder_resolution(args.real) if Path(args.real).is_dir() else None)
    if resolution is None:
        raise UserError(f"--resolution is needed to load {args.real} for --save-stats.")
    evaluator = Evaluator(metrics, args.real, resolution=resolution, num_real=args.num_real,
                          inception=args.inception, batch_size=args.batch, cache=args.cache, progress=args.progress)
    _write_stats(evaluator, args.save_stats, metrics)
    return 0


def console_main():
    """Entry point of the `deepdeconv-evaluate` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
