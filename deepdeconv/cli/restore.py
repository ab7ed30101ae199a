"""restore.py: apply a trained restorer to image files of any size (deepdeconv-restore)."""
import argparse
import sys

from deepdeconv.cli.common import quiet_tensorflow, run_cli
from deepdeconv.errors import UserError

EPILOG = """\
examples:
  # a run's exported EMA restorer on one photo, and on a folder tree (outputs mirror the names)
  python restore.py runs/00003-photos noisy.jpg --out clean.png
  python restore.py runs/00003-photos damaged/ --out restored/

  # side-by-side strips input | classical baseline | ours, beside each output
  python restore.py runs/00004-photos-sr photos/ --out big/ --compare

  # the best checkpoint by validation PSNR; a bare .keras file (say what it restores)
  python restore.py runs/00003-photos noisy.png --out clean.png --checkpoint best
  python restore.py restorer.keras small.png --out large.png --task sr

  # a shipped pretrained restorer (names: denoise, denoise_gray, sr2, sr4, where installed)
  python restore.py denoise photo.jpg --out clean.png

  # inpainting: one mask per image, white = missing
  python restore.py runs/00005-photos-inpaint holes.png --out filled.png --mask holes_mask.png

Large images are restored in overlapping tiles sized from the network's receptive field
(--tile sets the tile side; the result equals whole-image restoration, without seams, in
memory that does not grow with the image). For sr the output is scale times larger.
A grayscale restorer restores the luma of a colour photo and keeps its chroma (upscaled
bicubically for sr); a colour restorer on a grayscale image writes the mean of its output
channels, so grey stays grey. Files that cannot be decoded are skipped and listed; nothing
that exists is overwritten unless --overwrite.
"""


def build_parser():
    """The restore.py argument parser."""
    p = argparse.ArgumentParser(prog="restore.py", description="Restore images with a trained deepdeconv restorer.",
                                epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", metavar="RUN_OR_MODEL",
                   help="run directory, .keras restorer file, or pretrained name (denoise, sr2, sr4, ...)")
    p.add_argument("input", metavar="INPUT", help="image file or folder (searched recursively)")
    p.add_argument("--out", required=True, metavar="OUTPUT",
                   help="output file (its suffix chooses the format; default .png) or folder")
    p.add_argument("--tile", type=int, metavar="N",
                   help="tile side in input pixels for large images (default 512; larger is faster, needs more memory)")
    p.add_argument("--batch", type=int, default=4, metavar="N", help="images or tiles per network call (default 4)")
    p.add_argument("--compare", action="store_true", help="also write <name>_compare.png: input | baseline | ours")
    p.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    p.add_argument("--checkpoint", metavar="CKPT",
                   help='run directories: "best" (by validation PSNR), "latest", or a checkpoint .npz '
                        "(default: the exported restorer)")
    p.add_argument("--no-ema", dest="ema", action="store_false", help="use the raw weights, not their moving average")
    p.add_argument("--task", help="what a bare .keras file restores: denoise, deblur, sr, inpaint or jpeg")
    p.add_argument("--scale", type=int, help="sr: the expected upscaling factor (checked against the model)")
    p.add_argument("--mask", metavar="PATH", help="inpaint: mask image, or folder of masks named like the inputs")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="hide the progress bar")
    return p


def main(argv=None):
    """Parses the command line and restores the images.

    Returns:
        0 when at least one image was restored (skipped files are listed as warnings), 1 when
        every file failed; predictable mistakes raise UserError.
    """
    args = build_parser().parse_args(argv)
    for name, value, low in (("--tile", args.tile, 16), ("--batch", args.batch, 1)):
        if value is not None and value < low:
            raise UserError(f"{name} must be at least {low}, got {value}.")
    # Deferred: TensorFlow takes seconds to import, and --help or an argument error must answer at once.
    from deepdeconv.metrics.restoration import comparison_baseline
    from deepdeconv.restoring.files import plan_jobs, restore_files
    from deepdeconv.restoring.load import load_restorer

    # Outputs are checked before the model loads: a refused overwrite costs nothing.
    jobs = plan_jobs(args.input, args.out, compare=args.compare, overwrite=args.overwrite, mask=args.mask)
    spec = load_restorer(args.model, task=args.task, scale=args.scale, checkpoint=args.checkpoint, ema=args.ema)
    if spec.task != "inpaint" and args.mask:
        raise UserError(f"--mask applies to inpainting restorers; {args.model} restores {spec.task}.")
    if spec.task == "inpaint" and not args.mask:
        raise UserError("An inpainting restorer needs the holes: give --mask (an image, or a folder of images "
                        "named like the inputs, white = missing).")
    skipped = restore_files(spec, jobs, tile=args.tile, batch=args.batch, progress=args.progress,
                            baseline=comparison_baseline(spec) if args.compare else None)
    for path, reason in skipped:
        print(f"warning: skipped {path}: {reason}", file=sys.stderr)
    if skipped and len(skipped) == len(jobs):
        print(f"error: none of the {len(jobs)} input file(s) could be decoded.", file=sys.stderr)
        return 1
    if skipped:
        print(f"warning: {len(skipped)} of {len(jobs)} file(s) skipped (listed above).", file=sys.stderr)
    return 0


def console_main():
    """Entry point of the `deepdeconv-restore` console script."""
    quiet_tensorflow()
    sys.exit(run_cli(main))
