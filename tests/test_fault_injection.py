"""Training survives being killed anywhere (issue 13): kill -9, SIGTERM and a full disk.

Each test trains a tiny GAN in a subprocess with a checkpoint every step, so kills land
between checkpoints, inside a checkpoint write and inside the export of the generators.
"""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deepdeconv import rundir
from deepdeconv.checkpoint import latest_checkpoint, read_meta
from deepdeconv.fileio import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
STEPS = 30
TINY = ["--width", "0.125", "--z-dim", "16", "--batch", "8", "--grid-size", "4", "--checkpoint-every", "1",
        "--keep-checkpoints", "2", "--log-every", "1", "--sample-every", "1000", "--no-progress",
        "--no-mixed-precision"]


def _start(args, cwd):
    """train.py in a subprocess; its stderr goes to a file (a pipe nobody reads could block it)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    err = Path(cwd) / f"stderr-{time.monotonic_ns()}.txt"
    proc = subprocess.Popen([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(err, "w"))
    proc.err = err
    return proc


def _stderr(proc):
    return proc.err.read_text()


def _steps_logged(run):
    return [record["step"] for record in read_jsonl(run / rundir.LOG) if "step" in record]


def _temporaries(run):
    """Checkpoints and exported generators being written (config.json's is written before any)."""
    names = []
    for folder in (run, run / rundir.CHECKPOINTS):
        if folder.is_dir():
            names += [n for n in os.listdir(folder) if n.startswith(".") and n.endswith((".tmp.npz", ".tmp.keras"))]
    return names


def _newest_step(run):
    latest = latest_checkpoint(run)
    return read_meta(latest)["step"] if latest is not None else 0


def _wait(proc, condition, timeout=300):
    """Polls `condition` until true (True), or until the process ends or time runs out (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            return True
        time.sleep(0.002)
    return False


def _check_every_checkpoint_loads(run):
    for path in rundir.list_checkpoints(run / rundir.CHECKPOINTS):
        with np.load(path) as data:
            for key in data.files:
                np.asarray(data[key])
        assert read_meta(path)["step"] == int(path.stem.split("-")[1])


def _final_arrays(run):
    path = latest_checkpoint(run)
    assert read_meta(path)["step"] == STEPS
    with np.load(path) as data:
        return {k: data[k] for k in data.files if k.startswith("generator")}


@pytest.mark.slow
def test_kill_9_anywhere_then_resume_ends_with_the_weights_of_an_uninterrupted_run(tmp_path):
    rng = random.Random(13)
    reference = _start(["--steps", str(STEPS), "--outdir", str(tmp_path / "reference"), *TINY], tmp_path)
    run = tmp_path / "killed" / "00000-digits"
    kills = 0
    for i in range(6):
        before = _newest_step(run)
        logged_before = len(_steps_logged(run))
        args = ["--resume", str(run), "--no-progress"] if run.is_dir() else \
            ["--steps", str(STEPS), "--outdir", str(tmp_path / "killed"), *TINY]
        proc = _start(args, tmp_path)
        if i % 2 == 0:  # inside a checkpoint or generator write
            _wait(proc, lambda: bool(_temporaries(run)))
        else:  # between checkpoints, at a random moment after the first new one
            _wait(proc, lambda: _newest_step(run) > before)
            time.sleep(rng.uniform(0, 0.3))
        if proc.poll() is not None:
            assert proc.returncode == 0, _stderr(proc)
            break
        proc.kill()
        proc.wait()
        kills += 1
        _check_every_checkpoint_loads(run)
        new = _steps_logged(run)[logged_before:]
        assert new == list(range(before + 1, before + 1 + len(new)))  # resumed exactly where it had saved
    assert kills >= 5
    final = _start(["--resume", str(run), "--no-progress"], tmp_path)
    assert final.wait(timeout=900) == 0, _stderr(final)
    assert reference.wait(timeout=900) == 0, _stderr(reference)
    _check_every_checkpoint_loads(run)
    assert _temporaries(run) == []  # the resume removed what the kills left half-written
    want, got = _final_arrays(tmp_path / "reference" / "00000-digits"), _final_arrays(run)
    assert sorted(got) == sorted(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_sigterm_saves_the_interrupted_step_and_resume_continues(tmp_path):
    run = tmp_path / "runs" / "00000-digits"
    args = ["--steps", "500", "--outdir", str(tmp_path / "runs"), *TINY[:8], "--checkpoint-every", "1000",
            "--log-every", "1", "--sample-every", "1000", "--no-progress", "--no-mixed-precision"]
    proc = _start(args, tmp_path)
    assert _wait(proc, lambda: bool(_steps_logged(run)))
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=300)
    err = _stderr(proc)
    assert proc.returncode == 143, err
    assert "checkpoint saved, continue with --resume" in err and "terminated (SIGTERM)" in err
    step = _newest_step(run)
    assert step >= 1 and latest_checkpoint(run).name == f"ckpt-{step:09d}.npz"
    resumed = _start(["--resume", str(run), "--steps", str(step + 2), "--no-progress"], tmp_path)
    assert resumed.wait(timeout=600) == 0, _stderr(resumed)
    assert _newest_step(run) == step + 2


@pytest.mark.slow
def test_a_full_disk_during_a_checkpoint_is_one_sentence_and_every_checkpoint_stays_readable(tmp_path, capsys,
                                                                                              monkeypatch):
    import errno

    from deepdeconv.cli.common import run_cli
    from deepdeconv.cli.train import main

    outdir = tmp_path / "runs"
    assert run_cli(main, ["--steps", "2", "--outdir", str(outdir), *TINY]) == 0
    run = outdir / "00000-digits"
    real_savez = np.savez

    def full_disk(file, **arrays):
        real_savez(file, **{k: arrays[k] for k in list(arrays)[:1]})  # part of the file made it
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(file))

    monkeypatch.setattr(np, "savez", full_disk)
    capsys.readouterr()
    assert run_cli(main, ["--resume", str(run), "--steps", "4", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: Training stopped at step 3 because a file could not be written")
    assert "No space left on device" in err[-1] and "ckpt-000000002.npz" in err[-1]
    monkeypatch.undo()
    assert [p.name for p in rundir.list_checkpoints(run / rundir.CHECKPOINTS)] == ["ckpt-000000001.npz",
                                                                                 "ckpt-000000002.npz"]
    _check_every_checkpoint_loads(run)
    assert not _temporaries(run)
