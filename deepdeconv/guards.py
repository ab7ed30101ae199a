"""Checks run before anything is saved: a checkpoint or an exported generator is always usable.

The NaN guard watches the losses, which a step computes before its update; an update that
overflows (too high a learning rate) makes the weights non-finite while every logged loss is
still finite. So the weights themselves are checked before each save.
"""
import math

import tensorflow as tf

from deepdeconv.checkpoint import latest_checkpoint
from deepdeconv.errors import UserError


def _float_variables(model):
    """Every floating-point variable a checkpoint of `model` would hold."""
    variables = []
    for name in ("generator", "discriminator", "ema_generator"):
        part = getattr(model, name, None)
        if part is not None:
            variables += part.weights
    for name in ("g_optimizer", "d_optimizer"):
        optimizer = getattr(model, name, None)
        if optimizer is not None:
            optimizer = getattr(optimizer, "inner_optimizer", optimizer)
            variables += optimizer.variables
    if not variables:
        variables = model.weights
    return [v for v in variables if tf.as_dtype(v.dtype).is_floating]


def weights_finite(model):
    """True if every floating-point weight and optimiser slot of `model` is finite."""
    checks = [tf.reduce_all(tf.math.is_finite(tf.convert_to_tensor(v))) for v in _float_variables(model)]
    return bool(tf.reduce_all(checks).numpy()) if checks else True


def check_before_save(model, nan_guard, step):
    """Whether `model` may be saved at `step`; if not, stops training like the NaN guard.

    The guard then reports "weights" as what became non-finite and the run ends with the last
    good checkpoint named (see `training._train_into`).

    Args:
        model: the GAN being trained.
        nan_guard: the run's NanGuard, or None.
        step: the step about to be saved.

    Returns:
        True when every weight is finite.
    """
    if weights_finite(model):
        return True
    if nan_guard is not None and nan_guard.bad_step is None:
        nan_guard.bad_step = step
        nan_guard.bad_losses = {"the weights": math.nan}
    model.stop_training = True
    return False


def write_failure(error, run_dir, step):
    """The one sentence for a file operation that failed during training (a full disk, say).

    Checkpoints are written to a temporary file renamed into place, and old ones are pruned
    only after the new one is written, so every checkpoint already on disk is still whole.

    Args:
        error: the OSError.
        run_dir: the run directory being written.
        step: the step training had reached.
    """
    latest = latest_checkpoint(run_dir)
    where = f" ({error.filename})" if error.filename else ""
    return UserError(f"Training stopped at step {step} because a file could not be written{where}: "
                     f"{error.strerror or error}; the last good checkpoint is {latest or 'none'}.")
