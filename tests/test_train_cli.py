"""train.py end to end on a tiny folder and on digits; every predictable mistake is one sentence."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import run_train_cli

ROOT = Path(__file__).resolve().parents[1]
# Precision pinned: an auto run would time both precisions first (tests/test_autotune.py covers that).
TINY = ["--width", "0.125", "--z-dim", "16", "--batch", "8", "--grid-size", "4", "--no-progress",
        "--no-mixed-precision"]


def _folder(path, n=12, size=(40, 30), corrupt=True):
    path.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(n):
        Image.fromarray(rng.randint(0, 255, (size[1], size[0], 3), np.uint8)).save(path / f"img{i}.png")
    if corrupt:
        (path / "broken.jpg").write_bytes(b"not a jpeg at all")
    return path




@pytest.mark.slow
def test_cli_trains_on_a_tiny_folder_and_writes_a_complete_run(tmp_path, capsys):
    data = _folder(tmp_path / "pictures")
    status, out, err = run_train_cli(["--data", str(data), "--steps", "2", "--outdir", str(tmp_path / "runs"), *TINY], capsys)
    assert status == 0, err
    run = tmp_path / "runs" / "00000-pictures"
    assert f"done: {run}" in out
    config = json.loads((run / "config.json").read_text())
    assert config["channels"] == 3 and config["data"] == str(data)
    assert (run / "samples" / "grid-000000002.png").is_file()
    assert (run / "checkpoints" / "ckpt-000000002.npz").is_file()
    assert (run / "generator_ema.keras").is_file()
    data_record = json.loads((run / "log.jsonl").read_text().splitlines()[0])
    assert [Path(p).name for p, _ in data_record["skipped"]] == ["broken.jpg"]
    assert "skipped 1 file" in err


@pytest.mark.slow
def test_cli_resume_continues_the_same_run_directory(tmp_path, capsys):
    outdir = tmp_path / "runs"
    assert run_train_cli(["--steps", "2", "--outdir", str(outdir), *TINY], capsys)[0] == 0
    run = outdir / "00000-digits"
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "3", "--no-progress"], capsys)
    assert status == 0, err
    assert (run / "checkpoints" / "ckpt-000000003.npz").is_file()
    assert json.loads((run / "config.json").read_text())["steps"] == 3
    assert sorted(p.name for p in outdir.iterdir()) == ["00000-digits"]


@pytest.mark.parametrize("argv,message", [
    (["--data", "/no/such/folder"], "/no/such/folder"),
    (["--resolution", "48"], "--resolution"),
    (["--loss", "wasserstein"], "--loss"),
    (["--augment", "flip"], "--augment"),
    (["--batch", "1"], "--batch"),
    (["--resume", "/no/such/run"], "/no/such/run"),
])
def test_cli_mistakes_get_one_sentence_and_a_non_zero_exit(tmp_path, capsys, argv, message):
    status, _, err = run_train_cli([*TINY, "--outdir", str(tmp_path), *argv], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in err


def test_cli_refuses_a_folder_without_images(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    status, _, err = run_train_cli(["--data", str(empty), "--outdir", str(tmp_path / "runs"), *TINY], capsys)
    assert status == 2 and str(empty) in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_cli_refuses_to_resume_with_another_architecture(tmp_path, capsys):
    assert run_train_cli(["--steps", "1", "--outdir", str(tmp_path), *TINY], capsys)[0] == 0
    status, _, err = run_train_cli(["--resume", str(tmp_path / "00000-digits"), "--width", "0.25"], capsys)
    assert status == 2 and "width" in err and err.count("\n") == 1


@pytest.mark.slow
def test_cli_refuses_a_corrupt_checkpoint(tmp_path, capsys):
    assert run_train_cli(["--steps", "1", "--outdir", str(tmp_path), *TINY], capsys)[0] == 0
    run = tmp_path / "00000-digits"
    (run / "checkpoints" / "ckpt-000000001.npz").write_bytes(b"garbage")
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "2"], capsys)
    assert status == 2 and "ckpt-000000001.npz" in err


def test_dry_run_prints_the_resolved_config_and_writes_nothing(tmp_path, capsys):
    status, out, _ = run_train_cli(["--dry-run", "--outdir", str(tmp_path / "runs"), *TINY], capsys)
    assert status == 0
    assert '"channels": 1' in out and "generator" in out and "discriminator" in out
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_train_script_runs_on_digits_as_a_subprocess(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--steps", "2", "--outdir", str(tmp_path), *TINY],
                            capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (tmp_path / "00000-digits" / "samples" / "grid-000000002.png").is_file()
