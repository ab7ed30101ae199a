"""Periodic, final and best-by-metric checkpoints, and the exported networks."""
from deepdeconv import rundir
from deepdeconv.callbacks.base import StepCallback
from deepdeconv.checkpoint import export_networks, save_checkpoint, verify_checkpoint
from deepdeconv.guards import check_before_save


class Checkpointer(StepCallback):
    """Saves a checkpoint every `every` steps and at the end, keeping the newest `keep`.

    Each save also re-exports the networks as `.keras` files (generator and EMA generator, or
    restorer and EMA restorer), so sample.py and restore.py work on a run still training. Nothing is saved once `nan_guard` has seen a
    non-finite loss, so the newest checkpoint is always a good one.

    Args:
        run_dir: the run directory.
        config: the run's TrainConfig (stored in every checkpoint).
        every: steps between checkpoints.
        keep: how many regular checkpoints to keep.
        nan_guard: the run's NanGuard, or None.
    """

    def __init__(self, run_dir, config, every, keep, nan_guard=None):
        super().__init__(every)
        self.run_dir = run_dir
        self.config = config
        self.keep = keep
        self.nan_guard = nan_guard
        self.saved_step = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.saved_step = self.last_step

    def on_every(self, logs=None):
        self.save()

    def on_train_end(self, logs=None):
        self.save()

    def healthy(self):
        """False once a non-finite loss was seen."""
        return self.nan_guard is None or self.nan_guard.bad_step is None

    def save(self):
        """Writes a checkpoint for the current step (once per step) and prunes old ones."""
        step = self.current_step()
        if step == self.saved_step or not self.healthy() or not check_before_save(self.model, self.nan_guard, step):
            return
        path = rundir.checkpoint_path(self.run_dir, step)
        save_checkpoint(self.model, path, self.config)
        # Older checkpoints go only once the new one reads back whole.
        verify_checkpoint(path)
        export_networks(self.model, self.run_dir)
        self.saved_step = step
        for old in rundir.list_checkpoints(self.run_dir / rundir.CHECKPOINTS)[:-self.keep]:
            old.unlink()

    def save_best(self, step, value):
        """Replaces `checkpoints/best/` with the current state (called by the evaluator)."""
        if not self.healthy() or not check_before_save(self.model, self.nan_guard, step):
            return
        best_dir = self.run_dir / rundir.CHECKPOINTS / rundir.BEST
        path = rundir.checkpoint_path(self.run_dir, step, best=True)
        save_checkpoint(self.model, path, self.config)
        verify_checkpoint(path)
        for old in rundir.list_checkpoints(best_dir):
            if old != path:
                old.unlink()
