"""Classical baselines run on every task and improve on the degraded input of a smooth image."""
import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from deepdeconv.errors import UserError
from deepdeconv.metrics import baselines
from deepdeconv.metrics.fidelity import psnr


def _smooth(h=96, w=96, channels=None):
    y, x = np.mgrid[0:h, 0:w] / 12.0
    grey = 128 + 50 * np.sin(x) * np.cos(0.7 * y) + 30 * np.cos(0.3 * x + 0.5 * y)
    if channels == 3:
        return np.clip(np.stack([grey, 255 - grey, 0.5 * grey + 60], -1), 0, 255).astype(np.uint8)
    image = np.clip(grey, 0, 255).astype(np.uint8)
    return image[..., None] if channels == 1 else image


def _noisy(clean, sigma, seed=0):
    return np.clip(np.rint(clean + np.random.default_rng(seed).normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)


def _gaussian_psf(sigma=1.6, radius=5):
    r = np.arange(-radius, radius + 1)
    g = np.exp(-r ** 2 / (2 * sigma ** 2))
    psf = np.outer(g, g)
    return psf / psf.sum()


@pytest.mark.parametrize("name", ["nlm", "tv", "wavelet"])
@pytest.mark.parametrize("channels", [None, 1, 3])
def test_denoisers_improve_psnr_and_keep_the_layout(name, channels):
    clean = _smooth(channels=channels)
    noisy = _noisy(clean, 20)
    for sigma in (20, None):  # known, then estimated
        out = baselines.run_baseline(name, noisy, sigma=sigma)
        assert out.dtype == np.uint8 and out.shape == clean.shape
        assert psnr(out, clean) > psnr(noisy, clean) + 3


@pytest.mark.slow
def test_bm3d_denoises_when_installed():
    pytest.importorskip("bm3d")
    clean = _smooth(48, 48)
    noisy = _noisy(clean, 20)
    assert psnr(baselines.run_baseline("bm3d", noisy, sigma=20), clean) > psnr(noisy, clean) + 3


def test_bm3d_is_listed_only_when_importable(monkeypatch):
    monkeypatch.setattr(baselines, "bm3d_available", lambda: False)
    assert baselines.task_baselines("denoise") == ("nlm", "tv", "wavelet")
    monkeypatch.setattr(baselines, "bm3d_available", lambda: True)
    assert baselines.task_baselines("denoise")[-1] == "bm3d"


@pytest.mark.parametrize("channels", [None, 3])
def test_bicubic_and_lanczos_beat_nearest_upscaling(channels):
    clean = _smooth(96, 96, channels)
    lr = np.asarray(Image.fromarray(clean).resize((32, 32), Image.Resampling.BICUBIC))
    nearest = np.asarray(Image.fromarray(lr).resize((96, 96), Image.Resampling.NEAREST))
    for name in ("bicubic", "lanczos"):
        out = baselines.run_baseline(name, lr, scale=3)
        assert out.shape == clean.shape
        assert psnr(out, clean, crop=3) > psnr(nearest, clean, crop=3) + 2


def test_sr_keeps_a_singleton_channel_axis():
    assert baselines.bicubic(np.zeros((10, 12, 1), np.uint8), 2).shape == (20, 24, 1)


def _detailed(h=96, w=96):
    """Finer structure than `_smooth`, so that a sigma-1.6 blur costs many dB."""
    y, x = np.mgrid[0:h, 0:w] / 2.5
    return np.clip(128 + 60 * np.sin(x) * np.cos(0.8 * y) + 40 * np.sign(np.sin(0.2 * x + 0.3 * y)), 0, 255).astype(
        np.uint8)


def test_deconvolution_beats_the_blurred_input_and_the_oracle_bounds_wiener():
    clean = _detailed()
    psf = _gaussian_psf()
    sharp_blur = ndimage.convolve(clean.astype(float), psf, mode="reflect")
    blurred = _noisy(sharp_blur, 2)
    before = psnr(blurred, clean)
    wiener = psnr(baselines.run_baseline("wiener", blurred, psf=psf, noise=2.0), clean)
    oracle = psnr(baselines.run_baseline("wiener_oracle", blurred, psf=psf, clean=clean), clean)
    assert wiener > before + 1
    assert oracle >= wiener - 0.05  # same balance grid, the oracle picks the best of it
    # Unregularised Richardson-Lucy amplifies noise, so it is checked on a noise-free blur.
    quantised = _noisy(sharp_blur, 0)
    rl = baselines.run_baseline("richardson_lucy", quantised, psf=psf)
    assert psnr(rl, clean) > psnr(quantised, clean) + 1


def test_biharmonic_fills_holes():
    clean = _smooth(channels=3)
    mask = np.zeros(clean.shape[:2] + (1,), np.uint8)
    mask[30:40, 20:60] = 1
    holed = clean * (1 - mask) + 128 * mask
    out = baselines.run_baseline("biharmonic", holed.astype(np.uint8), mask=mask)
    assert psnr(out, clean) > psnr(holed, clean) + 10


def test_jpeg_baseline_is_the_input_itself():
    image = _smooth()
    out = baselines.run_baseline("jpeg", image)
    assert np.array_equal(out, image) and out is not image


def test_unknown_baseline_and_missing_knowledge_are_one_sentence():
    with pytest.raises(UserError, match="Unknown baseline 'median'"):
        baselines.run_baseline("median", _smooth())
    with pytest.raises(UserError, match="needs to know the degradation's psf"):
        baselines.run_baseline("wiener", _smooth())
