"""Whether a self-conditioned run draws every class inside each cluster as often as the data holds it.

For a finished run on labelled data (a folder with class subfolders), the images are clustered
again exactly as training did, and for every cluster the MLP judge of `digits_quality.py`
classifies `--per-cluster` samples the EMA generator draws for that cluster. Prints one line:
the share of each cluster's majority class among the real images and among the samples, over
the clusters whose real images are at most 90 % one class (where a generator that drops the
minority digits of a cluster shows), and the total variation distance between the real and the
generated class shares over all clusters (0 = the same shares; the labels are used only here,
never in training).

    python bench/cluster_modes.py runs/00003-mnist4k
"""
import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from digits_quality import mlp_features, mlp_judge  # noqa: E402

MIXED = 0.9


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a finished self-conditioned run directory on labelled data")
    parser.add_argument("--per-cluster", type=int, default=200, help="samples drawn for each cluster")
    args = parser.parse_args(argv)

    from deepdeconv.checkpoint import latest_checkpoint, restore_network
    from deepdeconv.config import TrainConfig
    from deepdeconv.data import load_source
    from deepdeconv.data.clusters import self_conditioned_source
    from deepdeconv.errors import UserError
    from deepdeconv.models import generator_for
    from deepdeconv.pixels import to_uint8
    from deepdeconv.sampling.generate import generate

    run = Path(args.run)
    config = TrainConfig.load(run / "config.json")
    if not config.clusters:
        raise UserError(f"{run} is not a self-conditioned run (clusters = 0).")
    source = load_source(config.data, config.resolution, config.channels)
    if not source.class_names:
        raise UserError(f"{config.data} has no labels to compare the clusters' contents with.")
    clustered = self_conditioned_source(source, config.clusters, config.seed)
    real, labels, clusters = [], [], []
    for (x, y), (_, c) in zip(source.images().batch(500), clustered.images().batch(500)):
        real.append(to_uint8(x.numpy()))
        labels.append(y.numpy())
        clusters.append(c.numpy())
    real, labels, clusters = (np.concatenate(a) for a in (real, labels, clusters))
    # The conditional network itself, not the exported z-only wrapper: samples are drawn per cluster.
    checkpoint = latest_checkpoint(run)
    if checkpoint is None:
        raise UserError(f"{run} has no checkpoint yet.")
    generator = restore_network(generator_for(config), checkpoint, "generator_ema" if config.ema else "generator")
    judge = mlp_judge(real, labels)
    classes = len(source.class_names)
    real_shares, fake_shares, majority_real, majority_fake = np.zeros(classes), np.zeros(classes), [], []
    for c in range(config.clusters):
        inside = labels[clusters == c]
        z = np.random.default_rng(c).standard_normal((args.per_cluster, config.z_dim)).astype(np.float32)
        samples = np.concatenate(list(generate(generator, z, labels=np.full(args.per_cluster, c))))
        real_share = np.bincount(inside, minlength=classes) / len(inside)
        fake_share = np.bincount(mlp_features(judge, samples)[1].argmax(1), minlength=classes) / args.per_cluster
        real_shares += real_share * len(inside)
        fake_shares += fake_share * len(inside)
        if real_share.max() <= MIXED:
            majority_real.append(real_share.max())
            majority_fake.append(fake_share[real_share.argmax()])
    real_shares, fake_shares = real_shares / real_shares.sum(), fake_shares / fake_shares.sum()
    print(f"{run}: {len(majority_real)} of {config.clusters} clusters mixed (majority class <= {MIXED:.0%}); "
          f"their majority class is {np.mean(majority_real):.0%} of the real images and {np.mean(majority_fake):.0%} "
          f"of the samples; class shares off by total variation {0.5 * np.abs(real_shares - fake_shares).sum():.3f} "
          f"(largest generated share {fake_shares.max():.3f}, smallest {fake_shares.min():.3f}, real "
          f"{real_shares.min():.3f}-{real_shares.max():.3f})", flush=True)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
