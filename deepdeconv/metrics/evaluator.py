"""Runs a set of metrics for generated images against real data; returns one result record.

One pass over the generated images feeds every feature network that the requested metrics
need; one pass over the real images (skipped when cached) does the same. FID keeps only
streaming statistics; IS keeps logits; KID and precision/recall keep features.
"""
import datetime
import time
import warnings
from pathlib import Path

import numpy as np

from deepdeconv.errors import UserError
from deepdeconv.metrics import registry
from deepdeconv.metrics.classifier import classifier_for
from deepdeconv.metrics.fid import FewSamplesWarning, frechet_distance, warn_if_few_samples
from deepdeconv.metrics.inception import InceptionNetwork
from deepdeconv.metrics.inception_score import inception_score
from deepdeconv.metrics.keras_inception import KerasInceptionNetwork
from deepdeconv.metrics.kid import kernel_inception_distance
from deepdeconv.metrics.passes import DEFAULT_BATCH, Accumulator, run_networks
from deepdeconv.metrics.precision_recall import precision_recall
from deepdeconv.metrics.sources import ImageStream, array_stream, data_stream, source_stream
from deepdeconv.metrics.stats import cached_stats, load_stats, save_stats, store_cached_stats

def _as_stream(data, resolution, channels, limit, what):
    if isinstance(data, ImageStream):
        return data
    if isinstance(data, np.ndarray):
        return array_stream(data if limit is None else data[:limit])
    if hasattr(data, "images") and hasattr(data, "num_images"):  # an ImageSource
        return source_stream(data, limit=limit)
    if isinstance(data, (str, Path)):
        return data_stream(str(data), resolution, channels, limit)
    raise TypeError(f"cannot use {type(data).__name__} as {what} images")


class Evaluator:
    """Computes metrics for any number of generated-image streams against one real reference.

    Real statistics/features are computed once (and cached on disk per dataset + resolution +
    network when the real data has a cache key), so repeated evaluations during training only
    pay for the generated images.
    """

    def __init__(self, metrics, real, *, resolution=None, channels=None, num_real=None, inception=None,
                 batch_size=DEFAULT_BATCH, cache=True, progress=True, kid_subsets=100, kid_subset_size=1000,
                 pr_k=3, classifier_data=None, download=True, keras_weights="imagenet", networks=None):
        """Prepares an evaluation.

        Args:
            metrics: "fid,is" or a list of names / `registry.Metric`.
            real: a data spec (folder, dataset name), a `.npz` statistics file, an
                ImageSource, an ImageStream or a uint8 array. None is allowed when only IS-type
                metrics are requested.
            resolution: side of the generated images (real images are loaded at it).
            channels: channels of the generated images (real images are loaded with them).
            num_real: use only the first `num_real` real images.
            inception: path of the Inception .pb / .tgz (else $DEEPDECONV_INCEPTION, the cache,
                a download).
            batch_size: images per network call.
            cache: use the user cache for real statistics and classifiers.
            progress: show progress bars.
            kid_subsets: KID subsets.
            kid_subset_size: KID subset size.
            pr_k: neighbourhood size of precision/recall.
            classifier_data: data spec to train the metric classifier on (default: `real`).
            download: allow downloading the Inception graph.
            keras_weights: weights for the Keras InceptionV3 network.
            networks: prebuilt feature networks by kind ("inception", "keras", "classifier"),
                used instead of building them.
        """
        self.metrics = registry.parse_metrics(metrics) if isinstance(metrics, str) else [
            registry.METRICS[m] if isinstance(m, str) else m for m in metrics]
        self.batch_size, self.cache, self.progress = batch_size, cache, progress
        self.kid = dict(num_subsets=kid_subsets, subset_size=kid_subset_size)
        self.pr_k = pr_k
        self._inception, self._download, self._keras_weights = inception, download, keras_weights
        self.real_stats_file = None
        self.real = None
        needs_real = [m.name for m in self.metrics if m.needs_real]
        if isinstance(real, (str, Path)) and str(real).endswith(".npz"):
            self.real_stats_file = Path(real)
        elif real is not None and needs_real:
            self.real = _as_stream(real, resolution, channels, num_real, "real")
        elif needs_real:
            raise UserError(f"Metric {needs_real[0]} needs real data.")
        if classifier_data is None:
            if self.real is not None:
                classifier_data = self.real.data_spec or self.real.source
            elif self.real_stats_file is None and not isinstance(real, (np.ndarray, ImageStream)):
                classifier_data = real  # a spec or an ImageSource: cis alone loads no real images
        self.classifier_data = classifier_data
        self.resolution = resolution or (self.real.resolution if self.real else None)
        self.channels = channels or (self.real.channels if self.real else None)
        self._networks = dict(networks or {})
        self._real_results = None
        self._check_stats_file_use()

    # --- networks ---------------------------------------------------------------------------
    def _check_stats_file_use(self):
        if self.real_stats_file is None:
            return
        for m in self.metrics:
            if m.kind in ("kid", "pr") or (m.kind == "fid" and m.network == registry.CLASSIFIER):
                raise UserError(f"Metric {m.name} needs real images; a statistics file ({self.real_stats_file}) "
                                "only supports fid and fid_keras.")

    def prepare(self):
        """Builds every feature network now, so a missing graph or unusable data fails early."""
        for kind in dict.fromkeys(m.network for m in self.metrics):
            self.network(kind)
        return self

    def network(self, kind):
        """The feature network for "inception", "keras" or "classifier" (built on first use)."""
        if kind not in self._networks:
            if kind == registry.INCEPTION:
                self._networks[kind] = InceptionNetwork(self._inception, download=self._download)
            elif kind == registry.KERAS:
                self._networks[kind] = KerasInceptionNetwork(self._keras_weights)
            else:
                self._networks[kind] = self._classifier()
        return self._networks[kind]

    def _classifier(self):
        if not self.classifier_data:
            raise UserError("Classifier metrics need the real data as a folder or dataset name (not a statistics "
                            "file or an array) to train the classifier on.")
        if isinstance(self.classifier_data, np.ndarray):
            raise UserError("Classifier metrics cannot train on an unlabelled array; pass an ImageSource or a spec.")
        net = classifier_for(self.classifier_data, self.resolution, self.channels, cache=self.cache,
                             progress=self.progress)
        return self._checked_classifier(net)

    def _checked_classifier(self, net):
        if not net.supervised and any(m.network == registry.CLASSIFIER and m.kind == "is" for m in self.metrics):
            raise UserError(f"cis needs labelled data (classes as subfolders, or digits/mnist/...); "
                            f"{getattr(self.classifier_data, 'name', self.classifier_data)} has no labels.")
        return net

    def _needs(self, side):
        """Per network: which outputs a pass over real (side="real") or fake images must keep."""
        needs = {}
        for m in self.metrics:
            if side == "real" and not m.needs_real:
                continue
            n = needs.setdefault(m.network, dict(stats=False, features=False, logits=False, histogram=False))
            n["stats"] |= m.kind == "fid"
            n["features"] |= m.kind in ("kid", "pr")
            n["logits"] |= side == "fake" and m.kind == "is"
        if side == "fake" and registry.CLASSIFIER in needs and self.network(registry.CLASSIFIER).supervised:
            needs[registry.CLASSIFIER]["histogram"] = True
        return needs

    # --- real side --------------------------------------------------------------------------
    def real_results(self):
        """Real statistics/features per network (cached in memory and, when possible, on disk)."""
        if self._real_results is not None:
            return self._real_results
        needs = self._needs("real")
        results, missing = {}, {}
        for kind, need in needs.items():
            if self.real_stats_file is not None:
                results[kind] = self._stats_file_for(kind)
                continue
            cached = self._load_cached(kind, need)
            if cached is not None:
                results[kind] = cached
            else:
                missing[kind] = need
        if missing:
            networks = {kind: self.network(kind) for kind in missing}
            accumulators = {kind: Accumulator(stats=True, features=need["features"]) for kind, need in missing.items()}
            computed = run_networks(self.real, accumulators, networks, self.batch_size, self.progress, "real images")
            for kind, result in computed.items():
                results[kind] = result
                if self.cache and self.real.cache_key:
                    store_cached_stats(networks[kind], self.real.cache_key, result, self.real.reference)
        self._real_results = results
        return results

    def _stats_file_for(self, kind):
        stats = load_stats(self.real_stats_file)
        recorded, used = stats.get("network"), self.network(kind).name
        if recorded and recorded != used:
            raise UserError(f"{self.real_stats_file} holds {recorded} statistics but the metric uses {used}.")
        return stats

    def _load_cached(self, kind, need):
        if not (self.cache and self.real.cache_key):
            return None
        return cached_stats(self.network(kind), self.real.cache_key, need["features"])

    def save_real_stats(self, path, kind=registry.INCEPTION):
        """Writes the real data's statistics for one network as a TTUR-compatible `.npz`."""
        if self.real is None:
            raise UserError("Saving statistics needs real images, not a statistics file.")
        result = run_networks(self.real, {kind: Accumulator(stats=True)}, {kind: self.network(kind)},
                              self.batch_size, self.progress, "real images")[kind]
        save_stats(path, result["mu"], result["sigma"], n=result["n"], network=self.network(kind).name,
                   reference=self.real.reference)
        return result["n"]

    # --- evaluation -------------------------------------------------------------------------
    def evaluate(self, fake):
        """Computes every metric for the generated images in `fake` (an ImageStream or uint8 array).

        Returns:
            The result record: metrics, n_real, n_fake, network, resize, real and fake references,
            warnings, seconds and a UTC timestamp.
        """
        start = time.time()
        fake = fake if isinstance(fake, ImageStream) else _as_stream(fake, None, None, None, "generated")
        fake_needs = self._needs("fake")
        networks = {kind: self.network(kind) for kind in fake_needs}
        accumulators = {kind: Accumulator(**need) for kind, need in fake_needs.items()}
        real = self.real_results() if any(m.needs_real for m in self.metrics) else {}
        fake_results = run_networks(fake, accumulators, networks, self.batch_size, self.progress, "generated images")
        values, notes, details = {}, [], {}
        for m in self.metrics:
            details[m.name] = networks[m.network].describe()
            if (note := getattr(networks[m.network], "note", None)) and note not in notes:
                notes.append(note)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FewSamplesWarning)  # kept in the record instead
                try:
                    self._compute(m, real.get(m.network), fake_results[m.network], values, notes)
                except ValueError as e:  # too few samples for the metric
                    raise UserError(f"{m.name}: {e}.") from None
        for kind, result in fake_results.items():
            if "counts" in result:
                net = networks[kind]
                counts = [int(c) for c in result["counts"]]
                values["classes_covered"] = sum(c > 0 for c in counts)
                values["class_histogram"] = dict(zip(net.class_names or map(str, range(len(counts))), counts))
        return self._record(values, notes, details, fake, real, start)

    def _compute(self, m, real, fake, values, notes):
        if m.kind == "fid":
            for n, who in ((fake["n"], "generated"), (real.get("n"), "real")):
                if n is not None and (text := warn_if_few_samples(n, len(fake["mu"]), f"{m.name} ({who})")):
                    notes.append(text)
            if len(real["mu"]) != len(fake["mu"]):
                raise UserError(f"The real statistics have {len(real['mu'])} dimensions but {m.name} features have "
                                f"{len(fake['mu'])}; the statistics file was made with another network.")
            values[m.name] = frechet_distance(real["mu"], real["sigma"], fake["mu"], fake["sigma"])
        elif m.kind == "is":
            values[m.name], values[f"{m.name}_std"] = inception_score(fake["logits"])
        elif m.kind == "kid":
            values[m.name], values[f"{m.name}_std"] = kernel_inception_distance(
                real["features"], fake["features"], **self.kid)
        else:
            p, r = precision_recall(real["features"], fake["features"], k=self.pr_k)
            values[f"{m.name}_precision"], values[f"{m.name}_recall"] = p, r
            values[m.name] = 0.0 if p + r == 0 else 2 * p * r / (p + r)

    def _record(self, values, notes, details, fake, real, start):
        n_real = None
        for result in real.values():
            n_real = result.get("n", len(result["features"]) if "features" in result else None)
        names = sorted({d["network"] for d in details.values()})
        resizes = sorted({d["resize"] for d in details.values()})
        if self.real_stats_file is not None:
            real_ref = {"stats": str(self.real_stats_file)}
        else:
            real_ref = self.real.reference if self.real is not None else None
        return {
            "metrics": values,
            "n_real": n_real,
            "n_fake": fake.num_images,
            "network": ",".join(names),
            "resize": ",".join(resizes),
            "networks": details,
            "real": real_ref,
            "fake": fake.reference,
            "warnings": notes,
            "seconds": round(time.time() - start, 3),
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }


def evaluate(fake, real, metrics="fid", **options):
    """Computes `metrics` for generated images against real data; returns the result record.

    Args:
        fake: an ImageStream (see `sources.generator_stream`) or a uint8 array [N, R, R, C].
        real: a data spec, a `.npz` statistics file, an ImageSource, an ImageStream or a uint8 array.
        metrics: comma-separated names (see `registry.METRICS`).
        **options: see `Evaluator`.
    """
    fake_stream = fake if isinstance(fake, ImageStream) else _as_stream(fake, None, None, None, "generated")
    options.setdefault("resolution", fake_stream.resolution)
    options.setdefault("channels", fake_stream.channels)
    return Evaluator(metrics, real, **options).evaluate(fake_stream)
