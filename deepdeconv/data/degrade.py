"""The restoration tasks' degradations: pure TF functions of a clean batch and a stateless seed.

Public API:
    degrade(clean, restore, task, seed) -> (inputs, target)
        training: clean float32 [B, H, W, C] in [-1, 1], seed int [2]; target is `clean`.
    degrade_for_eval(image, restore, task, index, seed=0, clip=False) -> EvalPair
        one whole uint8 image [H, W, C], degraded as training does, seeded by (seed, index).
    validation_pairs(images, restore, task, seed=0) -> list of EvalPair
    add_noise(clean, sigma_range, kind, seed); blur_kernels(batch, restore, seed, max_side=None);
    downscale(hr, scale); bicubic_upscale(lr, scale); modcrop(image, scale);
    jpeg(clean, quality_range, seed).

Network input per task (C = image channels):
    denoise  clean + noise, [B, H, W, C]. Noise sigma is on the 0..255 scale, one value per
             image, uniform in `--noise` lo-hi (a blind model) or fixed. "gaussian": additive.
             "poisson": photon counting, x' = Poisson(peak * x) / peak with x in [0, 1] and
             peak = 0.5 * (255 / sigma)**2 photons at white, so that the noise std at mid grey
             (x = 0.5) equals sigma (darker pixels get less, brighter more: std ~ sqrt(x)).
             "mixed": Poisson-Gaussian, each part with sigma / sqrt(2), so the total std at mid
             grey is again sigma. Then clipped and rounded to uint8 levels, as a user's
             file holds it: dark and bright regions lose the noise that leaves 0..255, and
             a network trained on unclipped noise mistakes what is left for detail there.
             `--unclipped` trains on the papers' float input instead (DnCNN, FFDNet).
    deblur   clean convolved with a PSF (`kernels`: Gaussian of sigma `--blur`, or a motion
             path 4 sigma long, or either per image for "mixed"; symmetric borders), plus
             Gaussian noise of sigma `--blur-noise`; clipped and rounded as for denoise.
    sr       the clean (HR) patch downscaled by `--scale` with antialiased bicubic (below),
             then rounded to uint8 levels: SR test sets store LR images as 8-bit files, so
             the network trains on what it will be given. [B, H/s, W/s, C]: the model upsamples.
    inpaint  clean with the holes set to 0 (mid-grey), and the mask (1 = missing) appended
             as a last channel: [B, H, W, C + 1] (see `masks`).
    jpeg     clean encoded and decoded as JPEG at a quality drawn per image from
             `--jpeg-quality` (whole numbers lo..hi); uint8 levels by nature.

Which bicubic: `tf.image.resize(method="bicubic", antialias=True)`, for training and for
evaluation alike. It is a Keys cubic (a = -0.5) widened by the scale when shrinking, the same
filter as PIL's `Image.resize(BICUBIC)` and MATLAB's `imresize`, which the SR papers use: on
float images the two agree to float32 round-off (test `test_sr_downscale_matches_pil`); on
uint8 images PIL's 8-bit fixed-point arithmetic makes some pixels differ by a level or a few.
Without `antialias=True` TF's bicubic aliases and is a different LR image altogether. Being a
TF op it runs inside tf.data or a train step on any device, which PIL (a numpy function in
the graph) would not; so TF's is used for both training and evaluation.

Where it runs: `patches.restoration_batches` calls `degrade` in the tf.data pipeline, on the
host CPU, and that is where it belongs. JPEG re-encoding (`tf.image.adjust_jpeg_quality`) is a
CPU kernel only; inside an XLA-compiled function (`jit_compile=True`) the JPEG, Poisson and
antialiased-resize (sr) ops do not compile, and the stateless draws that do compile give
other numbers than on the host. In a plain (non-XLA) `tf.function` every task gives exactly
what it gives eagerly (test `test_degrade_runs_inside_a_tf_function`). The quality draw is
keyed by the seed and libjpeg is deterministic, so the JPEG output is a function of (clean,
seed) like every other degradation.

Call `degrade` on the global batch (the pipeline does) so the draws do not depend on how many
replicas share the batch.
"""
import dataclasses
import math
from typing import Optional

import numpy as np
import tensorflow as tf

from deepdeconv.options import parse_range
from deepdeconv.data.kernels import blur, gaussian_kernels, kernel_size, motion_kernels
from deepdeconv.data.masks import random_masks, tiled_masks
from deepdeconv.data.patches import batch_seed
from deepdeconv.pixels import from_uint8, to_uint8, to_uint8_tensor

TASKS = ("denoise", "deblur", "sr", "inpaint", "jpeg")
EVAL_SALT = 3  # evaluation draws are a stream apart from the training ones (patches.PATCH_SALT...)


def _split(seed, n):
    return tf.unstack(tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), n))


def _levels(value_range, batch, seed):
    """One value per image, uniform in [lo, hi] (exactly lo when the range is one number)."""
    lo, hi = value_range
    return tf.random.stateless_uniform([batch], seed, float(lo), float(hi)) if hi > lo else \
        tf.fill([batch], float(lo))


def _batch(x):
    return x.shape[0] if x.shape[0] is not None else tf.shape(x)[0]


def _poisson(clean, sigma, seed):
    """Poisson noise whose std at mid grey is `sigma` [B] (0..255 scale); see the module doc."""
    safe = tf.maximum(sigma, 1e-3)
    peak = (0.5 * tf.square(255.0 / safe))[:, None, None, None]
    x = tf.clip_by_value((clean + 1.0) * 0.5, 0.0, 1.0)
    counts = tf.random.stateless_poisson(tf.shape(clean), seed, lam=peak * x, dtype=tf.float32)
    noisy = counts / peak * 2.0 - 1.0
    return tf.where((sigma > 0)[:, None, None, None], noisy, clean)


def add_noise(clean, sigma_range, kind, seed):
    """Noisy images; `sigma_range` (lo, hi) on the 0..255 scale, kind gaussian/poisson/mixed.

    Returns:
        (noisy float32 like `clean`, sigma float32 [B] drawn per image).
    """
    s_level, s_gauss, s_poisson = _split(seed, 3)
    sigma = _levels(sigma_range, _batch(clean), s_level)
    gauss_sigma = {"gaussian": sigma, "poisson": tf.zeros_like(sigma), "mixed": sigma / math.sqrt(2.0)}[kind]
    noisy = clean
    if kind != "gaussian":
        noisy = _poisson(clean, sigma if kind == "poisson" else sigma / math.sqrt(2.0), s_poisson)
    if kind != "poisson":
        noisy = noisy + tf.random.stateless_normal(tf.shape(clean), s_gauss) * (gauss_sigma / 127.5)[:, None, None,
                                                                                                     None]
    return noisy, sigma


def blur_kernels(batch, restore, seed, max_side=None):
    """The PSFs of one batch: float32 [B, k, k] with k = `kernels.kernel_size` of the top sigma.

    `max_side` (the image's shorter side) caps k at 2 * max_side - 1, what symmetric padding
    allows; a capped kernel still sums to 1.
    """
    sigma_range = parse_range(restore.blur, "--blur", 0.1, 20)
    size = kernel_size(sigma_range[1])
    if max_side is not None:
        size = min(size, 2 * int(max_side) - 1)
    s_level, s_kind, s_motion = _split(seed, 3)
    sigma = _levels(sigma_range, batch, s_level)
    if restore.blur_kind == "gaussian":
        return gaussian_kernels(sigma, size)
    motion = motion_kernels(sigma, size, s_motion)
    if restore.blur_kind == "motion":
        return motion
    use_motion = tf.random.stateless_uniform([batch, 1, 1], s_kind) < 0.5
    return tf.where(use_motion, motion, gaussian_kernels(sigma, size))


def modcrop(image, scale):
    """Crops [..., H, W, C] at the bottom/right to sides that are multiples of `scale`."""
    h, w = image.shape[-3], image.shape[-2]
    return image[..., :h - h % scale, :w - w % scale, :]


def downscale(hr, scale):
    """Antialiased bicubic downscaling by an integer `scale` (sides must be multiples of it)."""
    h, w = hr.shape[1], hr.shape[2]
    size = [h // scale, w // scale] if h is not None and w is not None else tf.shape(hr)[1:3] // scale
    return tf.image.resize(hr, size, method="bicubic", antialias=True)


def bicubic_upscale(lr, scale):
    """The bicubic baseline: [B, h, w, C] -> [B, h*scale, w*scale, C] (Keys a = -0.5)."""
    size = tf.shape(lr)[1:3] * scale
    return tf.image.resize(lr, size, method="bicubic")


def jpeg(clean, quality_range, seed):
    """JPEG round trip at a quality drawn per image in [lo, hi]; CPU only (see module doc).

    Returns:
        (decoded float32 in [-1, 1] like `clean`, quality int32 [B]).
    """
    lo, hi = int(quality_range[0]), int(quality_range[1])
    quality = tf.random.stateless_uniform([_batch(clean)], seed, lo, hi + 1, dtype=tf.int32)
    pixels = to_uint8_tensor(clean)
    coded = tf.map_fn(lambda a: tf.image.adjust_jpeg_quality(a[0], a[1]), (pixels, quality),
                      fn_output_signature=tf.TensorSpec(clean.shape[1:], tf.uint8))
    return from_uint8(tf.reshape(coded, tf.shape(clean))), quality


def _degrade(clean, restore, task, seed, whole_image=False):
    """(network input, level [B] or None, kernel [B, k, k] or None, mask [B, H, W, 1] or None)."""
    s_main, s_noise = _split(seed, 2)
    batch = _batch(clean)
    as_file = (lambda x: x) if restore.unclipped else (lambda x: from_uint8(to_uint8_tensor(x)))
    if task == "denoise":
        noisy, sigma = add_noise(clean, parse_range(restore.noise, "--noise", 0, 255), restore.noise_kind, s_main)
        return as_file(noisy), sigma, None, None
    if task == "deblur":
        side = min(clean.shape[1], clean.shape[2]) if clean.shape[1] is not None else None
        kernels = blur_kernels(batch, restore, s_main, side)
        noisy, sigma = add_noise(blur(clean, kernels), (restore.blur_noise, restore.blur_noise), "gaussian", s_noise)
        return as_file(noisy), sigma, kernels, None
    if task == "sr":
        return from_uint8(to_uint8_tensor(downscale(clean, restore.scale))), None, None, None
    if task == "inpaint":
        h, w = clean.shape[1], clean.shape[2]
        if whole_image:
            mask = tiled_masks(h, w, restore.patch, restore.mask, s_main)
        else:
            mask = random_masks(batch, h if h is not None else tf.shape(clean)[1],
                                w if w is not None else tf.shape(clean)[2], restore.mask, s_main)
        return tf.concat([clean * (1.0 - mask), mask], axis=-1), None, None, mask
    if task == "jpeg":
        coded, quality = jpeg(clean, parse_range(restore.jpeg_quality, "--jpeg-quality", 1, 100), s_main)
        return coded, quality, None, None
    raise ValueError(f"task must be one of {TASKS}, got {task!r}")


def degrade(clean, restore, task, seed):
    """The training pair of a clean batch.

    Args:
        clean: float32 [B, H, W, C] in [-1, 1] (H, W multiples of `restore.scale` for sr).
        restore: the run's RestoreConfig.
        task: "denoise", "deblur", "sr", "inpaint" or "jpeg".
        seed: stateless seed, int tensor [2] (`patches.batch_seed(seed, step, DEGRADE_SALT)`).

    Returns:
        (inputs, target): inputs as listed in the module docstring, target = `clean`.
    """
    inputs, _, _, _ = _degrade(clean, restore, task, seed)
    return inputs, clean


@dataclasses.dataclass(frozen=True)
class EvalPair:
    """One whole evaluation image, degraded.

    Attributes:
        inputs: float32 [1, h, w, C'] network input (C' = C + 1 for inpaint).
        degraded: uint8 [h, w, C], the degraded image as a file would hold it (LR for sr).
        target: uint8 [H, W, C], the clean image (modcropped for sr).
        level: noise sigma (denoise, deblur) or JPEG quality, or None.
        kernel: float32 [k, k] PSF (deblur), or None.
        mask: uint8 [H, W, 1], 1 = missing (inpaint), or None.
    """

    inputs: np.ndarray
    degraded: np.ndarray
    target: np.ndarray
    level: Optional[float] = None
    kernel: Optional[np.ndarray] = None
    mask: Optional[np.ndarray] = None


def degrade_for_eval(image, restore, task, index, seed=0, clip=False) -> EvalPair:
    """Degrades one whole image as training does, reproducibly for (seed, index).

    Args:
        image: uint8 [H, W, C] or [H, W].
        restore: the RestoreConfig of the run being evaluated.
        task: the restoration task.
        index: the image's position in the evaluation set (its own draws).
        seed: evaluation seed.
        clip: feed the network the clipped, rounded uint8 image (what a user's file holds)
            even when the run trained on unclipped input (`--unclipped`); by default the
            network gets what training gave it (uint8 levels unless `--unclipped`).

    Returns:
        An EvalPair.
    """
    image = np.asarray(image, np.uint8)
    image = image[..., None] if image.ndim == 2 else image
    if task == "sr":
        image = modcrop(image, restore.scale)
    clean = from_uint8(image[None])
    inputs, level, kernel, mask = _degrade(clean, restore, task, batch_seed(seed, index, EVAL_SALT), whole_image=True)
    channels = image.shape[-1]
    degraded = to_uint8(inputs[0, ..., :channels].numpy())
    if clip:
        inputs = tf.concat([from_uint8(degraded[None]), inputs[..., channels:]], axis=-1)
    return EvalPair(inputs=inputs.numpy(), degraded=degraded, target=image,
                    level=None if level is None else float(level[0]),
                    kernel=None if kernel is None else kernel[0].numpy(),
                    mask=None if mask is None else mask[0].numpy().astype(np.uint8))


def validation_pairs(images, restore, task, seed=0):
    """EvalPairs of every validation image (a FullImages or uint8 arrays), index = position."""
    return [degrade_for_eval(im, restore, task, i, seed) for i, im in enumerate(getattr(images, "images", images))]
