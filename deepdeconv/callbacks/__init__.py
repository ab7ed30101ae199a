"""Keras callbacks: every file a training run writes is written by one of these.

    base.py         StepCallback: act every N generator steps (survives resume)
    nan_guard.py    NanGuard: stop at the first non-finite loss
    reporting.py    RunLogger (log.jsonl, TensorBoard scalars), Progress (tqdm bar with ETA)
    samples.py      SampleGrid, ClassSampleGrid: samples/grid-<step>.png
    checkpointer.py Checkpointer: checkpoints (deepdeconv.checkpoint writes them), exports
    evaluation.py   EvaluationCallback: metrics.jsonl and the best-by-metric checkpoint
    validation.py   Validation: restoration runs' PSNR/SSIM on held-out images, strips, best checkpoint
    mirror.py       MirrorCallback: copies the run to its gs:// home
"""
from deepdeconv.callbacks.checkpointer import Checkpointer
from deepdeconv.callbacks.evaluation import EvaluationCallback, prepared_evaluator
from deepdeconv.callbacks.mirror import MirrorCallback
from deepdeconv.callbacks.nan_guard import NanGuard
from deepdeconv.callbacks.reporting import Progress, RunLogger
from deepdeconv.callbacks.samples import ClassSampleGrid, SampleGrid

__all__ = ["Checkpointer", "ClassSampleGrid", "EvaluationCallback", "MirrorCallback", "NanGuard", "Progress",
           "RunLogger", "SampleGrid", "prepared_evaluator"]
