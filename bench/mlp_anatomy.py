"""What the MLP judge's distance of a finished run on labelled digits is made of.

`digits_quality.py` scores a run with a second judge: an MLP on flattened pixels, whose FID
distance to the real-data floor is the figure the quality goal asks to halve. This splits that
distance, with the same judge, draws and matched floors (`digits_quality.matched_fid`):

- at every checkpoint the run kept (how the distance still falls with training);
- the final samples resampled so their classes (as the judge reads them) have the data's
  shares: what the class balance alone accounts for;
- the final samples each shifted by whole pixels so that their centre of mass lies where the
  real images' does on average: what the spread of the digits' positions accounts for;
- for scale, real images shifted by one pixel against unshifted ones.

Prints one line.

    python bench/mlp_anatomy.py runs/00003-mnist4k
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from digits_quality import matched_fid, mlp_features, mlp_judge  # noqa: E402

DRAWS = 5
POOL = 4  # candidate samples per kept one when resampling to the data's class shares


def centre_of_mass(images):
    """(row, column) centre of mass [N] of each image's intensity (channels summed)."""
    ink = images.astype(np.float64).sum(-1)
    total = ink.sum((1, 2)) + 1e-9
    return (ink.sum(2) @ np.arange(ink.shape[1])) / total, (ink.sum(1) @ np.arange(ink.shape[2])) / total


def recentred(images, row, column):
    """Each image rolled by whole pixels so that its centre of mass comes nearest (row, column)."""
    rows, columns = centre_of_mass(images)
    return np.stack([np.roll(image, (int(round(row - r)), int(round(column - c))), axis=(0, 1))
                     for image, r, c in zip(images, rows, columns)])


def class_balanced(predicted, shares, size):
    """Indices of `size` rows whose predicted classes come in `shares` (as far as the pool allows)."""
    picks = [np.flatnonzero(predicted == c)[:int(round(size * s))] for c, s in enumerate(shares)]
    return np.concatenate(picks)[:size]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished run directory trained on a folder with class subfolders")
    parser.add_argument("--num-gen", type=int, default=2000, help="generated images per draw (at most half the data)")
    args = parser.parse_args(argv)

    from deepdeconv.checkpoint import latest_checkpoint
    from deepdeconv.config import TrainConfig
    from deepdeconv.data import load_source
    from deepdeconv.errors import UserError
    from deepdeconv.pixels import to_uint8
    from deepdeconv.rundir import require_run_dir
    from deepdeconv.sampling.generate import generate, is_conditional
    from deepdeconv.sampling.load import load_generator

    run = require_run_dir(Path(args.run))
    config = TrainConfig.load(run / "config.json")
    source = load_source(config.data, config.resolution, config.channels)
    if not source.class_names:
        raise UserError(f"{config.data} has no labels: the MLP judge needs them.")
    pairs = [(to_uint8(x.numpy()), y.numpy()) for x, y in source.images().batch(500)]
    real, labels = np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
    size = min(args.num_gen, len(real) // 2)
    judge = mlp_judge(real, labels)
    real_h = mlp_features(judge, real)[0]
    shares = np.bincount(labels, minlength=len(source.class_names)) / len(labels)

    def draw(generator, i, n):
        rng = np.random.default_rng(1 + i)
        z = rng.standard_normal((n, config.z_dim)).astype(np.float32)
        wanted = rng.choice(labels, n) if is_conditional(generator) else None
        return np.concatenate(list(generate(generator, z, batch_size=250, labels=wanted)))

    def distance(feature_draws):
        n = min(len(f) for f in feature_draws)
        mean, _, floor = matched_fid(real_h, [f[:n] for f in feature_draws], n)
        return mean - floor

    checkpoints = sorted((run / "checkpoints").glob("*.npz"))
    if not checkpoints or latest_checkpoint(run) is None:
        raise UserError(f"{run} has no readable checkpoint.")
    by_step = []
    for path in checkpoints:
        generator, _ = load_generator(run, checkpoint=path)
        by_step.append(f"{int(path.stem.split('-')[-1])}: "
                       f"{distance([mlp_features(judge, draw(generator, i, size))[0] for i in range(DRAWS)]):.3f}")
    pools = [draw(generator, i, POOL * size) for i in range(DRAWS)]
    plain, balanced, centred = [], [], []
    row, column = (c.mean() for c in centre_of_mass(real))
    for pool in pools:
        h, p = mlp_features(judge, pool)
        plain.append(h[:size])
        balanced.append(h[class_balanced(p.argmax(1), shares, size)])
        centred.append(mlp_features(judge, recentred(pool[:size], row, column))[0])
    spread = [np.std(c) for c in centre_of_mass(pools[0][:size])]
    real_spread = [np.std(c) for c in centre_of_mass(real)]
    shifted = []
    for i in range(DRAWS):
        # Other real images than the half each draw is scored against (matched_fid's seed i).
        other = real[np.random.default_rng(i).permutation(len(real))[size:2 * size]]
        shifted.append(mlp_features(judge, np.roll(other, 1, axis=2))[0])
    print(f"{run}: MLP distance by checkpoint step {', '.join(by_step)}; final samples with the data's class "
          f"shares {distance(balanced):.3f}, recentred to whole pixels {distance(centred):.3f} (centre-of-mass "
          f"spread {spread[0]:.2f}/{spread[1]:.2f} px against the real {real_spread[0]:.2f}/{real_spread[1]:.2f}); "
          f"for scale, real images shifted by one pixel {distance(shifted):.3f}; plain {distance(plain):.3f}",
          flush=True)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
