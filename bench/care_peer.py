"""CSBDeep/CARE as a denoising peer: its default 2D U-Net, trained for the same minutes on the same photos.

CARE (the Keras restoration toolbox of the microscopy world) is the peer a Keras user would pick.
Its default network (U-Net of depth 2, 5x5 kernels, 32 first filters, residual, MAE, Adam 4e-4,
batch 16) is trained here on 64x64 patches of the built-in photos' TRAIN split (grayscale,
8 flips/rotations, Gaussian noise sigma 25 on the 0..255 scale, clipped and rounded as a file
is), for `--minutes` of wall time, keeping the best weights by CARE's own validation patches as
CARE does. It then denoises the held-out photos from exactly the noisy uint8 images that
`bench/restore_quality.py --tasks denoise` gives our restorer and the baselines (same seed, same
draw per image), scored with the library's PSNR/SSIM. CARE works on [0, 1] data here (x / 255),
not its percentile normalisation, so that nothing is clipped away.

CARE needs Keras 2, so it runs in an environment of its own; neither csbdeep nor tf_keras is a
dependency of deepdeconv:

    python -m venv --system-site-packages care_env && care_env/bin/pip install csbdeep tf_keras
    TF_USE_LEGACY_KERAS=1 care_env/bin/python bench/care_peer.py --minutes 15 \\
        --compare bench_restore_quality.json

Prints one line: CARE's mean PSNR/SSIM and time per image, beside ours and BM3D's when
`--compare` names the JSON that `bench/restore_quality.py` wrote for the denoise task.
"""
import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from deepdeconv.restore_config import RestoreConfig
from deepdeconv.data.degrade import degrade_for_eval
from deepdeconv.data.fullsize import PHOTOS, load_full_images
from deepdeconv.metrics.fidelity import psnr, ssim
from deepdeconv.pixels import to_uint8

SIGMA = 25.0


def training_patches(images, count, side, rng):
    """(noisy, clean) float32 [N, side, side, 1] in [0, 1]: random patches, flips/rotations, sigma 25."""
    clean = np.empty((count, side, side, 1), np.float32)
    for i in range(count):
        im = images[rng.integers(len(images))]
        y, x = rng.integers(im.shape[0] - side + 1), rng.integers(im.shape[1] - side + 1)
        patch = np.rot90(im[y:y + side, x:x + side], k=rng.integers(4))
        clean[i] = (patch[:, ::-1] if rng.integers(2) else patch) / 255.0
    noisy = np.clip(np.round(clean * 255.0 + rng.normal(0.0, SIGMA, clean.shape)), 0, 255) / 255.0
    return noisy.astype(np.float32), clean


def train_care(noisy, clean, minutes, basedir):
    """CARE's default 2D model trained until `minutes` of wall time have passed; returns it."""
    from csbdeep.models import CARE, Config  # the peer's own environment (see the module doc)
    from tensorflow import keras

    class WallClock(keras.callbacks.Callback):
        def __init__(self, seconds):
            super().__init__()
            self.end, self.steps = time.monotonic() + seconds, 0

        def on_train_batch_end(self, batch, logs=None):
            self.steps += 1
            if time.monotonic() > self.end:
                self.model.stop_training = True

    config = Config("YX", n_channel_in=1, n_channel_out=1, train_epochs=10 ** 6, train_tensorboard=False)
    model = CARE(config, "care", basedir=str(basedir))
    model.prepare_for_training()
    clock = WallClock(minutes * 60)
    model.callbacks.append(clock)
    n_val = max(16, len(noisy) // 20)  # CARE's examples hold out a tenth to a twentieth of the patches
    start = time.monotonic()
    model.train(noisy[n_val:], clean[n_val:], validation_data=(noisy[:n_val], clean[:n_val]))
    return model, time.monotonic() - start, clock.steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="CARE's training wall time")
    parser.add_argument("--patches", type=int, default=16000, help="training patch pairs (64x64), drawn once")
    parser.add_argument("--seed", type=int, default=0, help="patch draws; the evaluation seed is 0 as the bench's")
    parser.add_argument("--compare", default="", help="bench_restore_quality.json with a denoise record")
    parser.add_argument("--out", default="bench_care_peer.json", help="JSON file of the full record")
    args = parser.parse_args(argv)
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        parser.error("CARE needs Keras 2: run with TF_USE_LEGACY_KERAS=1 in an environment with csbdeep "
                     "and tf_keras (see the module docstring)")

    train_images = load_full_images(PHOTOS, channels=1, split="train").images
    held = load_full_images(PHOTOS, channels=1, split="val")
    noisy, clean = training_patches(train_images, args.patches, 64, np.random.default_rng(args.seed))
    with tempfile.TemporaryDirectory(prefix="care_peer_") as basedir:
        model, elapsed, steps = train_care(noisy, clean, args.minutes, basedir)
        restore = RestoreConfig(noise=str(SIGMA))
        scores, seconds = [], []
        for index, image in enumerate(held.images):
            pair = degrade_for_eval(image, restore, "denoise", index, seed=0, clip=True)
            x = pair.degraded[..., 0].astype(np.float32) / 255.0
            if index == 0:
                model.predict(x, "YX", normalizer=None)  # warm-up: tracing is not restoration time
            start = time.perf_counter()
            out = model.predict(x, "YX", normalizer=None)
            seconds.append(time.perf_counter() - start)
            restored = to_uint8(out[..., None] * 2.0 - 1.0)
            scores.append((psnr(restored, pair.target), ssim(restored, pair.target)))
    mean_psnr, mean_ssim = (float(np.mean(v)) for v in zip(*scores))
    record = {"method": "care", "minutes": args.minutes, "train_elapsed_s": elapsed, "steps": steps,
              "patches": args.patches, "images": [Path(p).name for p in held.paths],
              "per_image_psnr": [s[0] for s in scores], "per_image_ssim": [s[1] for s in scores],
              "psnr": mean_psnr, "ssim": mean_ssim, "seconds_per_image": float(np.mean(seconds))}
    line = (f"care {mean_psnr:.2f} dB (SSIM {mean_ssim:.4f}) after {elapsed / 60:.1f} min ({steps} steps), "
            f"{record['seconds_per_image']:.2f} s/img")
    if args.compare:
        ours = next(r for r in json.loads(Path(args.compare).read_text())["records"] if r["task"] == "denoise")
        mean = ours["mean"]
        line += f" | ours {mean['model']['psnr']:.2f} dB ({ours['train_elapsed_s'] / 60:.1f} min)"
        if "bm3d" in mean:
            line += f" | bm3d {mean['bm3d']['psnr']:.2f} dB | care - bm3d = {mean_psnr - mean['bm3d']['psnr']:+.2f} dB"
        line += f" | ours - care = {mean['model']['psnr'] - mean_psnr:+.2f} dB"
        record["compare"] = {"ours": mean["model"], "bm3d": mean.get("bm3d")}
    Path(args.out).write_text(json.dumps(record, indent=1))
    print(line)


if __name__ == "__main__":
    main()
