"""The shipped pretrained restorers: each loads by name and does its job on an image it never saw."""
import numpy as np
import pytest
from PIL import Image

from deepdeconv.cli.restore import main
from deepdeconv.data.degrade import bicubic_upscale, downscale
from deepdeconv.metrics.fidelity import psnr
from deepdeconv.pixels import from_uint8, to_uint8
from deepdeconv.restoring.load import PRETRAINED, available_pretrained, load_restorer
from deepdeconv.restoring.tiles import restore_array

CHANNELS = {"denoise": 3, "denoise_gray": 1, "sr2": 3, "sr4": 3}


def _scene(h=96, w=96, seed=0):
    """A synthetic RGB picture with what photos have: flat regions, edges, a gradient, texture."""
    y, x = np.mgrid[0:h, 0:w] / h
    rng = np.random.default_rng(seed)
    grey = 60 + 120 * x + 40 * ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.06)
    grey = grey + 30 * (np.sin(40 * x + 12 * y) > 0.3) * (y > 0.6)
    grey = grey + 10 * rng.random((h // 8, w // 8)).repeat(8, 0).repeat(8, 1)
    rgb = np.stack([grey, 0.8 * grey + 30, 1.1 * grey - 20], -1)
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def _grey(rgb):
    return np.round(rgb.astype(np.float64) @ [0.299, 0.587, 0.114])[..., None].astype(np.uint8)


def test_every_pretrained_name_is_shipped_and_loads_with_its_task_scale_and_channels():
    assert set(available_pretrained()) == set(PRETRAINED) == set(CHANNELS)
    for name, (task, scale) in PRETRAINED.items():
        spec = load_restorer(name)
        assert (spec.task, spec.scale, spec.channels) == (task, scale, CHANNELS[name]), name


@pytest.mark.parametrize("name", ["denoise", "denoise_gray"])
def test_the_blind_denoisers_clean_light_and_heavy_noise(name):
    spec = load_restorer(name)
    clean = _scene() if spec.channels == 3 else _grey(_scene())
    rng = np.random.default_rng(1)
    for sigma, gain in ((10, 3.0), (50, 8.0)):
        noisy = np.clip(np.round(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)
        out = to_uint8(restore_array(spec.model, from_uint8(noisy)))
        assert psnr(out, clean) > psnr(noisy, clean) + gain, (name, sigma)


@pytest.mark.parametrize("name", ["sr2", "sr4"])
def test_the_super_resolvers_beat_bicubic(name):
    spec = load_restorer(name)
    hr = _scene(96, 96)
    lr = to_uint8(downscale(from_uint8(hr[None]), spec.scale).numpy()[0])
    ours = to_uint8(restore_array(spec.model, from_uint8(lr)))
    bicubic = to_uint8(bicubic_upscale(from_uint8(lr[None]), spec.scale).numpy()[0])
    crop = spec.scale
    assert psnr(ours, hr, crop=crop, y_channel=True) > psnr(bicubic, hr, crop=crop, y_channel=True) + 0.3


def test_restore_py_takes_a_pretrained_name(tmp_path):
    noisy = np.clip(_scene(40, 56) + np.random.default_rng(2).normal(0, 25, (40, 56, 3)), 0, 255)
    Image.fromarray(noisy.astype(np.uint8)).save(tmp_path / "photo.png")
    assert main(["denoise", str(tmp_path / "photo.png"), "--out", str(tmp_path / "clean.png"), "--no-progress"]) == 0
    assert Image.open(tmp_path / "clean.png").size == (56, 40)
