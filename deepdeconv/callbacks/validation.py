"""Validation of a restorer during training: held-out images restored whole, PSNR/SSIM, strips, best.

Images are restored with `restoring.tiles.restore_array`, exactly as restore.py does: padded to
the network's multiple, and in tiles whose stitching equals whole-image restoration when they
are large, so memory stays bounded whatever the size of the validation photos.

The images are degraded once, deterministically (`data.degrade.validation_pairs`), so every
validation measures the same inputs and differences come from the weights alone. Scores follow
the papers (`metrics.fidelity`): outputs rounded to uint8; for sr the Y channel of colour
images with `scale` pixels cropped from each border.
"""
import math
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image

from deepdeconv import rundir
from deepdeconv.callbacks.base import StepCallback
from deepdeconv.data.degrade import bicubic_upscale, validation_pairs
from deepdeconv.fileio import append_jsonl, atomic_path, read_jsonl
from deepdeconv.metrics.fidelity import psnr, ssim
from deepdeconv.pixels import from_uint8, to_uint8
from deepdeconv.restoring.tiles import restore_array

VAL_EVENT = "val"
INPUT_EVENT = "val_input"


def score_kwargs(task, scale, channels):
    """How a task's outputs are scored: SR on the Y channel with `scale` cropped; others whole."""
    if task == "sr":
        return {"crop": scale, "y_channel": channels == 3}
    return {}


class Validation(StepCallback):
    """Restores the validation images every `every` steps and at the end of training.

    Each validation appends {"event": "val", step, val_psnr, val_ssim, per-image values} to
    log.jsonl, writes TensorBoard scalars `val/psnr`, `val/ssim` and input | output | target
    strips, writes the strips to `samples/` (`rundir.val_strip_path`), and calls
    `on_best(step, psnr)` when the mean PSNR improves. Once per run it logs the degraded
    input's own scores ({"event": "val_input", input_psnr, input_ssim}; for sr the bicubic
    upscaling), the figure the restorer has to beat.

    Args:
        run_dir: the run directory.
        config: the run's TrainConfig (task and restoration options).
        images: the validation images (a FullImages or uint8 arrays [H, W, C]).
        every: steps between validations.
        writer: a tf.summary writer, or None.
        on_best: callable(step, value), or None.
    """

    def __init__(self, run_dir, config, images, every, writer=None, on_best=None):
        super().__init__(every)
        self.run_dir = Path(run_dir)
        self.config = config
        self.scale = config.restore.scale if config.task == "sr" else 1
        self.score = score_kwargs(config.task, self.scale, config.channels)
        self.pairs = validation_pairs(images, config.restore, config.task, seed=config.seed)
        self.writer = writer
        self.on_best = on_best
        self.validated_step = None
        self.best = self._previous("val_psnr", VAL_EVENT)

    def _previous(self, key, event):
        """The best `key` of `event` records already in log.jsonl (a resumed run keeps it)."""
        values = [r[key] for r in read_jsonl(self.run_dir / rundir.LOG, event=event)
                  if isinstance(r.get(key), (int, float))]
        return max(values) if values else None

    def baseline_images(self):
        """The degraded inputs at the output size (sr: bicubic upscaling), uint8."""
        if self.scale == 1:
            return [p.degraded for p in self.pairs]
        return [to_uint8(bicubic_upscale(from_uint8(p.degraded[None]), self.scale)[0].numpy()) for p in self.pairs]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self._previous("input_psnr", INPUT_EVENT) is None:
            base = self.baseline_images()
            record = {"event": INPUT_EVENT, "step": self.last_step,
                      "input_psnr": _mean([psnr(b, p.target, **self.score) for b, p in zip(base, self.pairs)]),
                      "input_ssim": _mean([ssim(b, p.target, **self.score) for b, p in zip(base, self.pairs)])}
            append_jsonl(self.run_dir / rundir.LOG, record)

    def on_train_batch_end(self, batch, logs=None):
        if self.crossed():
            self.validate()

    def on_train_end(self, logs=None):
        self.validate()

    def restore(self, network, pair):
        """The restored uint8 image of one EvalPair: as if whole, in exactly stitched tiles when large."""
        return to_uint8(restore_array(network, pair.inputs[0], scale=self.scale))

    def validate(self):
        """Validates the current inference network (once per step); returns the record."""
        step = self.current_step()
        if step == self.validated_step:
            return None
        network = self.model.inference_network
        outputs = [self.restore(network, p) for p in self.pairs]
        psnrs = [psnr(o, p.target, **self.score) for o, p in zip(outputs, self.pairs)]
        ssims = [ssim(o, p.target, **self.score) for o, p in zip(outputs, self.pairs)]
        record = {"event": VAL_EVENT, "step": step, "val_psnr": _mean(psnrs), "val_ssim": _mean(ssims),
                  "psnr": [round(v, 4) for v in psnrs], "ssim": [round(v, 5) for v in ssims]}
        append_jsonl(self.run_dir / rundir.LOG, record)
        strips = [strip(b, o, p.target) for b, o, p in zip(self.baseline_images(), outputs, self.pairs)]
        for i, image in enumerate(strips):
            write_png(rundir.val_strip_path(self.run_dir, step, i), image)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.scalar("val/psnr", record["val_psnr"])
                tf.summary.scalar("val/ssim", record["val_ssim"])
                for i, image in enumerate(strips):
                    tf.summary.image(f"val/{i:02d}", image[None])
            self.writer.flush()
        self.validated_step = step
        value = record["val_psnr"]
        if math.isfinite(value) and (self.best is None or value > self.best):
            self.best = value
            if self.on_best is not None:
                self.on_best(step, value)
        return record


def _mean(values):
    return float(np.mean(values))


def strip(degraded, restored, target, gap=4):
    """input | output | target side by side (uint8 [H, 3W + 2 gap, C]), with white gaps."""
    h, _, c = target.shape
    spacer = np.full((h, gap, c), 255, np.uint8)
    return np.concatenate([degraded, spacer, restored, spacer, target], axis=1)


def write_png(path, image):
    """Writes a uint8 [H, W, 1 or 3] image as PNG, atomically."""
    with atomic_path(path) as tmp:
        Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(tmp, format="PNG")
