"""What a run reports as it goes: log.jsonl and TensorBoard scalars, and a progress bar with ETA."""
import time

import tensorflow as tf
import tqdm

from deepdeconv.callbacks.base import StepCallback
from deepdeconv.fileio import append_jsonl


# Logs shown beside the bar, by short name, when the model reports them (GAN or restorer).
_SHOWN = (("d_loss", "d"), ("g_loss", "g"), ("loss", "loss"), ("psnr_train", "psnr"))

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

    def on_every(self, logs=None):
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


class Progress(StepCallback):
    """Shows steps done of `total_steps`, images per second and ETA.

    Args:
        total_steps: generator steps the run lasts.
        batch: images per step (for the img/s figure).
        disable: hide the bar (tests, non-interactive logs).
    """

    def __init__(self, total_steps, batch, disable=False):
        super().__init__(every=1)
        self.total_steps = total_steps
        self.batch = batch
        self.disable = disable
        self.bar = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.bar = tqdm.tqdm(total=self.total_steps, initial=self.last_step, unit="step", dynamic_ncols=True,
                             disable=self.disable, smoothing=0.1, desc="train")

    def on_train_batch_end(self, batch, logs=None):
        step = self.current_step()
        self.bar.update(step - self.last_step)
        self.last_step = step
        rate = self.bar.format_dict.get("rate")
        if rate and logs:
            shown = {short: f"{float(logs[name]):.3f}" for name, short in _SHOWN if name in logs}
            self.bar.set_postfix(img_s=f"{rate * self.batch:.0f}", **shown, refresh=False)

    def on_train_end(self, logs=None):
        if self.bar is not None:
            self.bar.close()
