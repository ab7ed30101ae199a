"""Runs: resume equivalence, NaN stop, Ctrl-C, refusing incompatible resumes."""
import json

import numpy as np
import pytest

from deepdeconv import rundir, training
from deepdeconv.callbacks import Progress
from deepdeconv.checkpoint import latest_checkpoint
from deepdeconv.errors import UserError
from helpers import tiny_config


def _arrays(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files if k != "__meta__"}


@pytest.mark.slow
def test_three_plus_three_steps_with_a_resume_equal_six_straight_steps(tmp_path):
    straight = training.train(tiny_config(tmp_path / "a", steps=6), progress=False)
    first = training.train(tiny_config(tmp_path / "b", steps=3), progress=False)
    stale = first / "checkpoints" / ".ckpt-000000004.0123abcd.tmp.npz"  # a kill -9 mid-save leaves this
    stale.write_bytes(b"half a checkpoint")
    training.train(training.resume_config(first, {"steps": 6}), run_dir=first, progress=False)
    assert not stale.exists()

    a = _arrays(latest_checkpoint(straight))
    b = _arrays(latest_checkpoint(first))
    assert latest_checkpoint(first).name == "ckpt-000000006.npz"
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-4, atol=1e-5, err_msg=key)


@pytest.mark.slow
def test_a_callers_callback_sees_every_step_and_can_rebuild_the_generator_average(tmp_path):
    import keras
    from deepdeconv.ema import decay_factor
    config = tiny_config(tmp_path, steps=4)

    class Average(keras.callbacks.Callback):  # what bench/ema_sweep.py keeps per candidate
        def on_train_begin(self, logs=None):
            self.steps, self.average = [], [v.numpy() for v in self.model.generator.weights]

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.step.numpy()) - 1
            keep = float(decay_factor(step, config.ema_decay, config.ema_rampup))
            self.steps.append(step)
            self.average = [keep * a + (1 - keep) * v.numpy() for a, v in zip(self.average, self.model.generator.weights)]

    watcher = Average()
    training.train(config, progress=False, callbacks=[watcher])
    assert watcher.steps == [0, 1, 2, 3]
    for mine, theirs in zip(watcher.average, watcher.model.ema_generator.weights):
        np.testing.assert_allclose(mine, theirs.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_run_directory_holds_config_log_samples_checkpoints_and_generators(tmp_path):
    run = training.train(tiny_config(tmp_path, steps=4), progress=False)
    assert run.name == "00000-digits"
    config = json.loads((run / "config.json").read_text())
    assert config["channels"] == 1 and config["steps"] == 4
    records = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "data" and records[0]["num_images"] == 1797
    assert [r["step"] for r in records[1:]] == [1, 2, 3, 4]
    assert all(np.isfinite(r["d_loss"]) and r["img_s"] > 0 for r in records[1:])
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "grid-000000000.png", "grid-000000002.png", "grid-000000004.png"]
    assert [p.name for p in rundir.list_checkpoints(run / "checkpoints")] == ["ckpt-000000002.npz", "ckpt-000000004.npz"]
    assert (run / "generator.keras").is_file() and (run / "generator_ema.keras").is_file()
    assert any((run / "tensorboard").iterdir())
    assert training.train(tiny_config(tmp_path, steps=1), progress=False).name == "00001-digits"


@pytest.mark.slow
def test_only_the_newest_checkpoints_are_kept(tmp_path):
    run = training.train(tiny_config(tmp_path, steps=5, checkpoint_every=1, keep_checkpoints=2), progress=False)
    assert [p.name for p in rundir.list_checkpoints(run / "checkpoints")] == ["ckpt-000000004.npz", "ckpt-000000005.npz"]


@pytest.mark.slow
def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = training.train(tiny_config(tmp_path, steps=2), progress=False)
    from deepdeconv import gan as gan_module

    d_loss, g_loss = gan_module.losses.LOSSES["nsgan"]
    monkeypatch.setitem(gan_module.losses.LOSSES, "nsgan", (lambda r, f: d_loss(r, f) * np.nan, g_loss))
    with pytest.raises(UserError, match=r"step 3 because d_loss.*ckpt-000000002\.npz"):
        training.train(training.resume_config(run, {"steps": 6}), run_dir=run, progress=False)
    latest = latest_checkpoint(run)
    assert latest.name == "ckpt-000000002.npz"
    assert all(np.all(np.isfinite(v)) for v in _arrays(latest).values())


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_of_the_interrupted_state(tmp_path, monkeypatch):
    def interrupt_at_step_3(self, batch, logs=None):
        if self.current_step() == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(Progress, "on_train_batch_end", interrupt_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        training.train(tiny_config(tmp_path, steps=10, checkpoint_every=100), progress=False)
    run = next(tmp_path.iterdir())
    assert latest_checkpoint(run).name == "ckpt-000000003.npz"
    assert not [p for p in (run / "checkpoints").iterdir() if p.name.startswith(".")]  # no temporaries left


@pytest.mark.slow
def test_resume_refuses_a_changed_architecture(tmp_path):
    run = training.train(tiny_config(tmp_path, steps=1), progress=False)
    with pytest.raises(UserError, match="width"):
        training.resume_config(run, {"width": 1.0})
    with pytest.raises(UserError, match="does not exist"):
        training.resume_config(tmp_path / "nope", {})
