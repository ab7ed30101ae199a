"""Checkpoints keyed by variable path: order-proof, refusing mismatches, surviving damage."""
import os

import keras
import numpy as np
import pytest

from deepdeconv import rundir
from deepdeconv.checkpoint import latest_checkpoint, restore_checkpoint, save_checkpoint
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path, remove_stale_temporaries
from deepdeconv.gan import build_gan
from deepdeconv.sampling.load import load_generator
from helpers import tiny_config


class _Holder:
    """A minimal checkpointable model: one small network listed in a chosen order, and a step."""

    def __init__(self, names=("bn", "out"), reverse=False):
        inputs = keras.Input((3,))
        x = keras.layers.BatchNormalization(name=names[0])(inputs)
        self.net = keras.Model(inputs, keras.layers.Dense(2, name=names[1])(x))
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step")
        self.reverse = reverse

    def checkpoint_groups(self):
        weights = list(self.net.weights)
        return {"net": weights[::-1] if self.reverse else weights, "step": [self.step]}


def _fill(model, seed):
    """Gives every variable distinct values, so a swap between same-shaped ones shows."""
    rng = np.random.default_rng(seed)
    for v in model.net.weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    model.step.assign(7)


def _values(variables):
    return {v.path: np.array(v.numpy()) for v in variables}


def test_a_model_listing_its_variables_in_another_order_is_restored_by_path(tmp_path):
    source = _Holder()
    _fill(source, 0)
    save_checkpoint(source, tmp_path / "ckpt.npz", tiny_config(tmp_path))
    # gamma/beta and moving mean/variance have the same shapes: only the path tells them apart.
    target = _Holder(reverse=True)
    assert restore_checkpoint(target, tmp_path / "ckpt.npz") == 7
    expected = _values(source.net.weights)
    for path, value in _values(target.net.weights).items():
        np.testing.assert_array_equal(value, expected[path], err_msg=path)


def test_a_renamed_variable_is_refused_with_a_sentence_and_nothing_is_assigned(tmp_path):
    source = _Holder()
    _fill(source, 0)
    save_checkpoint(source, tmp_path / "ckpt.npz", tiny_config(tmp_path))
    target = _Holder(names=("norm", "out"))
    _fill(target, 1)
    before = _values(target.net.weights)
    with pytest.raises(UserError, match=r"ckpt\.npz has no net variable norm/beta \(nor 3 more\)"):
        restore_checkpoint(target, tmp_path / "ckpt.npz")
    after = _values(target.net.weights)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # the Dense layer matched, yet untouched
    assert int(target.step.numpy()) == 7


def test_a_shape_mismatch_is_refused_naming_the_variable(tmp_path):
    source = _Holder()
    save_checkpoint(source, tmp_path / "ckpt.npz", tiny_config(tmp_path))
    target = _Holder()
    inputs = keras.Input((3,))
    target.net = keras.Model(inputs, keras.layers.Dense(4, name="out")(keras.layers.BatchNormalization(name="bn")(inputs)))
    with pytest.raises(UserError, match=r"ckpt\.npz has shape \(3, 2\) for net variable out/kernel where this model needs \(3, 4\)"):
        restore_checkpoint(target, tmp_path / "ckpt.npz")


def test_optimizer_state_round_trips_into_optimizers_numbered_differently(tmp_path):
    config = tiny_config(tmp_path).replace(channels=1)
    first = build_gan(config)
    rng = np.random.default_rng(0)
    for optimizer in (first.g_optimizer, first.d_optimizer):
        for v in optimizer.variables:
            v.assign(rng.uniform(1, 2, size=v.shape).astype(v.dtype))
    save_checkpoint(first, tmp_path / "ckpt.npz", config)
    second = build_gan(config.replace(g_lr=0.0123))  # resumed with --g-lr 0.0123
    # Keras numbers optimizers in creation order; the checkpoint must not depend on it.
    assert second.g_optimizer.name != first.g_optimizer.name
    restore_checkpoint(second, tmp_path / "ckpt.npz")
    for a, b in ((first.g_optimizer, second.g_optimizer), (first.d_optimizer, second.d_optimizer)):
        assert len(a.variables) == len(b.variables) > 2
        for va, vb in zip(a.variables, b.variables):
            if not vb.path.endswith("learning_rate"):
                np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=vb.path)
    # the learning rates are the resumed config's, not the checkpoint's
    assert float(second.g_optimizer.learning_rate) == pytest.approx(0.0123)
    assert float(second.d_optimizer.learning_rate) == pytest.approx(config.d_lr)


def _fake_run(tmp_path, steps):
    """A run directory with real checkpoints at `steps`, written without training."""
    config = tiny_config(tmp_path).replace(channels=1)
    run = tmp_path / "00000-run"
    config.save(run / rundir.CONFIG)
    gan = build_gan(config)
    for step in steps:
        gan.step.assign(step)
        save_checkpoint(gan, rundir.checkpoint_path(run, step), config)
    return run


@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_and_says_so(tmp_path, capsys, damage):
    run = _fake_run(tmp_path, [2, 4])
    newest = rundir.checkpoint_path(run, 4)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"")
    assert latest_checkpoint(run) == rundir.checkpoint_path(run, 2)
    err = capsys.readouterr().err
    assert "ckpt-000000004.npz" in err and "using" in err and "ckpt-000000002.npz" in err
    generator, _ = load_generator(run, checkpoint="latest")  # what sample.py and evaluate do
    assert generator.output_shape[1:] == (32, 32, 1)


def test_no_loadable_checkpoint_is_one_sentence(tmp_path):
    run = _fake_run(tmp_path, [2])
    rundir.checkpoint_path(run, 2).write_bytes(b"")
    with pytest.raises(UserError, match=r"No checkpoint in .* loads"):
        latest_checkpoint(run)


def test_atomically_written_files_get_the_umask_mode(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "a.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_temporaries_a_killed_write_leaves_are_removed_and_nothing_else(tmp_path):
    names = []
    for name in ("checkpoints/ckpt-000000002.npz", "config.json", "restorer.keras"):
        with atomic_path(tmp_path / name) as tmp:
            tmp.write_text("x")
            names.append(tmp.relative_to(tmp_path))
    for name in names:  # what kill -9 between the write and the rename leaves behind
        (tmp_path / name).write_text("half")
    keep = [tmp_path / ".notes.tmp", tmp_path / "checkpoints" / ".ckpt.123.tmp.npz", tmp_path / "data.tmp.png"]
    for path in keep:
        path.write_text("mine")
    removed = remove_stale_temporaries(tmp_path)
    assert sorted(p.relative_to(tmp_path) for p in removed) == sorted(names)
    assert all(path.is_file() for path in keep)
    assert (tmp_path / "config.json").read_text() == "x"
    assert remove_stale_temporaries(tmp_path / "missing") == []
