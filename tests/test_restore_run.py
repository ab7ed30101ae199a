"""A restoration run under the machinery the GAN runs under: replicas, mixed precision, SIGTERM, data names."""
import os
import shutil
import signal
import threading
import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deepdeconv import distribute, precision, rundir
from deepdeconv.checkpoint import latest_checkpoint
from deepdeconv.config import TrainConfig
from deepdeconv.data.fullsize import load_full_images
from deepdeconv.data.patches import restoration_batches
from deepdeconv.fileio import read_jsonl
from deepdeconv.restorer import build_restorer_model
from deepdeconv.training import resume_config, train
from helpers import photo_folder, run_train_cli

TINY = dict(width=0.125, batch=4, patch=16, depth=1, channels=3, mixed_precision=False, log_every=1)




def _checkpoint(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files if not k.startswith("__")}


def test_the_built_in_photos_name_wins_over_a_folder_called_photos_and_dot_slash_picks_thephoto_folder(
        tmp_path, monkeypatch):
    photo_folder(tmp_path / "photos", n=2)
    monkeypatch.chdir(tmp_path)
    assert len(load_full_images("./photos").images) == 2
    assert len(load_full_images("photos", split="val").images) == 4  # the held-out built-in photos


@pytest.mark.slow
def test_a_restoration_run_resumed_on_two_replicas_trains_like_one_device(tmp_path):
    assert len(tf.config.list_logical_devices("CPU")) >= 2, "tests/conftest.py must split the CPU in two"
    data = photo_folder(tmp_path / "photos")
    config = TrainConfig.from_options(dict(task="sr", scale=2, data=str(data), steps=4, checkpoint_every=1,
                                           keep_checkpoints=4, val_every=100, outdir=str(tmp_path / "single"),
                                           strategy="default", ema_rampup=0.5, **TINY))
    single = train(config, progress=False)
    mirrored = tmp_path / "mirrored" / single.name
    rundir.checkpoint_path(mirrored, 1).parent.mkdir(parents=True)
    shutil.copy(single / rundir.CONFIG, mirrored / rundir.CONFIG)
    first = rundir.checkpoint_path(single, 1)
    shutil.copy(first, rundir.checkpoint_path(mirrored, 1))
    # Two replicas of 2 patches each: the global batch is degraded before it is split, and the
    # L1 of each replica is scaled by the global batch, so the summed gradients are one device's.
    train(resume_config(mirrored, {"strategy": "mirrored"}), run_dir=mirrored, progress=False)

    start, want = _checkpoint(first), _checkpoint(rundir.checkpoint_path(single, 4))
    got = _checkpoint(rundir.checkpoint_path(mirrored, 4))
    assert int(got["step/step"]) == 4 and sorted(got) == sorted(want)
    for group in ("restorer", "restorer_ema", "optimizer"):
        keys = [k for k in want if k.startswith(group + "/")]
        change = np.sqrt(sum(np.sum((want[k] - start[k]) ** 2.0) for k in keys))
        error = np.sqrt(sum(np.sum((got[k] - want[k]) ** 2.0) for k in keys))
        assert change > 0 and error < 1e-3 * change, (group, error, change)
    losses = {r["step"]: r["loss"] for r in read_jsonl(single / rundir.LOG) if "loss" in r}
    for r in read_jsonl(mirrored / rundir.LOG):
        if "loss" in r:
            assert r["loss"] == pytest.approx(losses[r["step"]], rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("device,policy", [("gpu", "mixed_float16"), ("cpu", "mixed_bfloat16")])
def test_a_mixed_precision_restorer_keeps_float32_variables_outputs_and_finite_losses(tmp_path, monkeypatch,
                                                                                    device, policy):
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: device)
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    config = TrainConfig.from_options(dict(task="denoise", outdir=str(tmp_path), adversarial=0.01,
                                           **{**TINY, "mixed_precision": True}))
    model = build_restorer_model(config)
    assert model.network.dtype_policy.name == policy and model.ema_network.dtype_policy.name == "float32"
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    before = [w.numpy().copy() for w in model.network.trainable_weights]
    images = [np.asarray(Image.open(p)) for p in sorted(photo_folder(tmp_path / "photos").glob("*.png"))]
    history = model.fit(restoration_batches(images, config), steps_per_epoch=2, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values()), history
    assert {v.dtype for v in model.network.weights + model.ema_network.weights} == {"float32"}
    assert model.network(tf.zeros((1, 16, 16, 3))).dtype == tf.float32
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, model.network.trainable_weights))


@pytest.mark.slow
def test_sigterm_during_a_restoration_run_saves_the_step_and_resume_continues(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos")
    run = tmp_path / "runs" / "00000-photos"
    argv = ["--task", "denoise", "--data", str(data), "--steps", "100000", "--checkpoint-every", "100000",
            "--val-every", "100000", "--outdir", str(tmp_path / "runs"), "--log-every", "1", "--width", "0.125",
            "--batch", "2", "--patch", "16", "--depth", "1", "--no-progress", "--no-mixed-precision"]

    def terminate_once_training_logs():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not any("loss" in r for r in read_jsonl(run / rundir.LOG)):
            time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_training_logs, daemon=True)
    killer.start()
    status, _, err = run_train_cli(argv, capsys)
    killer.join()
    assert status == 143, err
    assert "checkpoint saved, continue with --resume" in err
    step = int(_checkpoint(latest_checkpoint(run))["step/step"])
    assert step >= 1
    status, _, err = run_train_cli(["--resume", str(run), "--steps", str(step + 2), "--no-progress"], capsys)
    assert status == 0, err
    assert int(_checkpoint(latest_checkpoint(run))["step/step"]) == step + 2
