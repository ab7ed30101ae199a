"""Training sample grids for a class-conditional generator."""
import numpy as np
import tensorflow as tf

from deepdeconv import sampling
from deepdeconv.callbacks.samples import SampleGrid
from deepdeconv.models.conditional import class_of


class ClassSampleGrid(SampleGrid):
    """A SampleGrid whose image i is drawn for class i mod `num_classes`.

    That is the class `sample.py --seeds 0-63` gives seed i by default, so the last training
    grid and that command show the same images.

    Args:
        run_dir, latents, every, writer: as for SampleGrid.
        num_classes: number of classes of the conditional generator.
    """

    def __init__(self, run_dir, latents, num_classes, every, writer=None):
        super().__init__(run_dir, latents, every, writer)
        self.labels = class_of(np.arange(len(latents)), num_classes)

    def write(self):
        """Writes the grid for the current step (once per step), with each image's class."""
        step = self.current_step()
        if step == self.written_step:
            return
        grid = sampling.write_grid(self.model.sampling_generator, self.latents,
                                   rundir.grid_path(self.run_dir, step), labels=self.labels)
        if self.writer is not None:
            with self.writer.as_default(step=step):
                tf.summary.image("samples", grid.reshape(1, *grid.shape[:2], -1), step=step)
        self.written_step = step
