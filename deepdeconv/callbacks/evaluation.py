"""Metrics during training: evaluate the sampling (EMA) generator, log it, keep the best checkpoint.

GAN quality is not monotonic in training time (published DCGAN runs reach their best FID well
before the end and then get worse), so the run keeps `checkpoints/best/` by the first metric in
addition to the latest checkpoints.
"""
import math
from pathlib import Path

import tensorflow as tf

from deepdeconv import rundir
from deepdeconv.callbacks.base import StepCallback
from deepdeconv.fileio import append_jsonl, read_jsonl
from deepdeconv.metrics.evaluator import Evaluator
from deepdeconv.metrics.registry import parse_metrics
from deepdeconv.metrics.sources import generator_stream, source_stream

# Latent seeds for evaluation start here, away from the sample grids' seeds 0..N: the same
# images are measured at every evaluation, so differences come from the weights alone.
EVAL_SEED = 1_000_000


def prepared_evaluator(config, real_source, metric_names, **evaluator_options):
    """An Evaluator for the run's metrics, ready to measure.

    Preparing it before training (and before a run directory is created) means a missing
    Inception graph or unlabelled data for cis surfaces at once, not hours later at the first
    evaluation. Training the metric classifier shows its own progress bar here, before the
    training bar exists.

    Args:
        config: the run's TrainConfig (its data spec names the real data in caches).
        real_source: the run's ImageSource.
        metric_names: "cfid,cis" or a list of names.
        **evaluator_options: passed to `metrics.evaluator.Evaluator`.
    """
    real = source_stream(real_source, spec=config.data)
    evaluator = Evaluator(parse_metrics(metric_names, "--eval-metrics"), real, resolution=real_source.resolution,
                          channels=real_source.channels, progress=True, **evaluator_options)
    evaluator.prepare()
    return evaluator


class EvaluationCallback(StepCallback):
    """Computes metrics every `every_steps` generator steps and once at the end of training.

    Each evaluation appends {event, step, kimg, metrics, n_real, n_fake, network, ...} to
    `run_dir/metrics.jsonl`, writes TensorBoard scalars `metrics/<name>`, and calls
    `on_best(step, value)` when the first metric improves (lower FID/KID, higher IS/PR).
    Real statistics are computed once (and cached in the user cache across runs).

    Args:
        run_dir: the run directory.
        config: the run's TrainConfig (data spec, resolution, batch, class names).
        real_source: the run's ImageSource (the training data).
        every_steps: generator steps between evaluations.
        metric_names: "cfid,cis" or a list of names; the first one decides "best".
        num_gen: generated images per evaluation.
        on_best: callable(step, value), or None.
        writer: the run's tf.summary writer for TensorBoard scalars, or None for none.
        progress: show progress bars during evaluation.
        evaluator: an Evaluator from `prepared_evaluator`, or None to prepare one here.
        **evaluator_options: passed to `metrics.evaluator.Evaluator` (inception, batch_size, networks, ...).
    """

    def __init__(self, run_dir, config, real_source, every_steps, metric_names, num_gen, on_best=None,
                 writer=None, progress=False, evaluator=None, **evaluator_options):
        super().__init__(every_steps)
        self.run_dir = Path(run_dir)
        self.config = config
        self.metrics = parse_metrics(metric_names, "--eval-metrics")
        self.primary = self.metrics[0]
        self.num_gen = num_gen
        self.on_best = on_best
        self.writer = writer
        self.evaluator = evaluator or prepared_evaluator(config, real_source, metric_names, **evaluator_options)
        self.evaluator.progress = progress
        self.best = self._previous_best()
        self.evaluated_step = None

    def _previous_best(self):
        """Best value of the primary metric already in metrics.jsonl (so a resumed run keeps it)."""
        values = []
        for record in read_jsonl(self.run_dir / rundir.METRICS, event="eval"):
            value = record.get("metrics", {}).get(self.primary.name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                values.append(value)
        if not values:
            return None
        return max(values) if self.primary.higher_is_better else min(values)

    def on_every(self, logs=None):
        self.evaluate_now()

    def on_train_end(self, logs=None):
        if self.current_step() > 0:
            self.evaluate_now()

    def _improved(self, value):
        if value is None or not math.isfinite(value):
            return False
        if self.best is None:
            return True
        return value > self.best if self.primary.higher_is_better else value < self.best

    def evaluate_now(self):
        """Evaluates the current generator (once per step) and returns the record."""
        step = self.current_step()
        if step == self.evaluated_step:
            return None
        generator = self.model.sampling_generator
        ema = self.model.ema_generator is not None
        num_classes = len(self.config.class_names) or None
        fake = generator_stream(generator, self.num_gen, EVAL_SEED,
                                f"step {step} {'EMA' if ema else 'raw'} generator", num_classes)
        record = self.evaluator.evaluate(fake)
        record = {"event": "eval", "step": step, "kimg": round(step * self.config.batch / 1000, 3), **record}
        append_jsonl(self.run_dir / rundir.METRICS, record)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for name, value in record["metrics"].items():
                    if isinstance(value, (int, float)):
                        tf.summary.scalar(f"metrics/{name}", value)
            self.writer.flush()
        self.evaluated_step = step
        value = record["metrics"].get(self.primary.name)
        if self._improved(value):
            self.best = value
            if self.on_best is not None:
                self.on_best(step, value)
        return record
