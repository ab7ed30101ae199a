"""Classical restorers to compare a network with, one or more per task.

Each baseline takes the degraded uint8 image ([H, W] or [H, W, C]) and what the degradation
is known to be, and returns a uint8 image (for `sr`, `scale` times larger):

- sr: `bicubic`, `lanczos` (PIL upscaling).
- denoise: `nlm` (non-local means, fast mode, h = 0.6 sigma with sigma given, as
  scikit-image recommends), `tv` (Chambolle total variation), `wavelet` (BayesShrink), and
  `bm3d` when the `bm3d` package is installed. Sigma is the known noise level, or estimated
  from the image (`skimage.restoration.estimate_sigma`) when unknown.
- deblur: `wiener` with the known PSF and a balance chosen on the degraded image alone by the
  discrepancy principle, `richardson_lucy` (30 iterations, no regularisation), and
  `wiener_oracle`, the Wiener filter with the balance that maximises PSNR against the clean
  image: an upper bound for Wiener, available only where the clean image is.
- inpaint: `biharmonic` (scikit-image).
- jpeg: `jpeg`, the decoded JPEG itself.

`run_baseline(name, degraded, **known)` dispatches by name; `task_baselines(task)` lists the
names for a task, optional ones only when importable.
"""
import importlib.util

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage import restoration

from deepdeconv.errors import UserError
from deepdeconv.pixels import to_uint8

RL_ITERATIONS = 30
NLM_H_PER_SIGMA = 0.6
_BALANCES = np.logspace(-4, 0, 17)
DISCREPANCY_TAU = 1.05


def _unit(image):
    """uint8 [H, W(, C)] -> float64 in [0, 1] with no singleton channel axis, and its channel axis."""
    x = np.asarray(image, dtype=np.float64) / 255.0
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return x, (-1 if x.ndim == 3 else None)


def _back(x, like):
    """Float in [0, 1] -> uint8 with the channel layout of `like` (through the one pixel contract)."""
    out = to_uint8(2.0 * np.asarray(x) - 1.0)
    if np.ndim(like) == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def _per_channel(fn, x):
    if x.ndim == 2:
        return fn(x)
    return np.stack([fn(x[..., c]) for c in range(x.shape[-1])], axis=-1)


# --- super-resolution ---------------------------------------------------------------------

def _resize(image, scale, resample):
    image = np.asarray(image)
    grey = image.ndim == 2 or image.shape[-1] == 1
    pil = Image.fromarray(image[..., 0] if image.ndim == 3 and grey else image)
    out = np.asarray(pil.resize((pil.width * scale, pil.height * scale), resample))
    return out[..., None] if image.ndim == 3 and grey else out


def bicubic(image, scale):
    """Bicubic upscaling by an integer `scale` (PIL, a = -0.5 as in MATLAB's imresize)."""
    return _resize(image, scale, Image.Resampling.BICUBIC)


def lanczos(image, scale):
    """Lanczos-3 upscaling by an integer `scale` (PIL)."""
    return _resize(image, scale, Image.Resampling.LANCZOS)


# --- denoising ----------------------------------------------------------------------------

def noise_sigma(image, sigma=None):
    """The noise sigma on the 0..255 scale: `sigma` when known, else estimated from the image."""
    if sigma is not None:
        return float(sigma)
    x, axis = _unit(image)
    return float(restoration.estimate_sigma(x, channel_axis=axis, average_sigmas=True)) * 255.0


def nlm(image, sigma=None):
    """Non-local means (fast mode, 5x5 patches, 13x13 search) with h = 0.6 sigma."""
    x, axis = _unit(image)
    s = noise_sigma(image, sigma) / 255.0
    out = restoration.denoise_nl_means(x, patch_size=5, patch_distance=6, h=NLM_H_PER_SIGMA * s, sigma=s,
                                       fast_mode=True, channel_axis=axis)
    return _back(out, image)


def tv_weight(sigma):
    """Chambolle weight (on the [0, 1] scale) for noise `sigma` (0..255): (0.55 + 0.006 sigma) sigma / 255.

    The factor grows with the noise: it follows the best weight found by a search over sigma
    10, 25 and 50 on grey crops of the built-in *training* photos (never the validation ones).
    """
    return min(1.0, 0.55 + 0.006 * sigma) * sigma / 255.0


def tv(image, sigma=None):
    """Chambolle total-variation denoising with the weight of `tv_weight`."""
    x, axis = _unit(image)
    weight = tv_weight(noise_sigma(image, sigma))
    return _back(restoration.denoise_tv_chambolle(x, weight=weight, channel_axis=axis), image)


def wavelet(image, sigma=None):
    """BayesShrink soft wavelet thresholding (colour images in YCbCr)."""
    x, axis = _unit(image)
    s = noise_sigma(image, sigma) / 255.0
    out = restoration.denoise_wavelet(x, sigma=s, method="BayesShrink", mode="soft", rescale_sigma=True,
                                      convert2ycbcr=axis is not None, channel_axis=axis)
    return _back(out, image)


def bm3d_available():
    """True when the optional `bm3d` package can be imported."""
    return importlib.util.find_spec("bm3d") is not None


def bm3d(image, sigma=None):
    """BM3D (the `bm3d` package); UserError when it is not installed."""
    # Imported here, never at module level: the package is free for non-commercial use only,
    # so deepdeconv must not depend on it; users who may use it install it themselves.
    try:
        import bm3d as bm3d_package
    except ImportError:
        raise UserError("The bm3d baseline needs the bm3d package (pip install bm3d; free for "
                        "non-commercial use only).") from None
    x, axis = _unit(image)
    s = noise_sigma(image, sigma) / 255.0
    if axis is None:
        out = bm3d_package.bm3d(x, sigma_psd=s)
    else:
        out = bm3d_package.bm3d_rgb(x, sigma_psd=s)
    return _back(np.clip(out, 0, 1), image)


# --- deblurring ---------------------------------------------------------------------------

def _padded(fn, x, psf):
    """Runs an FFT/convolution deconvolution on a reflect-padded copy, so borders do not wrap."""
    pad = max(psf.shape)
    return _per_channel(lambda c: fn(np.pad(c, pad, mode="reflect"))[pad:-pad, pad:-pad], x)


def _blur(x, psf):
    return _per_channel(lambda c: ndimage.convolve(c, psf, mode="reflect"), x)


def _wiener_at(x, psf, balance, clip=True):
    out = _padded(lambda c: restoration.wiener(c, psf, balance, clip=False), x, psf)
    return np.clip(out, 0, 1) if clip else out


def wiener(image, psf, noise=None):
    """Wiener-Hunt deconvolution, its balance chosen by Morozov's discrepancy principle.

    The balance is the largest of a log-spaced grid whose (unclipped) result, blurred again,
    stays within 1.05 times the noise level of the degraded image: the most regularised
    restoration that still explains the data (1.05: the principle's safety factor tau > 1).
    Only the degraded image and the known (or estimated) noise sigma are used, never the
    clean image. The noise includes the uint8 rounding of the file (variance 1/12).

    Args:
        image: blurred uint8 image.
        psf: the blur kernel (sums to 1).
        noise: noise sigma on the 0..255 scale, or None to estimate it.
    """
    x, _ = _unit(image)
    psf = np.asarray(psf, dtype=np.float64)
    bound = DISCREPANCY_TAU ** 2 * (noise_sigma(image, noise) ** 2 + 1 / 12) / 255.0 ** 2
    chosen = _BALANCES[0]
    for balance in _BALANCES:
        residual = np.mean((_blur(_wiener_at(x, psf, balance, clip=False), psf) - x) ** 2)
        if residual <= bound:
            chosen = balance
    return _back(_wiener_at(x, psf, chosen), image)


def wiener_oracle(image, psf, clean):
    """Wiener deconvolution with the balance that scores best against `clean` (an oracle, not a method)."""
    x, _ = _unit(image)
    c, _ = _unit(clean)
    psf = np.asarray(psf, dtype=np.float64)
    best = min(_BALANCES, key=lambda b: np.mean((_wiener_at(x, psf, b) - c) ** 2))
    return _back(_wiener_at(x, psf, best), image)


def richardson_lucy(image, psf, iterations=RL_ITERATIONS):
    """Richardson-Lucy deconvolution for a fixed number of iterations (no regularisation)."""
    x, _ = _unit(image)
    psf = np.asarray(psf, dtype=np.float64)
    out = _padded(lambda c: restoration.richardson_lucy(c, psf, num_iter=iterations, clip=True), x, psf)
    return _back(out, image)


# --- inpainting and JPEG ------------------------------------------------------------------

def biharmonic(image, mask):
    """Biharmonic inpainting of the pixels where `mask` is True (missing)."""
    x, axis = _unit(image)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim == 3:
        mask = mask.any(axis=-1)
    out = restoration.inpaint_biharmonic(x, mask, split_into_regions=True, channel_axis=axis)
    return _back(out, image)


def jpeg(image):
    """The decoded JPEG itself: what a user has without any restoration."""
    return np.array(image, dtype=np.uint8, copy=True)


# name -> (function, keyword arguments it takes from `known`)
_FUNCTIONS = {
    "bicubic": (bicubic, ("scale",)), "lanczos": (lanczos, ("scale",)),
    "nlm": (nlm, ("sigma",)), "tv": (tv, ("sigma",)), "wavelet": (wavelet, ("sigma",)), "bm3d": (bm3d, ("sigma",)),
    "wiener": (wiener, ("psf", "noise")), "richardson_lucy": (richardson_lucy, ("psf",)),
    "wiener_oracle": (wiener_oracle, ("psf", "clean")),
    "biharmonic": (biharmonic, ("mask",)), "jpeg": (jpeg, ()),
}
TASK_BASELINES = {
    "sr": ("bicubic", "lanczos"),
    "denoise": ("nlm", "tv", "wavelet", "bm3d"),
    "deblur": ("wiener", "richardson_lucy", "wiener_oracle"),
    "inpaint": ("biharmonic",),
    "jpeg": ("jpeg",),
}
ORACLES = ("wiener_oracle",)


def task_baselines(task, include_oracles=True):
    """Names of the baselines of `task` that can run here (BM3D only when installed)."""
    names = TASK_BASELINES.get(task, ())
    return tuple(n for n in names if (n != "bm3d" or bm3d_available()) and (include_oracles or n not in ORACLES))


def run_baseline(name, degraded, **known):
    """Restores `degraded` with the named baseline.

    Args:
        name: a baseline name (see TASK_BASELINES).
        degraded: uint8 [H, W] or [H, W, C].
        **known: what the degradation is known to be: `scale` (sr), `sigma` (denoise; None =
            estimate), `psf` and `noise` (deblur), `mask` (inpaint, True = missing), `clean`
            (oracles only). Extra keys are ignored.

    Returns:
        The restored uint8 image.
    """
    if name not in _FUNCTIONS:
        raise UserError(f"Unknown baseline {name!r}; choose from {', '.join(_FUNCTIONS)}.")
    fn, needs = _FUNCTIONS[name]
    missing = [k for k in needs if k not in known and k not in ("sigma", "noise")]
    if missing:
        raise UserError(f"The {name} baseline needs to know the degradation's {', '.join(missing)}.")
    return fn(degraded, **{k: known.get(k) for k in needs})
