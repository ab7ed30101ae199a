"""The exponential moving average of a network's weights, shared by the GAN and the restorer."""
import math

import tensorflow as tf


def decay_factor(step, decay, rampup):
    """The weight the average keeps at `step`: `decay`, or less while the ramp-up caps the half-life.

    Args:
        step: steps taken so far (int, or an int64 tensor inside the train step).
        decay, rampup: as for `update_ema`.

    Returns:
        A float32 scalar tensor in [0, decay].
    """
    step = tf.cast(step, tf.float32)
    factor = tf.constant(decay, tf.float32)
    if rampup > 0 and decay > 0:
        half_life = tf.minimum(math.log(0.5) / math.log(decay), rampup * step)
        factor = tf.pow(0.5, 1.0 / tf.maximum(half_life, 1e-8))  # half-life 0 -> decay 0: a copy
    return factor


def update_ema(average, model, step, decay, rampup):
    """Moves every weight of `average` towards `model`'s (inside the train step).

    Args:
        average: the EMA copy (same architecture as `model`).
        model: the network being trained.
        step: int64 steps taken so far (a tensor or variable value).
        decay: per-step decay.
        rampup: the average's half-life is capped at this fraction of the steps taken so far
            (StyleGAN2-ADA's ramp-up), so that the average forgets the random initial weights
            quickly; 0 = always `decay`.
    """
    factor = decay_factor(step, decay, rampup)
    # Every weight, moving batch-norm statistics included, so the EMA model's inference mode
    # sees statistics that match its averaged weights.
    for avg, var in zip(average.weights, model.weights):
        avg.assign(factor * avg + (1.0 - factor) * tf.cast(var, avg.dtype))
