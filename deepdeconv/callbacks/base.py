"""Step bookkeeping shared by the callbacks."""
import keras


class StepCallback(keras.callbacks.Callback):
    """A callback that acts every `every` generator steps, in `on_every`.

    The GAN's `step` variable is the source of truth (it survives resume and counts steps
    inside multi-step executions); `crossed()` is true when the last batch moved the step
    past a multiple of `every`, which also works when `steps_per_execution` > 1.
    """

    def __init__(self, every):
        super().__init__()
        self.every = every
        self.last_step = 0

    def current_step(self):
        """The GAN's generator step counter as a Python int."""
        return int(self.model.step.numpy())

    def on_train_begin(self, logs=None):
        self.last_step = self.current_step()

    def on_train_batch_end(self, batch, logs=None):
        if self.crossed():
            self.on_every(logs)

    def on_every(self, logs=None):
        """What the callback does each time a multiple of `every` steps is reached."""

    def crossed(self):
        """Advances the bookkeeping; true if a multiple of `every` was reached."""
        step = self.current_step()
        hit = step // self.every > self.last_step // self.every
        self.last_step = step
        return hit
