"""gs:// paths, exercised on TensorFlow's in-memory `ram://` file system (same tf.io.gfile API).

The in-memory file system, like a bucket, has no rename-into-place for appends and lives
outside the local disk; unlike a bucket it needs folders created explicitly, which is why
the helpers call `makedirs`.
"""
import io
import json
import uuid

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deepdeconv import remote, rundir
from deepdeconv.errors import UserError

TINY = ["--width", "0.125", "--z-dim", "16", "--batch", "4", "--sample-every", "2", "--checkpoint-every", "2",
        "--keep-checkpoints", "1", "--log-every", "1", "--grid-size", "4", "--no-progress", "--no-mixed-precision"]


pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture
def bucket():
    return f"ram://bucket-{uuid.uuid4().hex[:8]}"


def _put(url, data):
    tf.io.gfile.makedirs(url.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(url, "wb") as f:
        f.write(data)


def _get(url):
    with tf.io.gfile.GFile(url, "rb") as f:
        return f.read()


def _png(value):
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), value, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _remote_image_folder(url):
    """Six small grey images in two class subfolders."""
    for i in range(6):
        _put(remote.join(url, ("dark", "light")[i % 2], f"{i}.png"), _png(40 * i + 10))
    return url


def test_join_keeps_the_double_slash_of_the_scheme():
    assert remote.join("gs://b/runs/", "00001-x", "/config.json") == "gs://b/runs/00001-x/config.json"
    assert remote.is_url("gs://b/x") and not remote.is_url("runs/gs:x") and not remote.is_url("/tmp/x")


def test_download_tree_copies_nested_files_and_deletes_local_files_the_remote_lost(bucket, tmp_path):
    _put(f"{bucket}/run/config.json", b"{}")
    _put(f"{bucket}/run/checkpoints/ckpt-000000002.npz", b"2")
    _put(f"{bucket}/run/samples/grid.png", b"png")
    local = tmp_path / "copy"
    (local / "checkpoints").mkdir(parents=True)
    (local / "checkpoints" / "ckpt-000000009.npz").write_bytes(b"stale")
    remote.download_tree(f"{bucket}/run", local, skip=("samples",), progress=False)
    assert sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file()) == [
        "checkpoints/ckpt-000000002.npz", "config.json"]


def test_mirror_copies_changed_files_deletes_removed_ones_and_ignores_temporary_files(bucket, tmp_path):
    local = tmp_path / "run"
    (local / "checkpoints").mkdir(parents=True)
    (local / "log.jsonl").write_text("a\n")
    (local / "checkpoints" / "ckpt-000000002.npz").write_bytes(b"2")
    (local / ".config.json.tmp").write_text("half-written")
    mirror = remote.Mirror(local, f"{bucket}/run")
    mirror.sync()
    (local / "log.jsonl").write_text("a\nb\n")
    (local / "checkpoints" / "ckpt-000000002.npz").unlink()
    (local / "checkpoints" / "ckpt-000000004.npz").write_bytes(b"4")
    mirror.sync()
    assert remote.remote_files(f"{bucket}/run") == {"log.jsonl": 4, "checkpoints/ckpt-000000004.npz": 1}
    assert _get(f"{bucket}/run/log.jsonl") == b"a\nb\n"


@pytest.mark.slow
def test_training_reads_gs_data_writes_a_gs_run_and_resumes_from_it(bucket):
    from deepdeconv.checkpoint import latest_checkpoint, read_meta
    from deepdeconv.cli import train

    data = _remote_image_folder(f"{bucket}/data/shades")
    assert train.main(["--data", data, "--outdir", f"{bucket}/runs", "--steps", "2", *TINY]) == 0
    run = f"{bucket}/runs/00000-shades"
    files = remote.remote_files(run)
    for expected in (rundir.CONFIG, rundir.LOG, rundir.GENERATOR, rundir.GENERATOR_EMA,
                     "samples/grid-000000002.png", "checkpoints/ckpt-000000002.npz"):
        assert expected in files
    assert any(name.startswith("tensorboard/") for name in files)
    config = json.loads(_get(f"{run}/{rundir.CONFIG}"))
    assert config["outdir"] == f"{bucket}/runs" and config["data"] == data

    assert train.main(["--resume", run, "--steps", "4", "--no-progress"]) == 0
    files = remote.remote_files(run)
    assert "checkpoints/ckpt-000000004.npz" in files and "checkpoints/ckpt-000000002.npz" not in files
    local = remote.local_run_dir(run, progress=False)
    assert read_meta(latest_checkpoint(local))["step"] == 4
    steps = [json.loads(line).get("step") for line in _get(f"{run}/{rundir.LOG}").decode().splitlines()]
    assert [s for s in steps if s is not None] == [1, 2, 3, 4]
    # A second new run on the same bucket gets the next number.
    assert train.main(["--data", data, "--outdir", f"{bucket}/runs", "--steps", "1", *TINY]) == 0
    assert tf.io.gfile.isdir(f"{bucket}/runs/00001-shades")


@pytest.mark.slow
def test_sample_command_reads_a_gs_run(bucket, tmp_path):
    from deepdeconv.cli import sample, train

    data = _remote_image_folder(f"{bucket}/data/shades")
    assert train.main(["--data", data, "--outdir", f"{bucket}/runs", "--steps", "2", *TINY]) == 0
    out = tmp_path / "grid.png"
    assert sample.main(["grid", f"{bucket}/runs/00000-shades", "--seeds", "0-3", "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 8


def test_an_unknown_url_scheme_is_refused_in_one_sentence_naming_it():
    from deepdeconv.cli import train

    with pytest.raises(UserError, match=r"^Cannot create nosuchfs://x/runs/00000-digits "
                                        r"\(File system scheme 'nosuchfs' not implemented\)\.$"):
        train.main(["--outdir", "nosuchfs://x/runs", "--steps", "1", *TINY])


def test_missing_gs_data_folder_is_refused_in_one_sentence(bucket):
    from deepdeconv.cli import train

    with pytest.raises(UserError, match=r"^--data ram://.*/missing: no such folder, or it holds no files\.$"):
        train.main(["--data", f"{bucket}/missing", "--outdir", f"{bucket}/runs", "--steps", "1", *TINY])


@pytest.mark.slow
def test_ctrl_c_on_a_gs_run_still_delivers_the_interrupted_checkpoint(bucket, tmp_path, monkeypatch):
    from deepdeconv import training
    from deepdeconv.callbacks import Progress
    from helpers import tiny_config

    def interrupt_at_step_3(self, batch, logs=None):
        if self.current_step() == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "on_train_batch_end", interrupt_at_step_3)
    config = tiny_config(f"{bucket}/runs", steps=10, checkpoint_every=100, sample_every=100, log_every=100)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, progress=False)
    files = remote.remote_files(f"{bucket}/runs/00000-digits")
    assert "checkpoints/ckpt-000000003.npz" in files and rundir.CONFIG in files
    assert not [name for name in files if name.rsplit("/", 1)[-1].startswith(".")]  # no temporaries
