"""`train.py` / `deepdeconv-train`: argument parsing for training; the work is in training.py."""
import argparse
import dataclasses
import inspect
import json
import re
import sys
import typing

from deepdeconv.cli.common import quiet_tensorflow, run_cli

EPILOG = """examples:
  # the default job: 32x32 digits from the embedded scikit-learn set, ~8 minutes on 2 CPU cores
  python train.py

  # your own folder of images (subfolders = classes), 64x64, longer
  python train.py --data ~/images/faces --resolution 64 --kimg 2000

  # class-conditional: labels from subfolders (or digits, mnist, ...); then sample.py --class 7
  python train.py --data digits --conditional

  # CIFAR-10 on a GPU with the SNGAN recipe
  python train.py --data cifar10 --loss hinge --d-norm spectral --width 2 --kimg 10000

  # continue a run (a larger --kimg or --steps extends it)
  python train.py --resume runs/00003-digits --kimg 512

  # see the resolved options and model summaries without training
  python train.py --data ~/images --dry-run
"""

_NOT_OPTIONS = {"class_names"}  # filled from the data, never given by hand


def _field_help():
    """Each config field's trailing comment in config.py is its --help text (one source)."""
    from deepdeconv import config

    source = inspect.getsource(config.TrainConfig)
    return {m.group(1): m.group(2) for m in re.finditer(r"^\s+(\w+): [^=]+=.*?  # (.*)$", source, re.M)}


def _option_type(annotation):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def build_parser():
    """The training argument parser; config options are generated from TrainConfig's fields."""
    from deepdeconv.config import TrainConfig

    parser = argparse.ArgumentParser(
        prog="train.py", description="Train a GAN on a folder of images or a built-in dataset.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its latest checkpoint")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and model summaries, "
                                                               "then exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    helps = _field_help()
    hints = typing.get_type_hints(TrainConfig)
    group = parser.add_argument_group("training options (saved in the run's config.json)")
    for field in dataclasses.fields(TrainConfig):
        if field.name in _NOT_OPTIONS:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = _option_type(hints[field.name])
        text = f"{helps.get(field.name, '')} (default: {'auto' if field.default is None else field.default})"
        if kind is bool:
            # --flag / --no-flag; an Optional[bool] left out keeps its automatic default (None).
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)
    return parser


def _dry_run(config):
    from deepdeconv.data import load_source
    from deepdeconv.gan import build_gan
    from deepdeconv.training import resolve_config

    config = resolve_config(config, load_source(config.data, config.resolution, config.channels))
    print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    gan = build_gan(config)
    gan.generator.summary()
    gan.discriminator.summary()
    print(f"{config.total_steps} steps of batch {config.batch} ({config.total_steps * config.batch / 1000:g} kimg)")


def main(argv=None):
    """Parses `argv` and trains (or resumes, or dry-runs). Returns the exit status."""
    args = build_parser().parse_args(argv)
    from deepdeconv import training
    from deepdeconv.config import TrainConfig
    from deepdeconv.errors import UserError

    meta = {"resume", "dry_run", "no_progress"}
    given = {k: v for k, v in vars(args).items() if k not in meta}
    try:
        if args.resume:
            config = training.resume_config(args.resume, given)
        else:
            config = TrainConfig(**given).validate()
    except TypeError as e:
        raise UserError(str(e)) from None
    if args.dry_run:
        _dry_run(config)
        return 0
    run_dir = training.train(config, run_dir=args.resume, progress=not args.no_progress)
    if run_dir is not None:  # None on a non-chief worker, which keeps no run directory
        print(f"done: {run_dir}")
    return 0


def console_main():
    """Entry point of the `deepdeconv-train` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
