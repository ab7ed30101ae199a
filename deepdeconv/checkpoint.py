"""Checkpoints (complete, resumable training state) and exported networks.

Loading a generator for sampling from any of them is `deepdeconv.sampling.load`.

A checkpoint is one `.npz` holding every variable of a model's checkpoint groups plus the
config as JSON. One file written by rename is atomic, which a multi-file TensorFlow checkpoint
is not. The step counter is the whole RNG state (all draws are keyed by it), so restoring it
resumes exactly.

Any model can be checkpointed if it has a method `checkpoint_groups()` returning
{group name: list of keras.Variables, or a keras Optimizer} (the GAN: generator,
discriminator, EMA generator, both optimisers, step; a Restorer: restorer, its EMA copy, its
optimiser, the discriminator and its optimiser when adversarial, step). Each array is stored under
"<group>/<key>", where the key is the variable's path (`layer/kernel`), or for an optimizer's
state its path without the optimizer's own name (Keras numbers optimizers `adam_1`, `adam_2`...
in creation order, which differs between processes). Restoring matches by key, so a code
change that reorders variables cannot load weights into the wrong place.
"""
import json
import re
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np

from deepdeconv import rundir
from deepdeconv.config import ARCHITECTURE_FIELDS
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path

_META = "__meta__"
# Files written before checkpoints were keyed by path store "<group>/0000", "<group>/0001"...
_POSITIONAL = re.compile(r"^\d{4}$")


def _optimizer_state(optimizer):
    # Under mixed_float16 a LossScaleOptimizer wraps the real one. Only the real one's state is
    # saved, so a checkpoint resumes under any precision; the loss scale starts afresh and
    # settles again within a few steps.
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    prefix = inner.name + "/"
    named = {}
    for v in inner.variables:
        if not v.path.startswith(prefix):
            raise ValueError(f"optimizer variable {v.path} is not under {prefix}")
        named[v.path[len(prefix):]] = v
    return named


def named_variables(value):
    """{stable key: variable} for one checkpoint group.

    Args:
        value: a list of keras.Variables (keyed by `path`) or a keras Optimizer (its state,
            keyed by path without the optimizer's auto-numbered name).
    """
    if isinstance(value, keras.optimizers.Optimizer):
        named = _optimizer_state(value)
        count = len(getattr(value, "inner_optimizer", value).variables)
    else:
        named = {v.path: v for v in value}
        count = len(value)
    if len(named) != count:
        raise ValueError("two variables of one checkpoint group share a path; name the layers")
    return named


def _model_groups(model):
    return {group: named_variables(value) for group, value in model.checkpoint_groups().items()}


def save_checkpoint(model, path, config):
    """Writes the complete training state of `model` to `path` atomically.

    Args:
        model: an object with `checkpoint_groups()` and a `step` variable (a compiled GAN).
        path: destination `.npz`.
        config: the run's TrainConfig, stored so the file is self-describing.
    """
    arrays = {}
    for group, named in _model_groups(model).items():
        for key, v in named.items():
            arrays[f"{group}/{key}"] = np.asarray(v.numpy())
    meta = {"step": int(model.step.numpy()), "config": config.to_dict()}
    arrays[_META] = np.array(json.dumps(meta))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def _open(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"Checkpoint {path} does not exist.") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise UserError(f"Checkpoint {path} is not a readable deepdeconv checkpoint ({e}).") from None


def read_meta(path):
    """The {"step", "config"} record stored in a checkpoint."""
    with _open(path) as data:
        if _META not in data:
            raise UserError(f"Checkpoint {path} is not a deepdeconv checkpoint (no metadata).")
        return json.loads(str(data[_META]))


def verify_checkpoint(path):
    """Reads every array of a checkpoint (zip CRCs included); UserError naming it if damaged."""
    read_meta(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                data[key]
    except Exception as e:  # zipfile, zlib and numpy each raise their own type for a damaged file
        raise UserError(f"Checkpoint {path} is damaged ({type(e).__name__}: {e}).") from None


def newest_readable(paths):
    """The newest of `paths` (oldest first) that loads, or None if there are none.

    A damaged newer checkpoint (a crash or full disk while writing, on a filesystem that lost
    the rename's data) is skipped with a warning on stderr naming it and the one used instead.

    Raises:
        UserError: if there are checkpoints but none of them loads.
    """
    damaged = []
    for path in reversed(list(paths)):
        try:
            verify_checkpoint(path)
        except UserError as e:
            damaged.append(path)
            print(f"warning: {e}", file=sys.stderr)
            continue
        if damaged:
            print(f"warning: using {path} instead of the damaged {damaged[0].name}.", file=sys.stderr)
        return path
    if damaged:
        raise UserError(f"No checkpoint in {damaged[0].parent} loads; the newest, {damaged[0]}, is damaged.")
    return None


def latest_checkpoint(run_dir):
    """The newest regular checkpoint of a run that loads (see `newest_readable`), or None."""
    return newest_readable(rundir.list_checkpoints(Path(run_dir) / rundir.CHECKPOINTS))


def best_checkpoint(run_dir):
    """The newest best-by-metric checkpoint of a run that loads, or None."""
    return newest_readable(rundir.list_checkpoints(Path(run_dir) / rundir.CHECKPOINTS / rundir.BEST))


def _match_group(named, data, group, path):
    """[(variable, array)] for one group, matched by key; UserError on any mismatch."""
    prefix = group + "/"
    stored = {k[len(prefix):]: k for k in data.files if k.startswith(prefix)}
    if stored and all(_POSITIONAL.match(k) for k in stored):
        # An older positional file: variables in the order this model lists them.
        if len(stored) != len(named):
            raise UserError(f"Checkpoint {path} holds {len(stored)} {group} variables where this model has "
                            f"{len(named)}; it was written for a different architecture.")
        stored = dict(zip(named, (stored[k] for k in sorted(stored))))
    missing = sorted(set(named) - set(stored))
    if missing:
        raise UserError(f"Checkpoint {path} has no {group} variable {missing[0]}"
                        f"{f' (nor {len(missing) - 1} more)' if len(missing) > 1 else ''}; "
                        "it was written for a different architecture.")
    extra = sorted(set(stored) - set(named))
    if extra:
        raise UserError(f"Checkpoint {path} holds {group} variable {extra[0]}, which this model does not have"
                        f"{f' (nor {len(extra) - 1} more)' if len(extra) > 1 else ''}; "
                        "it was written for a different architecture.")
    pairs = []
    for key, var in named.items():
        value = data[stored[key]]
        if tuple(var.shape) != value.shape:
            raise UserError(f"Checkpoint {path} has shape {value.shape} for {group} variable {key} "
                            f"where this model needs {tuple(var.shape)}; it was written for a different "
                            "architecture.")
        pairs.append((var, value))
    return pairs


def _restore_groups(groups, path, exact):
    """Matches every group against the file first, then assigns: a refusal changes nothing.

    `exact`: the file must hold these groups and no others (a whole training state).
    """
    with _open(path) as data:
        present = {k.split("/")[0] for k in data.files if k != _META}
        if not set(groups) <= present or (exact and present != set(groups)):
            raise UserError(f"Checkpoint {path} holds {sorted(present)} but this run needs {sorted(groups)}.")
        try:
            pairs = [pair for group, named in groups.items() for pair in _match_group(named, data, group, path)]
        except UserError:
            raise
        except Exception as e:  # a damaged member surfaces only when read
            raise UserError(f"Checkpoint {path} is damaged ({type(e).__name__}: {e}).") from None
    for var, value in pairs:
        var.assign(value)


def restore_checkpoint(model, path):
    """Restores the complete training state written by `save_checkpoint` into `model`.

    Variables are matched by key; a missing or extra variable or a shape mismatch is refused
    with a sentence naming the file and the variable, before anything is assigned, so a
    refused checkpoint leaves the model as it was.

    The optimizers' learning rates are the exception: they keep the values `model` was built
    with, from the resumed run's config, so a `--g-lr` given with `--resume` takes effect
    (without one they equal the saved values anyway).

    Returns:
        The restored step.
    """
    groups = _model_groups(model)
    rates = [(v, v.numpy()) for named in groups.values() for key, v in named.items()
             if key.rsplit("/", 1)[-1] == "learning_rate"]
    _restore_groups(groups, path, exact=True)
    for variable, value in rates:
        variable.assign(value)
    return int(model.step.numpy())


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




def restore_network(network, path, group):
    """Loads one network's weights (checkpoint group `group`) from a checkpoint into `network`.

    Args:
        network: a keras.Model built for the checkpoint's configuration.
        path: a checkpoint `.npz`.
        group: e.g. "generator_ema" or "restorer".

    Returns:
        `network`, restored.
    """
    _restore_groups({group: named_variables(network.weights)}, path, exact=False)
    return network
