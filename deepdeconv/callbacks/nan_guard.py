"""Stopping a run at its first non-finite loss, so the last checkpoint stays a good one."""
import math

from deepdeconv.callbacks.base import StepCallback


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
