"""train.py --task ... end to end on a tiny folder; restoration mistakes are one sentence."""
import json

import keras
import numpy as np
import pytest
from PIL import Image

from helpers import photo_folder, run_train_cli

TINY = ["--width", "0.125", "--batch", "2", "--patch", "16", "--depth", "1", "--no-progress",
        "--no-mixed-precision"]






@pytest.mark.slow
def test_denoise_run_writes_config_validation_strips_checkpoints_and_the_restorer(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos")
    status, out, err = run_train_cli(["--task", "denoise", "--data", str(data), "--steps", "4", "--val-every", "2",
                             "--checkpoint-every", "2", "--log-every", "2", "--outdir", str(tmp_path / "runs"),
                             *TINY], capsys)
    assert status == 0, err
    run = tmp_path / "runs" / "00000-photos"
    config = json.loads((run / "config.json").read_text())
    assert config["task"] == "denoise" and config["channels"] == 3 and config["restore"]["patch"] == 16
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    vals = [r for r in records if r.get("event") == "val"]
    assert [r["step"] for r in vals] == [2, 4]
    assert all(np.isfinite(r["val_psnr"]) and 0 < r["val_ssim"] <= 1 for r in vals)
    assert len([r for r in records if r.get("event") == "val_input"]) == 1
    assert any("loss" in r and "psnr_train" in r for r in records)
    strip = np.asarray(Image.open(run / "samples" / "val-000000004-00.png"))
    assert strip.ndim == 3 and strip.shape[1] > 3 * strip.shape[0] // 2  # three images side by side
    assert (run / "checkpoints" / "ckpt-000000004.npz").is_file()
    assert len(list((run / "checkpoints" / "best").glob("ckpt-*.npz"))) == 1
    restorer = keras.models.load_model(run / "restorer_ema.keras", safe_mode=True)
    assert restorer(np.zeros((1, 8, 8, 3), np.float32)).shape == (1, 8, 8, 3)
    assert (run / "restorer.keras").is_file()


@pytest.mark.slow
def test_resumed_restoration_run_continues_in_its_directory(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos")
    assert run_train_cli(["--task", "sr", "--data", str(data), "--steps", "2", "--val-every", "5",
                 "--outdir", str(tmp_path / "runs"), *TINY], capsys)[0] == 0
    run = tmp_path / "runs" / "00000-photos"
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "3", "--no-progress"], capsys)
    assert status == 0, err
    assert (run / "checkpoints" / "ckpt-000000003.npz").is_file()


@pytest.mark.parametrize("argv,phrase", [
    (["--task", "sr", "--patch", "30"], "--patch must be at least 16 and a multiple of 8"),
    (["--task", "denoise", "--noise", "abc"], "--noise must be a number or a range"),
    (["--task", "denoise", "--pixel-loss", "l3"], "--pixel-loss term 'l3'"),
    (["--task", "denoise", "--adversarial", "0.1", "--patch", "48"], "--adversarial needs a --patch that is a "
                                                                     "power of two"),
])
def test_restoration_mistakes_are_one_sentence_and_exit_2(tmp_path, capsys, argv, phrase):
    data = photo_folder(tmp_path / "photos", size=(64, 64))
    status, _, err = run_train_cli([*argv, "--data", str(data), "--steps", "1", "--outdir", str(tmp_path / "runs"),
                           "--no-progress", "--width", "0.125", "--dry-run"], capsys)
    assert status == 2
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and phrase in line and "Traceback" not in err


def test_dry_run_prints_the_config_and_the_restorer_summary(tmp_path, capsys):
    data = photo_folder(tmp_path / "photos")
    status, out, err = run_train_cli(["--task", "inpaint", "--data", str(data), "--dry-run", *TINY], capsys)
    assert status == 0, err
    assert '"task": "inpaint"' in out and "restorer" in out and "correction" in out
