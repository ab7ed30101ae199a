"""Keras callbacks: every file a training run writes is written by one of these."""
from deepdeconv.callbacks.checkpoints import Checkpointer
from deepdeconv.callbacks.logging import NanGuard, RunLogger
from deepdeconv.callbacks.progress import Progress
from deepdeconv.callbacks.samples import SampleGrid

__all__ = ["Checkpointer", "NanGuard", "Progress", "RunLogger", "SampleGrid"]
