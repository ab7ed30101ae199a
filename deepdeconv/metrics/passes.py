"""One pass over an image stream through the feature networks, keeping what the metrics need.

The evaluator runs one pass over the generated images and at most one over the real ones, each
feeding every network that the requested metrics use.
"""
import numpy as np
from tqdm import tqdm

from deepdeconv.metrics.sources import prefetched
from deepdeconv.metrics.stats import StreamingStats

DEFAULT_BATCH = 100


class Accumulator:
    """What one pass collects for one network: statistics, features, logits, class counts.

    Args:
        stats: keep streaming mean and covariance of the features (FID).
        features: keep every feature vector (KID, precision/recall).
        logits: keep every logit vector (IS).
        histogram: count images per arg-max class (classifier coverage).
    """

    def __init__(self, stats=False, features=False, logits=False, histogram=False):
        self.stats = StreamingStats() if stats else None
        self.features = [] if features else None
        self.logits = [] if logits else None
        self.counts = None if not histogram else 0

    def add(self, outputs):
        if self.stats is not None:
            self.stats.update(outputs["features"])
        if self.features is not None:
            self.features.append(outputs["features"])
        if self.logits is not None:
            self.logits.append(outputs["logits"])
        if self.counts is not None:
            logits = outputs["logits"]
            self.counts = self.counts + np.bincount(np.argmax(logits, axis=1), minlength=logits.shape[1])

    def result(self):
        out = {}
        if self.stats is not None:
            out.update(mu=self.stats.mu, sigma=self.stats.sigma, n=self.stats.n)
        if self.features is not None:
            out["features"] = np.concatenate(self.features)
        if self.logits is not None:
            out["logits"] = np.concatenate(self.logits)
        if self.counts is not None:
            out["counts"] = self.counts
        return out


def run_networks(stream, accumulators, networks, batch_size=DEFAULT_BATCH, progress=True, desc="images"):
    """One pass over `stream`, feeding each batch to every network and its accumulator.

    Args:
        stream: an ImageStream of uint8 images.
        accumulators: {network id: Accumulator}.
        networks: {network id: callable(uint8 batch) -> {"features", "logits"}}.
        batch_size: images per network call.
        progress: show a progress bar.
        desc: the progress bar's label.

    Returns:
        {network id: accumulated result}.
    """
    with tqdm(total=stream.num_images, unit="img", desc=desc, disable=not progress, leave=False) as bar:
        for batch in prefetched(stream.batches(batch_size)):
            for key, accumulator in accumulators.items():
                accumulator.add(networks[key](batch))
            bar.update(len(batch))
    return {key: acc.result() for key, acc in accumulators.items()}
