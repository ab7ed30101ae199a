"""Which generator to sample from: a run directory (exported `.keras` or a checkpoint) or a `.keras` file.

    model, config = load_generator("runs/00001-digits")                  # the exported EMA generator
    model, config = load_generator("runs/00001-digits", checkpoint="best")
    model, config = load_generator("generator.keras")                    # config is None
"""
from pathlib import Path

import keras

from deepdeconv import rundir
from deepdeconv.checkpoint import best_checkpoint, latest_checkpoint, read_meta, restore_network
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.models import generator_for
from deepdeconv.models.conditional import for_sampling


def _generator_from_checkpoint(path, ema):
    meta = read_meta(path)
    config = TrainConfig.from_dict(meta["config"], source=str(path))
    group = "generator_ema" if ema and config.ema else "generator"
    model = restore_network(generator_for(config), path, group)
    return for_sampling(model, config), config


def _load_keras(path):
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a damaged or foreign file.
        raise UserError(f"{path} is not a loadable Keras generator ({type(e).__name__}: {e}).") from None


def load_generator(source, checkpoint=None, ema=True):
    """Loads a generator for sampling or evaluation.

    Args:
        source: a run directory or a `.keras` generator file.
        checkpoint: None (the run's exported generator, else its latest checkpoint),
            "best" (the best-by-metric checkpoint), "latest", or a checkpoint path.
        ema: prefer the EMA generator when the run has one.

    Returns:
        (keras.Model, TrainConfig or None when `source` is a bare `.keras` file).
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".keras":
        return _load_keras(source), None
    if not source.exists():
        raise UserError(f"{source} does not exist.")
    run = rundir.require_run_dir(source)
    config = TrainConfig.load(run / rundir.CONFIG)
    if checkpoint in (None, "latest", "best"):
        exported = run / (rundir.GENERATOR_EMA if ema and config.ema else rundir.GENERATOR)
        if checkpoint is None and exported.is_file():
            return _load_keras(exported), config
        path = best_checkpoint(run) if checkpoint == "best" else latest_checkpoint(run)
        if path is None:
            what = "best-metric checkpoint (train with --eval-every)" if checkpoint == "best" else "generator yet"
            raise UserError(f"Run {run} has no {what}.")
    else:
        path = Path(checkpoint)
    model, _ = _generator_from_checkpoint(path, ema)
    return model, config
