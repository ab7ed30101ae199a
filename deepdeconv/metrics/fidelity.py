"""PSNR and SSIM of restored images, computed the way the restoration papers compute them.

Conventions (see issues/RESTORATION.md):
- Inputs are uint8 arrays (or floats on the 0..255 scale) shaped [H, W] or [H, W, C]; a
  network's output must be rounded to uint8 (`deepdeconv.pixels.to_uint8`) before scoring,
  so that scores equal those of the saved files.
- `y_channel=True` scores the luma of BT.601 studio range, Y = 16 + 65.481 R + 128.553 G +
  24.966 B with RGB in [0, 1] (Y in 16..235), kept as a float without rounding, as BasicSR
  does (MATLAB's `rgb2ycbcr` on uint8 rounds Y; the two differ by hundredths of a dB). One
  channel images are taken to be luma already. Full-range Y (`tf.image.rgb_to_yuv`) would
  score 20*log10(255/219) = 1.32 dB lower on the same error.
- `crop` pixels are removed from every border first (SR: crop = scale).
- PSNR uses peak 255 and the mean squared error over every pixel and channel; identical
  images give `inf` (not capped: a cap would hide a perfect result in a mean, and a mean that
  holds an `inf` says so plainly).
- SSIM is Wang et al. 2004 (MATLAB `ssim_index.m`): 11x11 Gaussian window with sigma 1.5,
  K1 = 0.01, K2 = 0.03, L = 255, "valid" filtering (no padding), biased (population)
  covariances, the SSIM map averaged per channel and then over channels. This equals
  `tf.image.ssim` and scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)`.
"""
import numpy as np
from scipy import ndimage

from deepdeconv.errors import UserError

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03
PEAK = 255.0
_Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


def rgb_to_y(image):
    """BT.601 studio-range luma (16..235, float64) of an RGB image on the 0..255 scale.

    Args:
        image: [H, W, 3] uint8 or float in 0..255; [H, W] or [H, W, 1] is returned as luma
            already (as float64 [H, W]).

    Returns:
        float64 [H, W].
    """
    x = np.asarray(image, dtype=np.float64)
    if x.ndim == 2:
        return x
    if x.ndim == 3 and x.shape[-1] == 1:
        return x[..., 0]
    if x.ndim != 3 or x.shape[-1] != 3:
        raise UserError(f"A colour image for the Y channel must be [H, W, 3], got shape {x.shape}.")
    return 16.0 + x @ _Y_WEIGHTS


def _prepare(a, b, crop, y_channel, minimum=1):
    """Both images as float64 [H, W, C] after the Y conversion and border crop."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise UserError(f"Images to compare must have the same shape, got {a.shape} and {b.shape}.")
    if a.ndim not in (2, 3):
        raise UserError(f"Images must be [H, W] or [H, W, C] arrays, got shape {a.shape}.")
    if y_channel:
        a, b = rgb_to_y(a), rgb_to_y(b)
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    crop = int(crop)
    if crop < 0:
        raise UserError(f"The border crop must be non-negative, got {crop}.")
    if crop:
        a, b = a[crop:-crop, crop:-crop], b[crop:-crop, crop:-crop]
    if min(a.shape[0], a.shape[1]) < minimum:
        raise UserError(f"Images of {a.shape[0]}x{a.shape[1]} pixels after cropping {crop} from each border are "
                        f"too small to score; at least {minimum}x{minimum} are needed.")
    return a, b


def psnr(a, b, data_range=255, crop=0, y_channel=False):
    """Peak signal-to-noise ratio in dB between two images.

    Args:
        a, b: uint8 (or float on the 0..`data_range` scale) arrays [H, W] or [H, W, C] of one shape.
        data_range: the peak value (255 for uint8).
        crop: pixels removed from every border before scoring (SR convention: the scale).
        y_channel: score the BT.601 studio-range luma of RGB images (see the module docstring).

    Returns:
        PSNR as a float; `inf` for identical images.
    """
    a, b = _prepare(a, b, crop, y_channel)
    mse = np.mean((a - b) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(float(data_range) ** 2 / mse))


def _gaussian_window():
    x = np.arange(WINDOW) - (WINDOW - 1) / 2
    g = np.exp(-(x ** 2) / (2 * SIGMA ** 2))
    return g / g.sum()  # the 2-D window is the outer product, itself normalised


def _filter_valid(x, g):
    """Separable correlation of [H, W, C] with the window, keeping only fully covered pixels."""
    r = (WINDOW - 1) // 2
    # Border mode is irrelevant: the crop below keeps only pixels whose window lies inside.
    y = ndimage.correlate1d(x, g, axis=0, mode="constant")
    y = ndimage.correlate1d(y, g, axis=1, mode="constant")
    return y[r:-r, r:-r]


def ssim_map(a, b, crop=0, y_channel=False):
    """The SSIM map [H - 10, W - 10, C] of Wang et al. 2004 (see `ssim`)."""
    a, b = _prepare(a, b, crop, y_channel, minimum=WINDOW)
    g = _gaussian_window()
    c1, c2 = (K1 * PEAK) ** 2, (K2 * PEAK) ** 2
    mu_a, mu_b = _filter_valid(a, g), _filter_valid(b, g)
    aa, bb, ab = mu_a * mu_a, mu_b * mu_b, mu_a * mu_b
    var_a = _filter_valid(a * a, g) - aa
    var_b = _filter_valid(b * b, g) - bb
    cov = _filter_valid(a * b, g) - ab
    return ((2 * ab + c1) * (2 * cov + c2)) / ((aa + bb + c1) * (var_a + var_b + c2))


def ssim(a, b, crop=0, y_channel=False):
    """Structural similarity (Wang et al. 2004) between two images on the 0..255 scale.

    Args:
        a, b: uint8 (or float on 0..255) arrays [H, W] or [H, W, C] of one shape, at least
            11x11 after the crop.
        crop: pixels removed from every border first.
        y_channel: score the BT.601 studio-range luma of RGB images.

    Returns:
        The mean SSIM (per channel, then over channels) as a float; 1.0 for identical images.
    """
    return float(np.mean(ssim_map(a, b, crop, y_channel).mean(axis=(0, 1))))
