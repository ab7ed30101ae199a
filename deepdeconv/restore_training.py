"""What a restoration run trains on and with: `training.train` calls these for a restoration task.

The rest of a run (run directory, config.json, log.jsonl, TensorBoard, checkpoints with
Ctrl-C save, NaN guard, progress, gs:// mirror, resume) is shared with the GAN in `training`.
"""
import dataclasses

from deepdeconv.callbacks.validation import Validation
from deepdeconv.data.fullsize import FullImages, restoration_data
from deepdeconv.data.patches import restoration_batches
from deepdeconv.restorer import build_restorer_model


@dataclasses.dataclass(frozen=True)
class RestorationSource:
    """The whole training and validation images of a run, described as `training` reports data.

    Attributes:
        train: the images patches are drawn from.
        val: the held-out images restored whole at each validation.
    """

    train: FullImages
    val: FullImages

    @property
    def name(self):
        return self.train.name

    @property
    def channels(self):
        return self.train.channels

    @property
    def num_images(self):
        return len(self.train.images)

    @property
    def class_names(self):
        return ()

    @property
    def skipped(self):
        return tuple(self.train.skipped) + tuple(self.val.skipped)


def load_data(config):
    """The RestorationSource of `config` (`--data`, `--val`, `--channels`, `--patch`, `--val-count`)."""
    r = config.restore
    train, val = restoration_data(config.data, r.val, config.channels, r.patch, r.val_count)
    return RestorationSource(train, val)


def build_model(config):
    """The compiled Restorer (call inside the strategy scope)."""
    return build_restorer_model(config)


def training_pairs(config, source, start_step):
    """Endless (degraded inputs, clean target) batches of patches, from step `start_step` on."""
    return restoration_batches(source.train, config, start_step=start_step)


def validation(config, run_dir, source, writer, checkpointer):
    """The Validation callback, which also keeps `checkpoints/best/` by validation PSNR."""
    return Validation(run_dir, config, source.val, config.restore.val_every, writer, on_best=checkpointer.save_best)
