"""Per-class evaluation of a class-conditional generator: does it draw what it is asked for?

Samples are class-balanced: image i (seed `seed + i`) is drawn for class i mod K, the
convention of `sources.generator_stream` and `sample.py`, so every class gets the same
number of images and any image can be reproduced with `sample.py grid RUN --seeds S --class C`.
A classifier trained on the real labelled data (`metrics.classifier`) then gives:

- accuracy: how often it assigns a generated image to the class that was requested;
- per class: that accuracy for each class, and whether the class is present, i.e.
  recognisable at least `PRESENT_THRESHOLD` of the time it is asked for (overall accuracy
  alone can hide a class the generator never draws);
- per-class FID: for each class, the Fréchet distance between generated and real images of
  that class, in the classifier's features offline ("cfid") or any other feature network's;
  their mean is the intra-class FID of Miyato & Koyama (2018). Unlike accuracy it exposes a
  generator that ignores its latent and draws one image per class.
"""
import warnings

import numpy as np
from tqdm.auto import tqdm

from deepdeconv.errors import UserError
from deepdeconv.metrics.fid import FewSamplesWarning, frechet_distance
from deepdeconv.metrics.registry import CLASSIFIER
from deepdeconv.metrics.stats import StreamingStats
from deepdeconv.sampling import generate_from_seeds, is_conditional, num_classes_of
from deepdeconv.sampling.latents import class_of
from deepdeconv.pixels import to_uint8

PRESENT_THRESHOLD = 0.5  # a class is "present" when at least half of its samples are recognised as it
DEFAULT_PER_CLASS = 200  # digits has ~180 real images per class; per-class FID wants > feature dims


def evaluate_per_class(generator, classifier, class_names=(), *, real=None, fid_network=None, fid_name="cfid",
                       num_per_class=DEFAULT_PER_CLASS, seed=0, batch_size=100, progress=True):
    """Classification accuracy, class presence and per-class FID of a conditional generator.

    Args:
        generator: a conditional Keras generator (`[z, labels]` -> images in [-1, 1]).
        classifier: a supervised `metrics.classifier.ClassifierNetwork` trained on the real
            data, whose classes are the generator's classes in the same order.
        class_names: the generator's class names (from the run's config); () to use the
            classifier's.
        real: an ImageSource with labels, for per-class FID; None skips FID.
        fid_network: feature network for per-class FID (callable uint8 batch ->
            {"features": ...}); None uses the classifier.
        fid_name: the key per-class FID values are recorded under ("cfid", "fid", ...).
        num_per_class: generated images per class.
        seed: first latent seed.
        batch_size: images per generator and network call.
        progress: show progress bars.

    Returns:
        {"accuracy", "classes_present", "num_classes", "num_per_class", "min_class_accuracy",
        "per_class": {name: {"accuracy", fid_name (when real is given)}}, "network"}, plus
        "intra_<fid_name>" (the mean per-class FID) when real is given.

    Raises:
        UserError: the generator is unconditional, or the classifier's classes do not match.
    """
    if not is_conditional(generator):
        raise UserError("Per-class evaluation needs a conditional generator, but this one is unconditional.")
    names = _class_names(generator, classifier, class_names, num_classes_of)
    k = len(names)
    fid_network = fid_network or classifier
    labels = class_of(np.arange(k * num_per_class), k)
    hits = np.zeros(k, np.int64)
    fake_stats = [StreamingStats() for _ in range(k)]
    seeds = range(seed, seed + len(labels))
    done = 0
    with tqdm(total=len(labels), unit="img", desc="per-class samples", disable=not progress, leave=False) as bar:
        for _, images in generate_from_seeds(generator, seeds, batch_size, labels):
            wanted = labels[done:done + len(images)]
            predicted = np.argmax(classifier(images)["logits"], axis=1)
            hits += np.bincount(wanted[predicted == wanted], minlength=k)
            if real is not None:
                _add_by_class(fake_stats, fid_network(images)["features"], wanted)
            done += len(images)
            bar.update(len(images))
    accuracy = hits / num_per_class
    per_class = {name: {"accuracy": float(a)} for name, a in zip(names, accuracy)}
    record = {}
    if real is not None:
        fids = _per_class_fid(fake_stats, real, fid_network, k, batch_size, progress)
        for name, fid in zip(names, fids):
            per_class[name][fid_name] = fid
        known = [f for f in fids if f is not None]
        record[f"intra_{fid_name}"] = float(np.mean(known)) if known else None
    return {
        **record,
        "accuracy": float(hits.sum() / len(labels)),
        "classes_present": int((accuracy >= PRESENT_THRESHOLD).sum()),
        "num_classes": k,
        "num_per_class": int(num_per_class),
        "min_class_accuracy": float(accuracy.min()),
        "per_class": per_class,
        "network": classifier.name,
    }


def per_class_for_evaluator(evaluator, generator, class_names=(), num_images=10000, seed=0):
    """`evaluate_per_class` with the networks and real data of an `evaluate.Evaluator`.

    The evaluate command calls this for a conditional generator. Accuracy uses the
    evaluator's classifier (trained on the real data); per-class FID uses the network of the
    first FID-type metric requested (so `--metrics fid` gives per-class Inception FID and
    `--metrics cfid` the offline classifier FID), and is skipped when none was requested or
    the real data is not a labelled image source.

    Args:
        evaluator: the Evaluator of the run's evaluation.
        generator: the conditional generator.
        class_names: the generator's class names (from its config), or ().
        num_images: generated images in total, split evenly over the classes.
        seed: first latent seed.
    """
    fid = next((m for m in evaluator.metrics if m.kind == "fid"), None)
    source = getattr(evaluator.real, "source", None)
    real = source if fid is not None and source is not None and source.class_names else None
    k = len(class_names) or num_classes_of(generator) or 1
    return evaluate_per_class(
        generator, evaluator.network(CLASSIFIER), class_names, real=real,
        fid_network=evaluator.network(fid.network) if real is not None else None,
        fid_name=fid.name if fid is not None else "cfid", num_per_class=max(1, num_images // k), seed=seed,
        batch_size=evaluator.batch_size, progress=evaluator.progress)


def _class_names(generator, classifier, class_names, num_classes_of):
    """The class names to report, checked against the generator and the classifier."""
    if not classifier.supervised:
        raise UserError("Per-class evaluation needs a classifier trained on labelled data (classes as subfolders, "
                        "or digits/mnist/...); the real data has no labels.")
    known = tuple(classifier.class_names)
    names = tuple(class_names) or known
    count = num_classes_of(generator) or len(names)
    if len(names) != count or len(known) != count or (class_names and names != known):
        raise UserError(f"The generator draws {count} classes ({', '.join(names)}) but the classifier knows "
                        f"{len(known)} ({', '.join(known)}); evaluate against the data the generator was trained on.")
    return names


def _add_by_class(stats, features, labels):
    for c in np.unique(labels):
        stats[c].update(features[labels == c])


def _per_class_fid(fake_stats, real, network, k, batch_size, progress):
    """FID per class between generated statistics and the real images of that class (None if too few)."""
    real_stats = [StreamingStats() for _ in range(k)]
    with tqdm(total=real.num_images, unit="img", desc="per-class real", disable=not progress, leave=False) as bar:
        for images, labels in real.images().batch(batch_size):
            labels = labels.numpy()
            _add_by_class(real_stats, network(to_uint8(images.numpy()))["features"], labels)
            bar.update(len(labels))
    fids = []
    for fake, real_c in zip(fake_stats, real_stats):
        if fake.n < 2 or real_c.n < 2:
            fids.append(None)
            continue
        with warnings.catch_warnings():
            # Classes are small: a biased but finite FID per class is still worth comparing.
            warnings.simplefilter("ignore", FewSamplesWarning)
            fids.append(frechet_distance(real_c.mu, real_c.sigma, fake.mu, fake.sigma))
    return fids
