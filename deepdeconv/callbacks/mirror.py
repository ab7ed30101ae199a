"""Copies a run directory staged on local disk to its gs:// home as training writes it."""
from deepdeconv.callbacks.base import StepCallback


class MirrorCallback(StepCallback):
    """Syncs a `remote.Mirror` every `every` steps and when training ends.

    It runs after the callbacks that write files, so each sync carries the newest grid,
    log lines and checkpoint; `training` also syncs once more after an interruption.

    Args:
        mirror: the `deepdeconv.remote.Mirror` of the run directory.
        every: steps between syncs.
    """

    def __init__(self, mirror, every):
        super().__init__(every)
        self.mirror = mirror

    def on_every(self, logs=None):
        self.mirror.sync()

    def on_train_end(self, logs=None):
        self.mirror.sync()
