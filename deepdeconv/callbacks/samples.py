"""Sample grids from a fixed latent batch, so successive grids show the same faces improving."""
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepdeconv import rundir, sampling
from deepdeconv.callbacks.base import StepCallback
from deepdeconv.sampling.latents import class_of


class SampleGrid(StepCallback):
    """Writes `samples/grid-<step>.png` every `every` steps and at the end of training.

    Args:
        run_dir: the run directory.
        latents: [N, z_dim] fixed latents (from seeds 0..N-1).
        every: steps between grids.
        writer: a tf.summary writer to also log the grid as an image, or None.
        labels: class index per image for a conditional generator, else None.
    """

    def __init__(self, run_dir, latents, every, writer=None, labels=None):
        super().__init__(every)
        self.run_dir = Path(run_dir)
        self.latents = latents
        self.writer = writer
        self.labels = labels
        self.written_step = None

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.last_step == 0:
            self.write()

    def on_every(self, logs=None):
        self.write()

    def on_train_end(self, logs=None):
        self.write()

    def write(self):
        """Writes the grid for the current step (once per step)."""
        step = self.current_step()
        if step == self.written_step:
            return
        grid = sampling.write_grid(self.model.sampling_generator, self.latents, rundir.grid_path(self.run_dir, step),
                                   labels=self.labels)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples", grid.reshape(1, *grid.shape[:2], -1), step=step)
        self.written_step = step


class ClassSampleGrid(SampleGrid):
    """A SampleGrid of a conditional generator: image i is drawn for class `class_of(i)`.

    That is the class `sample.py grid --seeds 0-63` gives seed i by default, so the last training
    grid and that command show the same images.

    Args:
        run_dir, latents, every, writer: as for SampleGrid.
        num_classes: number of classes of the conditional generator.
    """

    def __init__(self, run_dir, latents, num_classes, every, writer=None):
        super().__init__(run_dir, latents, every, writer, labels=class_of(np.arange(len(latents)), num_classes))
