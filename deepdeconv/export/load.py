"""Choosing the network to export (like `sample.py`) and describing it for the serving functions."""
from pathlib import Path

import keras
import numpy as np

from deepdeconv import rundir
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.export.signatures import ModelInfo
from deepdeconv.restoring.load import network_from_run
from deepdeconv.sampling import num_classes_of, z_dim_of
from deepdeconv.sampling.load import load_generator


def _load_keras(path, what):
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a damaged or foreign file.
        raise UserError(f"{path} is not a loadable Keras {what} ({type(e).__name__}: {e}).") from None


def _is_restorer(model):
    """Generators take a latent [B, z_dim] (and labels); restorers take an image [B, h, w, C]."""
    return len(model.inputs) == 1 and len(model.inputs[0].shape) == 4


def _restorer_from_run(run, config, checkpoint, ema):
    if checkpoint is not None and Path(checkpoint).suffix == ".keras":
        return _load_keras(checkpoint, "restorer")
    return network_from_run(run, checkpoint, ema)[0]


def _probe_multiple(model, channels_in):
    """(multiple, scale) of a bare restorer file: the smallest power-of-two side multiple it accepts.

    A restorer that halves its input `depth` times and adds skip connections fails on sides
    that are not multiples of 2**depth; probing with 3 * 2**k finds that k without a config.
    """
    for k in range(8):
        side = 3 * 2 ** k
        try:
            out = model(np.zeros((1, side, side, channels_in), np.float32), training=False)
        except Exception:  # a shape mismatch inside the network: not a multiple it accepts
            continue
        scale, rem = divmod(int(out.shape[1]), side)
        if rem == 0 and scale >= 1:
            return 2 ** k, scale
    raise UserError("This restorer accepts no probed input size; export it from its run directory instead.")


def describe(model, config):
    """The ModelInfo of a loaded network, from its config when there is one, else from the model."""
    if _is_restorer(model):
        channels_in = int(model.inputs[0].shape[-1])
        channels = int(model.outputs[0].shape[-1])
        mask = channels_in == channels + 1
        if config is not None:
            scale = config.restore.scale if config.task == "sr" else 1
            multiple = 2 ** config.restore.depth
        else:
            multiple, scale = _probe_multiple(model, channels_in)
        task = config.task if config is not None else ("inpaint" if mask else "restore")
        return ModelInfo("restorer", channels, multiple=multiple, scale=scale, mask=mask, task=task)
    out = model.outputs[0].shape
    return ModelInfo("generator", int(out[-1]), z_dim=z_dim_of(model), num_classes=num_classes_of(model) or 0,
                     resolution=int(out[1]), task="gan")


def load_network(source, checkpoint=None, ema=True):
    """Loads the generator or restorer to export, chosen as `sample.py` chooses a generator.

    Args:
        source: a run directory, or a `.keras` generator or restorer file.
        checkpoint: None, "best", "latest" or a checkpoint path (generators); a `.keras` file
            (either kind).
        ema: prefer the moving-average weights when the run has them.

    Returns:
        (keras.Model, ModelInfo, TrainConfig or None).
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".keras":
        model, config = _load_keras(source, "model"), None
    elif not source.exists():
        raise UserError(f"{source} does not exist.")
    else:
        run = rundir.require_run_dir(source)
        config = TrainConfig.load(run / rundir.CONFIG)
        if config.is_restoration:
            model = _restorer_from_run(run, config, checkpoint, ema)
        elif checkpoint is not None and Path(checkpoint).suffix == ".keras":
            model = _load_keras(checkpoint, "generator")
        else:
            model, config = load_generator(run, checkpoint=checkpoint, ema=ema)
    return model, describe(model, config), config
