"""Checkpoints (complete, resumable training state) and exported networks.

A checkpoint is one `.npz` holding every variable of the model's `checkpoint_groups()` (for
the GAN: the generator, the discriminator, the EMA generator, both optimisers and the step
counter; for a Restorer: the restorer, its EMA copy, the optimiser(s), the discriminator when
adversarial, and the step), plus the config as JSON. One file
written by rename is atomic, which a multi-file TensorFlow checkpoint is not. The step
counter is the whole RNG state (all draws are keyed by it), so restoring it resumes exactly.
"""
import json
from pathlib import Path

import numpy as np

from deepdeconv import rundir
from deepdeconv.config import ARCHITECTURE_FIELDS, TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path

_META = "__meta__"


def _groups(model):
    # Models name their own state: GAN and Restorer both have `checkpoint_groups()`.
    return model.checkpoint_groups()


def save_checkpoint(gan, path, config):
    """Writes the complete training state of `gan` to `path` atomically.

    Args:
        gan: a compiled GAN or Restorer (anything with `checkpoint_groups()` and `step`).
        path: destination `.npz`.
        config: the run's TrainConfig, stored so the file is self-describing.
    """
    arrays = {}
    for group, variables in _groups(gan).items():
        for i, v in enumerate(variables):
            arrays[f"{group}/{i:04d}"] = np.asarray(v.numpy())
    meta = {"step": int(gan.step.numpy()), "config": config.to_dict()}
    arrays[_META] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _open(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"Checkpoint {path} does not exist.") from None
    except (OSError, ValueError) as e:
        raise UserError(f"Checkpoint {path} is not a readable deepdeconv checkpoint ({e}).") from None


def read_meta(path):
    """The {"step", "config"} record stored in a checkpoint."""
    with _open(path) as data:
        if _META not in data:
            raise UserError(f"Checkpoint {path} is not a deepdeconv checkpoint (no metadata).")
        return json.loads(str(data[_META]))


def _assign_group(variables, data, group, path):
    keys = sorted(k for k in data.files if k.startswith(group + "/"))
    if len(keys) != len(variables):
        raise UserError(f"Checkpoint {path} holds {len(keys)} {group} variables where this model has "
                        f"{len(variables)}; it was written for a different architecture.")
    values = [data[k] for k in keys]
    for var, value in zip(variables, values):
        if tuple(var.shape) != value.shape:
            raise UserError(f"Checkpoint {path} has shape {value.shape} for {group} variable {var.path} "
                            f"where this model needs {tuple(var.shape)}; it was written for a different "
                            "architecture.")
    for var, value in zip(variables, values):
        var.assign(value)


def restore_checkpoint(gan, path):
    """Restores the complete training state written by `save_checkpoint` into `gan`.

    Every group is checked before anything is assigned, so a refused checkpoint leaves the
    model as it was.

    Returns:
        The restored step.
    """
    with _open(path) as data:
        groups = _groups(gan)
        present = {k.split("/")[0] for k in data.files if k != _META}
        if present != set(groups):
            raise UserError(f"Checkpoint {path} holds {sorted(present)} but this run needs {sorted(groups)}.")
        for group, variables in groups.items():
            _assign_group(variables, data, group, path)
    return int(gan.step.numpy())


def _field(config, dotted):
    for name in dotted.split("."):
        config = getattr(config, name)
    return config


def check_compatible(saved, requested, source):
    """Refuses to continue a run whose architecture options differ from `requested`.

    Args:
        saved, requested: TrainConfigs.
        source: the file to name in the error.
    """
    for field in ARCHITECTURE_FIELDS:
        a, b = _field(saved, field), _field(requested, field)
        if a != b:
            raise UserError(f"{source} was trained with {field}={a!r}, which cannot change on resume "
                            f"(requested {b!r}).")


def export_networks(model, run_dir):
    """Saves the networks of a GAN or Restorer (`model.exported_networks()`) as `.keras` files, atomically."""
    run_dir = Path(run_dir)
    for name, network in model.exported_networks().items():
        with atomic_path(run_dir / name) as tmp:
            network.save(tmp)


export_generators = export_networks  # the GAN-era name


def _generator_from_checkpoint(path, ema):
    from deepdeconv.models import build_generator
    from deepdeconv.models.conditional import num_classes

    meta = read_meta(path)
    config = TrainConfig.from_dict(meta["config"], source=str(path))
    group = "generator_ema" if ema and config.ema else "generator"
    model = build_generator(config.resolution, config.channels, config.z_dim, config.width,
                            num_classes=num_classes(config))
    with _open(path) as data:
        _assign_group(model.weights, data, group, path)
    return model, config


def _load_keras(path):
    import keras

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
        path = rundir.best_checkpoint(run) if checkpoint == "best" else rundir.latest_checkpoint(run)
        if path is None:
            what = "best-metric checkpoint (train with --eval-every)" if checkpoint == "best" else "generator yet"
            raise UserError(f"Run {run} has no {what}.")
    else:
        path = Path(checkpoint)
    model, _ = _generator_from_checkpoint(path, ema)
    return model, config
