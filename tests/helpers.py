"""Tiny configurations, photo folders and a CLI runner shared by the training tests (fast on 2 CPU cores)."""
import numpy as np
from PIL import Image

from deepdeconv.cli.common import run_cli
from deepdeconv.cli.train import main as train_main
from deepdeconv.config import TrainConfig


def tiny_config(outdir, **changes):
    """A config whose models have a few thousand weights and whose run lasts a few steps."""
    base = dict(data="digits", resolution=32, width=0.125, z_dim=16, batch=8, steps=3, outdir=str(outdir),
                sample_every=2, checkpoint_every=2, log_every=1, grid_size=4, ema_rampup=0.5,
                # float32 whatever the CPU: numeric comparisons must not depend on bfloat16 support
                mixed_precision=False)
    base.update(changes)
    return TrainConfig(**base).validate()


def run_train_cli(argv, capsys):
    """Runs `train.py argv` in this process; returns (exit status, stdout, stderr)."""
    status = run_cli(train_main, argv)
    out, err = capsys.readouterr()
    return status, out, err


def photo_folder(path, n=4, size=(40, 30)):
    """A folder of `n` smooth random RGB PNGs of `size` (w, h) rounded down to 5-pixel blocks."""
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        x = np.kron(rng.random((size[1] // 5, size[0] // 5, 3)), np.ones((5, 5, 1)))
        Image.fromarray(np.round(x * 255).astype(np.uint8)).save(path / f"img{i}.png")
    return path
