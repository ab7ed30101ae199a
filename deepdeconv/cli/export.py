"""export.py: a trained generator or restorer as a SavedModel and TFLite files, with a README."""
import argparse
import sys

from deepdeconv.cli.common import quiet_tensorflow, run_cli

EPILOG = """\
examples:
  # everything (SavedModel + TFLite float32 and dynamic-range quantised) -> RUN/export/
  python export.py runs/00000-digits

  # only the SavedModel, from the best checkpoint's raw weights, to a folder of your choice
  python export.py runs/00000-digits --format savedmodel --checkpoint best --no-ema --out serve/digits

  # a restorer; TFLite also with a fixed 256x256 input for delegates that need static shapes
  python export.py runs/00003-denoise --format tflite --tile 256

The folder gets a README.md naming each file's signatures, inputs and outputs, with loading
examples and each file's size and largest pixel difference from the Keras model.
"""


def build_parser():
    """The export.py argument parser."""
    p = argparse.ArgumentParser(prog="export.py", description="Export a trained deepdeconv model for use "
                                "outside Python (TF Serving, Vertex AI, Android/iOS, Raspberry Pi).",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", help="run directory, or a .keras generator or restorer file")
    p.add_argument("--format", default="all", metavar="FMT",
                   help="savedmodel, tflite or all (default all)")
    p.add_argument("--out", metavar="DIR",
                   help="output folder (default RUN/export, or NAME-export beside a .keras file)")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help='"best", "latest", a checkpoint .npz, or a .keras file; default: the exported network')
    p.add_argument("--no-ema", dest="ema", action="store_false",
                   help="export the raw weights instead of their moving average")
    p.add_argument("--tile", type=int, metavar="T",
                   help="restorers: also write TFLite files with a fixed [1, T, T, C] input")
    return p


def main(argv=None):
    """Parses the command line and writes the export.

    Returns:
        0 on success; predictable mistakes raise UserError.
    """
    args = build_parser().parse_args(argv)
    from deepdeconv.export import export_run  # imports TensorFlow: after parsing, so --help is quick

    export_run(args.source, fmt=args.format, out=args.out, checkpoint=args.checkpoint, ema=args.ema, tile=args.tile)
    return 0


def console_main():
    """Entry point of the `deepdeconv-export` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
