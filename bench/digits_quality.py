"""Quality of a training run within a CPU budget, scored by two independent classifier judges.

Trains with the default TrainConfig (plus `--set name=value` overrides), for `--steps`, or for
`--minutes` of wall time turned into steps by timing a short run of the same config first.
Then it scores the EMA generator against the training data with

- our classifier-FID (`deepdeconv.metrics.classifier`, a CNN trained on the data), next to
  the same metric between two disjoint halves of the real data (the floor), each generated
  draw scored against a half of the same size as its floor (`matched_fid`);
- a second judge none of the library's code trains: a scikit-learn MLP classifier fitted to
  the same images (on their labels, or on which of four rotations an unlabelled image was
  given), whose last hidden layer gives a second FID; its floor is computed the same way;
- "clean": the fraction of samples the MLP judge classifies with probability >= 0.9, as a
  fraction of the same figure on real images (1.0 = as unambiguous as real data; a malformed
  digit is one no class explains). Labelled data only.

Prints one line: each figure is the mean over `--draws` draws of generated images, with its
draw-to-draw spread, the floor and the distance to it. Training seeds differ by more than draws
do: compare configs over several `--set seed=N` runs and more than one data set. `--run DIR`
scores a finished run again.

    python bench/digits_quality.py                                   # the default job: digits
    python bench/quality_data.py ~/q                                 # writes ~/q/mnist4k, photo32, photo32b
    python bench/digits_quality.py --data ~/q/mnist4k --minutes 8    # a folder of 28x28 digits
    python bench/digits_quality.py --data ~/q/mnist4k --steps 3000 --set d_lr=4e-4 --set beta1=0.0
    python bench/digits_quality.py --data ~/q/mnist4k --steps 3613 --set clusters=0   # no self-conditioning

Under self-conditioning (the default) the data's own labels are not used for training; the
judges still use them. A `--set conditional=true` run (trained on the labels) is sampled with
classes drawn in the data's shares.
"""
import argparse
import functools
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


def features(network, images, batch=500):
    """A feature network's outputs ({"features", "logits"}) for uint8 images, in batches."""
    parts = [network(images[i:i + batch]) for i in range(0, len(images), batch)]
    return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}


def matched_fid(real, fakes, size):
    """FID of each draw of generated features against a random half of the real ones, and the floor.

    Draw i is scored against `size` real images picked by seed i; the floor is the distance
    between those and `size` other real images. Both distances then compare equally many
    images, so they carry the same small-sample bias, and averaging over draws removes most of
    the noise of a single draw (for 2,000 images a standard deviation of 0.1-0.3 on the MLP judge).

    Returns:
        (mean FID, its standard deviation over draws, mean floor).
    """
    scores, floors = [], []
    for i, fake in enumerate(fakes):
        order = np.random.default_rng(i).permutation(len(real))
        half_a, half_b = real[order[:size]], real[order[size:2 * size]]
        scores.append(frechet(fake[:size], half_a))
        floors.append(frechet(half_b, half_a))
    return float(np.mean(scores)), float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, float(np.mean(floors))


def describe(name, mean, spread, floor):
    """`name mean±sd vs floor F (distance D)`: the figure, its draw-to-draw spread and its floor."""
    return f"{name} {mean:.3f}±{spread:.3f} vs floor {floor:.3f} (distance {mean - floor:.3f})"


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


@functools.lru_cache(maxsize=2)
def reference(data, resolution, channels):
    """What `score` compares against, computed once per data set (a sweep scores many generators).

    Returns:
        (source, real uint8 images, labels or None, the metric classifier, the MLP judge,
        the classifier's features of the real images, (MLP features, MLP probabilities)).
    """
    from deepdeconv.data import load_source
    from deepdeconv.metrics.classifier import classifier_for
    from deepdeconv.pixels import to_uint8
    source = load_source(data, resolution, channels)
    pairs = [(to_uint8(b.numpy()), y.numpy()) for b, y in source.images().batch(500)]
    real = np.concatenate([p[0] for p in pairs])
    labels = np.concatenate([p[1] for p in pairs]) if source.class_names else None
    classifier = classifier_for(data, resolution, real.shape[-1], progress=False)
    judge = mlp_judge(real, labels)
    return source, real, labels, classifier, judge, features(classifier, real), mlp_features(judge, real)


def score(config, generator, num_gen=2000, draws=5):
    """Scores `generator` against the real images of `config.data` with both judges.

    Args:
        config: the run's TrainConfig (data, resolution, channels, z_dim).
        generator: a Keras generator as `load_generator` returns it.
        num_gen: generated images per draw (at most half the real images).
        draws: independent draws of generated images to average.

    Returns:
        {"cfid": (mean, draw spread, floor), "mlp": (the same), "line": the printed summary}.
    """
    from deepdeconv.metrics.classifier import weak_classifier_note
    from deepdeconv.metrics.inception_score import inception_score
    from deepdeconv.sampling.generate import generate, is_conditional

    source, real, labels, classifier, judge, real_c, (real_h, real_p) = reference(
        config.data, config.resolution, config.channels)
    size = min(num_gen, len(real) // 2)
    samples = []
    for i in range(draws):
        rng = np.random.default_rng(1 + i)
        z = rng.standard_normal((size, config.z_dim)).astype(np.float32)
        # A conditional run is asked for classes in the data's shares: its labels, shuffled.
        wanted = rng.permutation(labels)[:size] if is_conditional(generator) else None
        samples.append(np.concatenate(list(generate(generator, z, batch_size=250, labels=wanted))))

    fake_c = [features(classifier, d) for d in samples]
    fake_mlp = [mlp_features(judge, d) for d in samples]
    cfid = matched_fid(real_c["features"], [f["features"] for f in fake_c], size)
    mlp = matched_fid(real_h, [f[0] for f in fake_mlp], size)
    extra = ""
    if labels is not None:
        confident = np.mean([(p.max(1) >= CONFIDENT).mean() for _, p in fake_mlp])
        extra = f"; clean {confident / max((real_p.max(1) >= CONFIDENT).mean(), 1e-9):.2f} of real"
        logits = np.concatenate([f["logits"] for f in fake_c])
        counts = np.bincount(logits.argmax(1), minlength=len(source.class_names)) / draws
        c_is = np.mean([inception_score(f["logits"])[0] for f in fake_c])
        extra += (f"; classifier-IS {c_is:.2f}; classes "
                  f"{json.dumps(dict(zip(source.class_names, np.round(counts).astype(int).tolist())))}")
    if classifier.note:  # a judge at chance reads ~0 for any generator: say so on the line itself
        extra += f"; cFID judge near chance ({classifier.info['val_accuracy']:.0%} held-out accuracy)"
    mlp_accuracy = judge.best_validation_score_  # early stopping's held-out tenth of the images
    if weak_classifier_note({"val_accuracy": mlp_accuracy, "num_classes": len(judge.classes_)}):
        extra += f"; MLP judge near chance ({mlp_accuracy:.0%} held-out accuracy)"
    line = f"{draws} draws of {size}: {describe('cFID', *cfid)}; {describe('MLP-FID', *mlp)}{extra}"
    return {"cfid": cfid, "mlp": mlp, "line": line}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the config's)")
    parser.add_argument("--minutes", type=float, default=None, help="train for this wall time instead")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a TrainConfig field, e.g. --set d_lr=4e-4 (repeatable)")
    parser.add_argument("--num-gen", type=int, default=2000,
                        help="generated images per draw (at most half the real images: see matched_fid)")
    parser.add_argument("--draws", type=int, default=5, help="independent draws of generated images to average")
    parser.add_argument("--outdir", default=None, help="where the run goes (default: a temporary folder)")
    parser.add_argument("--label", default="", help="a name for this variant in the printed line")
    parser.add_argument("--run", default=None, help="score this finished run directory instead of training")
    args = parser.parse_args(argv)

    from deepdeconv.config import TrainConfig
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

    generator, _ = load_generator(run_dir)
    figures = score(config, generator, args.num_gen, args.draws)
    speed = f" ({rate:.2f} steps/s timed)" if rate else ""
    print(f"{args.label or 'run'} on {config.data} [{' '.join(args.set) or 'defaults'}; precision "
          f"{config.mixed_precision}]: {minutes:.1f} min, {config.total_steps} steps{speed}; "
          f"{figures['line']}; run {run_dir}", flush=True)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
