"""Training never loses or corrupts a run (issue 13): checks happen before anything is written."""
import json

import numpy as np
import pytest
from PIL import Image

from deepdeconv.checkpoint import read_meta
from helpers import run_train_cli

pytestmark = pytest.mark.slow  # each test trains a run in a subprocess or in process

TINY = ["--width", "0.125", "--z-dim", "16", "--batch", "8", "--grid-size", "4", "--no-progress",
        "--sample-every", "100", "--log-every", "1", "--checkpoint-every", "1", "--no-mixed-precision"]




def _folder(path, n=10):
    path.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for i in range(n):
        Image.fromarray(rng.randint(0, 255, (16, 16, 3), np.uint8)).save(path / f"img{i}.png")
    return path


def test_an_update_that_makes_the_weights_non_finite_is_never_checkpointed(tmp_path, capsys, monkeypatch):
    from deepdeconv.callbacks import NanGuard

    guard_step = NanGuard.on_train_batch_end

    def overflowing_update_at_step_3(self, batch, logs=None):
        # What an overflowing update does: the losses logged (computed before the update) are
        # finite, the weights after it are not.
        guard_step(self, batch, logs)
        if self.current_step() == 3:
            weight = self.model.generator.trainable_weights[0]
            weight.assign(np.full(weight.shape, np.nan, np.float32))

    monkeypatch.setattr(NanGuard, "on_train_batch_end", overflowing_update_at_step_3)
    outdir = tmp_path / "runs"
    status, _, err = run_train_cli(["--steps", "5", "--outdir", str(outdir), *TINY], capsys)
    run = outdir / "00000-digits"
    assert status == 2
    assert "the weights became non-finite" in err and "ckpt-000000002.npz" in err
    newest = sorted((run / "checkpoints").glob("ckpt-*.npz"))[-1]
    assert newest.name == "ckpt-000000002.npz"
    with np.load(newest) as data:
        assert all(np.isfinite(data[k]).all() for k in data.files if data[k].dtype.kind == "f")
    assert read_meta(newest)["step"] == 2


def test_a_refused_resume_leaves_config_and_log_byte_identical(tmp_path, capsys):
    outdir = tmp_path / "runs"
    assert run_train_cli(["--steps", "2", "--outdir", str(outdir), *TINY], capsys)[0] == 0
    assert run_train_cli(["--steps", "1", "--outdir", str(tmp_path / "other"), *TINY[:1], "0.25", *TINY[2:]], capsys)[0] == 0
    run = outdir / "00000-digits"
    foreign = tmp_path / "other" / "00000-digits" / "checkpoints" / "ckpt-000000001.npz"
    (run / "checkpoints" / "ckpt-000000009.npz").write_bytes(foreign.read_bytes())  # another architecture's
    before = {name: (run / name).read_bytes() for name in ("config.json", "log.jsonl")}
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "12", "--no-progress"], capsys)
    assert status == 2 and "different architecture" in err
    assert {name: (run / name).read_bytes() for name in before} == before


def test_an_unknown_eval_metric_creates_nothing_under_outdir(tmp_path, capsys):
    outdir = tmp_path / "runs"
    status, _, err = run_train_cli(["--steps", "2", "--outdir", str(outdir), "--eval-every", "1", "--eval-metrics", "nope",
                           *TINY], capsys)
    assert status == 2 and "--eval-metrics" in err and "nope" in err
    assert not outdir.exists()


def test_a_missing_inception_graph_for_eval_metrics_creates_nothing_under_outdir(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DEEPDECONV_INCEPTION", str(tmp_path / "no-such-graph.pb"))
    outdir = tmp_path / "runs"
    status, _, err = run_train_cli(["--steps", "2", "--outdir", str(outdir), "--eval-every", "1", "--eval-metrics", "fid",
                           *TINY], capsys)
    assert status == 2 and "no-such-graph.pb" in err
    assert not outdir.exists()


def test_resume_from_another_directory_trains_on_the_same_folder_and_refuses_changed_data(tmp_path, capsys,
                                                                                           monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    data = _folder(first / "pics")
    second.mkdir()
    monkeypatch.chdir(first)
    assert run_train_cli(["--data", "pics", "--steps", "1", "--outdir", str(tmp_path / "runs"), *TINY], capsys)[0] == 0
    run = tmp_path / "runs" / "00000-pics"
    config = json.loads((run / "config.json").read_text())
    size = sum(p.stat().st_size for p in data.iterdir())
    assert config["data"] == str(data.resolve()) and config["data_fingerprint"] == f"10 files, {size} bytes"
    monkeypatch.chdir(second)  # "pics" means nothing here
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "2", "--no-progress"], capsys)
    assert status == 0, err
    assert (run / "checkpoints" / "ckpt-000000002.npz").is_file()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(data / "extra.png")
    before = (run / "log.jsonl").read_bytes()
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "3", "--no-progress"], capsys)
    assert status == 2 and str(data.resolve()) in err and "--allow-data-change" in err
    assert (run / "log.jsonl").read_bytes() == before
    status, _, err = run_train_cli(["--resume", str(run), "--steps", "3", "--no-progress", "--allow-data-change"], capsys)
    assert status == 0, err
    assert json.loads((run / "config.json").read_text())["data_fingerprint"].startswith("11 files")
