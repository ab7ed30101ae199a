"""Latent vectors: seeds -> latents, truncation, and spherical interpolation.

Each image's latent comes from its own seed, `np.random.RandomState(seed).randn(z_dim)`
as float32 (the convention of StyleGAN2-ADA's generate.py), so a seed names the same image
whatever the batch size, the number of images sampled with it, or the machine.
"""
import re

import numpy as np

from deepdeconv.errors import UserError

MAX_SEED = 2**32 - 1  # RandomState accepts seeds in [0, 2**32)
MAX_LISTED_SEEDS = 10_000_000  # a list of Python ints this long already takes hundreds of MB
_RANGE = re.compile(r"^(\d+)-(\d+)$")


def parse_seeds(text, option="--seeds"):
    """Parses a seed list such as "0-63", "1,5,9" or "0-3,10,20-22".

    Ranges are inclusive; order and repetitions are kept (an interpolation may return to
    its first seed).

    Args:
        text: the option's value.
        option: option name used in error messages.

    Returns:
        The seeds as a list of ints.

    Raises:
        UserError: one sentence naming `option` when the syntax or a value is wrong.
    """
    seeds = []
    for token in str(text).replace(" ", "").split(","):
        if token.isdigit():
            seeds.append(int(token))
        elif m := _RANGE.match(token):
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise UserError(f"{option} range {token} runs backwards; write it as {hi}-{lo}.")
            if len(seeds) + hi - lo + 1 > MAX_LISTED_SEEDS:
                raise UserError(f"{option} lists more than {MAX_LISTED_SEEDS:,} seeds; for a bulk sample use "
                                "`sample.py bulk RUN --n N --seed S`, which streams them.")
            seeds.extend(range(lo, hi + 1))
        else:
            raise UserError(f"{option} takes seeds like 0-63 or 1,5,9 (non-negative integers), got {text!r}.")
    if max(seeds) > MAX_SEED:
        raise UserError(f"{option} values must be below 2**32, got {max(seeds)}.")
    return seeds


def parse_thresholds(text):
    """Parses `--thresholds` ("0.5,1,2,inf") into a list of positive truncation thresholds.

    Raises:
        UserError: naming the option when a value is not a positive number.
    """
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        values = [0]
    if not all(v > 0 for v in values):
        raise UserError(f"--thresholds takes positive thresholds such as 0.5,1,2,inf, got {text!r}.")
    return values


def latents_from_seeds(seeds, z_dim, trunc=None):
    """The latent of each seed, stacked.

    Truncation follows BigGAN (Brock et al. 2019): every component whose magnitude exceeds
    `trunc` is redrawn, from the same seed's stream, until all lie within [-trunc, trunc].
    Components already inside keep their values, so an image changes gradually as the
    threshold tightens, and a threshold above every component leaves the latent untouched.
    Unlike scaling towards zero, this keeps each component distributed like the training
    prior (a truncated normal) instead of shrinking the vector off the shell where N(0, I)
    puts nearly all its mass.

    Args:
        seeds: iterable of ints in [0, 2**32).
        z_dim: latent size.
        trunc: truncation threshold (> 0), or None for plain N(0, I) latents.

    Returns:
        float32 array [len(seeds), z_dim].
    """
    if trunc is not None and not trunc > 0:
        raise UserError(f"--trunc must be positive, got {trunc}.")
    seeds = list(seeds)
    out = np.empty((len(seeds), z_dim), np.float32)
    # Reseeding one generator is ~20x cheaper than constructing RandomState per seed and
    # yields the identical stream.
    rng = np.random.RandomState(0)
    for i, seed in enumerate(seeds):
        rng.seed(seed)
        z = rng.randn(z_dim)
        if trunc is not None:
            while (outside := np.abs(z) > trunc).any():
                z[outside] = rng.randn(int(outside.sum()))
        out[i] = z
    return out


def slerp(a, b, t):
    """Spherical linear interpolation from `a` (t=0) to `b` (t=1).

    Moves along the great-circle arc between the two directions (Shoemake 1985; White 2016
    for GAN latents), which keeps intermediate latents near the norm the generator was
    trained on, where linear interpolation would pass through low-norm latents. Falls
    back to linear interpolation for (anti)parallel vectors, where the arc is undefined.

    Args:
        a, b: latent vectors of the same shape [D].
        t: scalar or array of interpolation positions.

    Returns:
        float32 array of shape t.shape + [D]; t=0 gives exactly `a` and t=1 exactly `b`.
    """
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    cos = np.dot(a64, b64) / max(np.linalg.norm(a64) * np.linalg.norm(b64), 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if np.sin(omega) < 1e-6:
        return ((1.0 - t) * a64 + t * b64).astype(np.float32)
    wa = np.sin((1.0 - t) * omega) / np.sin(omega)
    wb = np.sin(t * omega) / np.sin(omega)
    return (wa * a64 + wb * b64).astype(np.float32)


def interpolation_latents(latents, frames):
    """Latents for an interpolation path through `latents`, one segment per consecutive pair.

    Args:
        latents: [M, D] with M >= 2, the waypoints in order.
        frames: frames per segment, both endpoints included (>= 2).

    Returns:
        float32 array [M - 1, frames, D]; segment i runs from latents[i] to latents[i + 1].
    """
    t = np.linspace(0.0, 1.0, frames)
    return np.stack([slerp(a, b, t) for a, b in zip(latents[:-1], latents[1:])])


def class_of(indices, num_classes):
    """The class image i is drawn for when none is asked: i mod `num_classes`.

    Every balanced sample uses it: training grids and `sample.py` (i = seed), evaluation
    (i = position), so a seed's class never depends on its neighbours.

    Args:
        indices: seeds or positions, any int sequence.
        num_classes: classes of the conditional generator.

    Returns:
        int64 array of class indices, shaped like `indices`.
    """
    return np.asarray(indices, np.int64) % num_classes
