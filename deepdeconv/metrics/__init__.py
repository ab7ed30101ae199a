"""GAN metrics that match the reference implementations (TTUR / TF-GAN, "legacy TensorFlow").

    from deepdeconv.metrics.evaluator import evaluate
    from deepdeconv.metrics.sources import generator_stream
    record = evaluate(generator_stream(generator, 50000), "cifar10", "fid,is")

Modules: `registry` (metric names), `inception` (2015-12-05 graph), `keras_inception`
(alternative, not comparable), `classifier` (offline, domain-specific network), `resize`
(TF1 bilinear), `stats` (streaming mean/covariance, `.npz` files), `fid`, `inception_score`,
`kid`, `precision_recall` (the formulas), `sources` (image streams), `passes` (one pass of a
stream through the networks), `evaluator` (runs them).
"""
from deepdeconv.metrics.fid import frechet_distance
from deepdeconv.metrics.inception_score import inception_score
from deepdeconv.metrics.kid import kernel_inception_distance
from deepdeconv.metrics.precision_recall import precision_recall
from deepdeconv.metrics.registry import METRICS, Metric, parse_metrics
from deepdeconv.metrics.stats import StreamingStats, load_stats, save_stats


__all__ = ["METRICS", "Metric", "StreamingStats", "frechet_distance", "inception_score",
           "kernel_inception_distance", "load_stats", "parse_metrics", "precision_recall", "save_stats"]
