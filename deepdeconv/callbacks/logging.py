"""log.jsonl and TensorBoard scalars; a guard that stops on a non-finite loss."""
import math
import time

import tensorflow as tf

from deepdeconv.callbacks.base import StepCallback
from deepdeconv.fileio import append_jsonl


class NanGuard(StepCallback):
    """Stops training at the first non-finite loss and remembers the step.

    It must come before the Checkpointer in the callback list, which then refuses to save:
    the last good checkpoint stays the latest.
    """

    def __init__(self):
        super().__init__(every=1)
        self.bad_step = None
        self.bad_losses = None

    def on_train_batch_end(self, batch, logs=None):
        bad = {k: float(v) for k, v in (logs or {}).items() if not math.isfinite(float(v))}
        if bad:
            self.bad_step = self.current_step()
            self.bad_losses = bad
            self.model.stop_training = True


class RunLogger(StepCallback):
    """Appends {step, kimg, elapsed, img_s, losses} to log.jsonl every `every` steps.

    Losses are the means since the previous record (Keras Mean trackers are reset there).

    Args:
        log_path: the run's log.jsonl.
        writer: a tf.summary writer for TensorBoard scalars, or None.
        every: steps between records.
        batch: images per step.
        elapsed_before: seconds of training done before this session (on resume).
    """

    def __init__(self, log_path, writer, every, batch, elapsed_before=0.0):
        super().__init__(every)
        self.log_path = log_path
        self.writer = writer
        self.batch = batch
        self.elapsed_before = elapsed_before
        self.elapsed = elapsed_before

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.start = self.mark = time.perf_counter()
        self.mark_step = self.last_step

    def on_train_batch_end(self, batch, logs=None):
        if self.crossed():
            self.write(logs)

    def on_train_end(self, logs=None):
        if self.current_step() > self.mark_step:
            self.last_step = self.current_step()
            self.write({k: tracker.result() for k, tracker in
                        ((t.name, t) for t in self.model.metrics)})

    def write(self, logs):
        """Writes one record now (also used at the end of training)."""
        now = time.perf_counter()
        step = self.last_step
        self.elapsed = self.elapsed_before + now - self.start
        record = {"step": step, "kimg": round(step * self.batch / 1000, 3), "elapsed_s": round(self.elapsed, 2),
                  "img_s": round((step - self.mark_step) * self.batch / max(now - self.mark, 1e-9), 1)}
        record.update({k: float(v) for k, v in (logs or {}).items()})
        append_jsonl(self.log_path, record)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                for k, v in record.items():
                    if k != "step":
                        tf.summary.scalar(k, v)
        self.mark, self.mark_step = now, step
        for tracker in self.model.metrics:
            tracker.reset_state()
