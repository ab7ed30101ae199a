"""`train.py` / `deepdeconv-train`: argument parsing for training; the work is in training.py."""
import argparse
import dataclasses
import json
import sys
import typing

from deepdeconv.cli.common import quiet_tensorflow, run_cli
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.restore_config import RestoreConfig
from deepdeconv.signals import sigterm_interrupts

EPILOG = """examples:
  # the default job: 32x32 digits from the embedded scikit-learn set, ~8 minutes on 2 CPU cores
  python train.py

  # your own folder of images (subfolders = classes), 64x64, longer
  python train.py --data ~/images/faces --resolution 64 --kimg 2000

  # class-conditional: labels from subfolders (or digits, mnist, ...); then sample.py grid RUN --class 7
  python train.py --data digits --conditional

  # CIFAR-10 on a GPU with the SNGAN recipe
  python train.py --data cifar10 --loss hinge --d-norm spectral --width 2 --kimg 10000

  # restoration: a denoiser trained on the built-in photos, or x4 super-resolution of your photos
  python train.py --task denoise --noise 0-55
  python train.py --task sr --scale 4 --data ~/photos --patch 96

  # continue a run (a larger --kimg or --steps extends it)
  python train.py --resume runs/00003-digits --kimg 512

  # see the resolved options and model summaries without training
  python train.py --data ~/images --dry-run
"""

_NOT_OPTIONS = {"class_names", "cluster_frequencies", "data_fingerprint", "restore", "speed_choice"}  # filled at run start / flattened below


def _option_type(annotation):
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if args else annotation


def _add_options(group, cls, skip=()):
    """Adds a --flag for each field of the dataclass `cls`; help text from the field's metadata."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = _option_type(hints[field.name])
        text = f"{field.metadata.get('help', '')} (default: {'auto' if field.default is None else field.default})"
        if kind is bool:
            # --flag / --no-flag; an Optional[bool] left out keeps its automatic default (None).
            group.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS, help=text)
        else:
            group.add_argument(flag, type=kind, default=argparse.SUPPRESS, help=text)


def build_parser():
    """The training argument parser; config options are generated from the config's fields."""
    parser = argparse.ArgumentParser(
        prog="train.py", description="Train a GAN, or a restoration network (denoise, deblur, sr, inpaint, jpeg), "
                                     "on a folder of images or a built-in dataset.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue this run from its latest checkpoint")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config and model summaries, "
                                                               "then exit")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--allow-data-change", action="store_true",
                        help="with --resume: continue even though the --data folder's files changed")
    _add_options(parser.add_argument_group("training options (saved in the run's config.json)"), TrainConfig,
                 skip=_NOT_OPTIONS)
    _add_options(parser.add_argument_group("restoration options (--task denoise|deblur|sr|inpaint|jpeg)"),
                 RestoreConfig)
    return parser


def _dry_run(config):
    # Deferred: TensorFlow takes seconds to import, and --help or an argument error must answer at once.
    from deepdeconv.training import build_model, load_data, resolve_config

    config, _ = resolve_config(config, load_data(config))
    print(json.dumps(config.to_dict(), indent=2, sort_keys=True))
    model = build_model(config)
    if config.is_restoration:
        model.network.summary()
        if model.adversarial:
            model.discriminator.summary()
    else:
        model.generator.summary()
        model.discriminator.summary()
    print(f"{config.total_steps} steps of batch {config.batch} ({config.total_steps * config.batch / 1000:g} kimg)")


def main(argv=None):
    """Parses `argv` and trains (or resumes, or dry-runs). Returns the exit status."""
    args = build_parser().parse_args(argv)
    from deepdeconv import training

    meta = {"resume", "dry_run", "no_progress", "allow_data_change"}
    given = {k: v for k, v in vars(args).items() if k not in meta}
    try:
        if args.resume:
            config = training.resume_config(args.resume, given)
        else:
            config = TrainConfig.from_options(given)
    except TypeError as e:
        raise UserError(str(e)) from None
    if args.dry_run:
        _dry_run(config)
        return 0
    with sigterm_interrupts():  # preemption saves a checkpoint like Ctrl-C
        run_dir = training.train(config, run_dir=args.resume, progress=not args.no_progress,
                                 allow_data_change=args.allow_data_change)
    if run_dir is not None:  # None on a non-chief worker, which keeps no run directory
        print(f"done: {run_dir}")
    return 0


def console_main():
    """Entry point of the `deepdeconv-train` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
