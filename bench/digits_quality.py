"""Quality of a training run within a CPU budget, scored by two independent classifier judges.

Trains with the default TrainConfig (plus `--set name=value` overrides), for `--steps`, or for
`--minutes` of wall time turned into steps by timing a short run of the same config first.
Then it scores the EMA generator against the training data with

- our classifier-FID (`deepdeconv.metrics.classifier`, a CNN trained on the data), next to
  the same metric between two disjoint halves of the real data (the floor);
- a second judge none of the library's code trains: a scikit-learn MLP classifier fitted to
  the same images (on their labels, or on which of four rotations an unlabelled image was
  given), whose last hidden layer gives a second FID; its floor is computed the same way;
- "clean": the fraction of samples the MLP judge classifies with probability >= 0.9, as a
  fraction of the same figure on real images (1.0 = as unambiguous as real data; a malformed
  digit is one no class explains). Labelled data only.

Prints one line. Figures in a quality comparison should come from one seed per config and
more than one data set.

    python bench/digits_quality.py                                   # the default job: digits
    python bench/digits_quality.py --data ~/mnist4k --minutes 8      # a folder of 28x28 digits
    python bench/digits_quality.py --data ~/mnist4k --steps 3000 --set d_lr=4e-4 --set beta1=0.0
    python bench/digits_quality.py --data ~/mnist4k --steps 3613 --set clusters=0   # no self-conditioning

Under self-conditioning (the default) the data's own labels are not used for training; the
judges still use them.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

CALIBRATION_STEPS = 80
CONFIDENT = 0.9


def parse_set(items):
    """`name=value` strings -> {name: value}, values parsed as JSON where they parse."""
    out = {}
    for item in items:
        name, _, text = item.partition("=")
        try:
            out[name.replace("-", "_")] = json.loads(text)
        except json.JSONDecodeError:
            out[name.replace("-", "_")] = text
    return out


def mlp_judge(images, labels, seed=0):
    """Fits the second judge: an MLP on flattened pixels (labels, or rotation labels if None)."""
    from sklearn.neural_network import MLPClassifier  # imported here: slow to import
    x = images.reshape(len(images), -1).astype(np.float32) / 255.0
    if labels is None:
        rotated = [np.rot90(images, k, axes=(1, 2)) for k in range(4)]
        x = np.concatenate([r.reshape(len(images), -1) for r in rotated]).astype(np.float32) / 255.0
        labels = np.repeat(np.arange(4), len(images))
    judge = MLPClassifier((256, 128), max_iter=60, early_stopping=True, random_state=seed)
    judge.fit(x, labels)
    return judge


def mlp_features(judge, images):
    """Last hidden layer (128-d ReLU) and class probabilities of the MLP judge."""
    h = images.reshape(len(images), -1).astype(np.float32) / 255.0
    for w, b in zip(judge.coefs_[:-1], judge.intercepts_[:-1]):
        h = np.maximum(h @ w + b, 0.0)
    return h, judge.predict_proba(images.reshape(len(images), -1).astype(np.float32) / 255.0)


def frechet(a, b):
    """Fréchet distance between Gaussians fitted to feature sets a and b."""
    from deepdeconv.metrics.fid import frechet_distance
    return float(frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)))


def calibrate(config):
    """Steps per second of `config` on this machine, from a short run without callbacks' extras."""
    import dataclasses
    from deepdeconv import rundir
    from deepdeconv.fileio import read_jsonl
    from deepdeconv.training import train
    short = dataclasses.replace(config, steps=CALIBRATION_STEPS, log_every=CALIBRATION_STEPS // 4,
                                sample_every=10 ** 6, checkpoint_every=10 ** 6,
                                outdir=tempfile.mkdtemp(prefix="deepdeconv-calibrate-"))
    recs = [r for r in read_jsonl(Path(train(short, progress=False)) / rundir.LOG)
            if "elapsed_s" in r and "event" not in r]
    return (recs[-1]["step"] - recs[0]["step"]) / max(recs[-1]["elapsed_s"] - recs[0]["elapsed_s"], 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the config's)")
    parser.add_argument("--minutes", type=float, default=None, help="train for this wall time instead")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a TrainConfig field, e.g. --set d_lr=4e-4 (repeatable)")
    parser.add_argument("--num-gen", type=int, default=2000)
    parser.add_argument("--outdir", default=None, help="where the run goes (default: a temporary folder)")
    parser.add_argument("--label", default="", help="a name for this variant in the printed line")
    parser.add_argument("--run", default=None, help="score this finished run directory instead of training")
    args = parser.parse_args()

    from deepdeconv.config import TrainConfig
    from deepdeconv.data import load_source
    from deepdeconv.metrics.evaluator import evaluate
    from deepdeconv.metrics.sources import generator_stream
    from deepdeconv.pixels import to_uint8
    from deepdeconv.sampling.load import load_generator
    from deepdeconv.training import train

    outdir = args.outdir or tempfile.mkdtemp(prefix="deepdeconv-quality-")
    changes = dict(parse_set(args.set), data=args.data, outdir=outdir)
    config = TrainConfig.from_options(changes)
    rate = None
    if args.minutes:
        rate = calibrate(config)
        changes["steps"] = max(1, int(rate * args.minutes * 60))
    elif args.steps:
        changes["steps"] = args.steps
    config = TrainConfig.from_options(changes)
    start = time.perf_counter()
    if args.run:
        run_dir = args.run
        config = TrainConfig.load(Path(run_dir) / "config.json")
    else:
        run_dir = train(config, progress=sys.stderr.isatty())
    minutes = (time.perf_counter() - start) / 60

    source = load_source(config.data, config.resolution, config.channels)
    pairs = [(to_uint8(b.numpy()), y.numpy()) for b, y in source.images().batch(500)]
    # A folder is read class by class: the floor's halves must be drawn at random.
    order = np.random.default_rng(0).permutation(sum(len(p[0]) for p in pairs))
    real = np.concatenate([p[0] for p in pairs])[order]
    half = len(real) // 2
    floor = evaluate(real[:half], real[half:2 * half], "cfid", classifier_data=config.data, progress=False)
    generator, _ = load_generator(run_dir)
    # Classifier-IS and the class histogram need labels; an unlabelled folder gets cFID only.
    metrics = "cfid,cis" if source.class_names else "cfid"
    result = evaluate(generator_stream(generator, args.num_gen), real, metrics, classifier_data=config.data,
                      progress=False)
    values = result["metrics"]

    z = np.random.default_rng(1).standard_normal((args.num_gen, config.z_dim)).astype(np.float32)
    fake = to_uint8(generator.predict(z, batch_size=250, verbose=0))
    labels = np.concatenate([p[1] for p in pairs])[order] if source.class_names else None
    judge = mlp_judge(real, labels)
    real_h, real_p = mlp_features(judge, real)
    fake_h, fake_p = mlp_features(judge, fake)
    judge_fid = frechet(fake_h, real_h)
    judge_floor = frechet(real_h[:half], real_h[half:2 * half])
    clean = ""
    if labels is not None:
        ratio = (fake_p.max(1) >= CONFIDENT).mean() / max((real_p.max(1) >= CONFIDENT).mean(), 1e-9)
        clean = f"; clean {ratio:.2f} of real"
    speed = f" ({rate:.2f} steps/s timed)" if rate else ""
    print(f"{args.label or 'run'} on {args.data} [{' '.join(args.set) or 'defaults'}; precision "
          f"{config.mixed_precision}]: {minutes:.1f} min, {config.total_steps} steps{speed}; "
          f"cFID {values['cfid']:.2f} vs floor {floor['metrics']['cfid']:.2f} "
          f"({values['cfid'] / floor['metrics']['cfid']:.1f}x); MLP-FID {judge_fid:.3f} vs floor {judge_floor:.3f} "
          f"({judge_fid / judge_floor:.1f}x){clean}; classifier-IS {values.get('cis', float('nan')):.2f}; "
          f"classes {json.dumps(values.get('class_histogram'))}; run {run_dir}", flush=True)


if __name__ == "__main__":
    main()
