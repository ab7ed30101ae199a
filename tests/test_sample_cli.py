"""sample.py end to end on a tiny trained run: grid, outdir, npz, interpolation, GIFs, errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import keras
from deepdeconv import rundir
from deepdeconv.cli.common import run_cli
from deepdeconv.cli.sample import from_legacy, main
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.sampling import generate_from_seeds, make_grid, save_png
from deepdeconv.sampling.load import load_generator

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A real 30-step run on digits: enough for the BatchNorm statistics to make seeds differ."""
    from deepdeconv.training import train

    config = TrainConfig(data="digits", resolution=32, z_dim=16, width=0.125, batch=8, steps=30,
                         sample_every=10, checkpoint_every=30, grid_size=16, ema_rampup=0, ema_decay=0.5,
                         augment="none", g_lr=2e-3, d_lr=2e-3, outdir=str(tmp_path_factory.mktemp("runs")),
                         mixed_precision=False)
    return Path(train(config, progress=False))


@pytest.fixture(scope="module")
def reference(run_dir):
    """Images of seeds 0-15 from the run's EMA generator, through the library."""
    generator, _ = load_generator(run_dir)
    images = np.concatenate([im for _, im in generate_from_seeds(generator, range(16))])
    assert len({im.tobytes() for im in images}) == 16, "the tiny run must tell seeds apart"
    return images


def read(path):
    with Image.open(path) as im:
        array = np.asarray(im)
    return array[..., None] if array.ndim == 2 else array


def close(a, b):
    """Equal up to one level: the same latents through differently sized batches."""
    return a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).max() <= 1


@pytest.mark.slow
def test_grid_lands_in_the_run_and_holds_the_seeds_in_order(run_dir, reference):
    assert main(["grid", str(run_dir), "--seeds", "0-5", "--grid", "2x3", "--pad", "1"]) == 0
    grid = read(run_dir / rundir.SAMPLES / "seeds0-5.png")
    assert close(grid, make_grid(reference[:6], grid=(2, 3), pad=1))


@pytest.mark.slow
def test_outdir_writes_one_png_per_seed_named_by_seed(run_dir, reference, tmp_path):
    assert main(["grid", str(run_dir), "--seeds", "3,5,12", "--outdir", str(tmp_path / "imgs"), "--batch", "2"]) == 0
    assert sorted(os.listdir(tmp_path / "imgs")) == ["seed0003.png", "seed0005.png", "seed0012.png"]
    for seed in (3, 5, 12):
        assert close(read(tmp_path / "imgs" / f"seed{seed:04d}.png"), reference[seed])
    assert not (run_dir / rundir.SAMPLES / "seeds3_5_12.png").exists()  # no grid unless asked


@pytest.mark.slow
def test_npz_holds_uint8_images_and_seeds_for_bulk_sampling(run_dir, reference, tmp_path):
    assert main(["bulk", str(run_dir), "--n", "10", "--seed", "4", "--npz", str(tmp_path / "fake.npz"),
                 "--batch", "3"]) == 0
    with np.load(tmp_path / "fake.npz") as f:
        assert f["images"].dtype == np.uint8 and f["images"].shape == (10, 32, 32, 1)
        assert close(f["images"], reference[4:14])
        np.testing.assert_array_equal(f["seeds"], np.arange(4, 14))


@pytest.mark.slow
def test_interpolation_writes_a_strip_and_a_gif_between_the_seeds(run_dir, reference, tmp_path):
    assert main(["interpolate", str(run_dir), "--seeds", "0,1,2", "--frames", "4", "--pad", "0",
                 "--out", str(tmp_path / "walk.png")]) == 0
    strip = read(tmp_path / "walk.png")
    assert strip.shape == (2 * 32, 4 * 32, 1)
    assert close(strip[:32, :32], reference[0]) and close(strip[32:, -32:], reference[2])
    with Image.open(tmp_path / "walk.gif") as gif:
        assert gif.n_frames == 2 * (4 - 1) + 1


@pytest.mark.slow
def test_trunc_sweep_has_one_row_per_threshold(run_dir, reference, tmp_path):
    assert main(["truncation", str(run_dir), "--seeds", "0-3", "--thresholds", "0.1,inf", "--pad", "0",
                 "--out", str(tmp_path / "sweep.png")]) == 0
    sweep = read(tmp_path / "sweep.png")
    assert sweep.shape == (2 * 32, 4 * 32, 1)
    untruncated = make_grid(reference[:4], grid=(1, 4), pad=0)
    assert close(sweep[32:], untruncated) and not close(sweep[:32], untruncated)


@pytest.mark.slow
def test_progress_gif_collects_training_grids_in_step_order(run_dir, tmp_path):
    assert main(["progress", str(run_dir)]) == 0
    with Image.open(run_dir / rundir.SAMPLES / "progress.gif") as gif:
        assert gif.n_frames == len(list((run_dir / rundir.SAMPLES).glob("grid-*.png"))) == 4
    # Step order, not name order or mtime; other PNGs in samples/ are not training grids.
    fake = tmp_path / "run"
    TrainConfig().save(fake / rundir.CONFIG)
    for step, value in ((300, 30), (20, 10), (100, 20)):
        save_png(fake / rundir.SAMPLES / f"grid-{step:09d}.png", np.full((4, 4, 1), value, np.uint8))
    save_png(fake / rundir.SAMPLES / "seeds0-63.png", np.full((4, 4, 1), 99, np.uint8))
    assert main(["progress", str(fake), "--out", str(tmp_path / "p.gif")]) == 0
    with Image.open(tmp_path / "p.gif") as gif:
        values = []
        for i in range(gif.n_frames):
            gif.seek(i)
            values.append(int(np.asarray(gif.convert("L"))[0, 0]))
    assert values == [10, 20, 30]


def conditional_run(tmp_path):
    """A run dir whose generator is [z, label] -> 4x4 image of z + label, for classes zero/one/two."""
    z = keras.Input((16,))
    label = keras.Input((1,), dtype="int32")
    table = np.repeat(np.array([[-0.5], [0.0], [0.5]], np.float32), 16, axis=1)
    offset = keras.layers.Embedding(3, 16, embeddings_initializer=keras.initializers.Constant(table))(label)
    ignored = keras.layers.Dense(16, use_bias=False, kernel_initializer="zeros")(z)
    image = keras.layers.Reshape((4, 4, 1))(keras.layers.Add()([ignored, keras.layers.Flatten()(offset)]))
    run = tmp_path / "cond"
    TrainConfig(conditional=True, class_names=("zero", "one", "two"), z_dim=16).save(run / rundir.CONFIG)
    keras.Model([z, label], image).save(run / rundir.GENERATOR_EMA)
    return run


def test_conditional_class_by_name_or_index_and_grid_by_class(tmp_path):
    run = conditional_run(tmp_path)
    assert main(["classes", str(run), "--seeds", "0-1", "--pad", "0", "--out", str(tmp_path / "c.png")]) == 0
    np.testing.assert_array_equal(read(tmp_path / "c.png")[::4, 0, 0], [64, 128, 191])  # rows: classes 0, 1, 2
    for chosen in ("two", "2"):
        assert main(["grid", str(run), "--seeds", "0-3", "--class", chosen, "--npz", str(tmp_path / f"{chosen}.npz")]) == 0
        with np.load(tmp_path / f"{chosen}.npz") as f:
            assert (f["images"] == 191).all() and (f["labels"] == 2).all()
    with pytest.raises(UserError, match="--class 3 is out of range; this generator has 3 classes"):
        main(["grid", str(run), "--class", "3"])
    with pytest.raises(UserError, match="--class 'cat' is not a class"):
        main(["grid", str(run), "--class", "cat"])


def no_generator_run(tmp_path):
    TrainConfig().save(tmp_path / "empty" / rundir.CONFIG)
    return str(tmp_path / "empty")


@pytest.mark.parametrize("make_argv, message", [
    pytest.param(lambda run, tmp: ["grid", run, "--seeds", "0-x"], "--seeds takes seeds like", id="bad-seeds"),
    pytest.param(lambda run, tmp: ["grid", run, "--seeds", "0-9", "--grid", "3x3"], "--grid 3x3 holds 9 images but 10",
                 id="grid-too-small"),
    pytest.param(lambda run, tmp: ["grid", run, "--class", "1"], "--class needs a conditional generator",
                 id="class-on-unconditional"),
    pytest.param(lambda run, tmp: ["classes", run], "needs a conditional generator", id="classes-on-unconditional"),
    pytest.param(lambda run, tmp: ["grid", run, "--out", str(Path(run) / rundir.CONFIG / "x.png")],
                 "is a file, not a folder", id="unwritable-out"),
    pytest.param(lambda run, tmp: ["grid", run, "--out", str(Path(tmp) / "x.jpg")], "must end in .png", id="wrong-suffix"),
    pytest.param(lambda run, tmp: ["grid", str(Path(tmp) / "missing")], "does not exist", id="missing-source"),
    pytest.param(lambda run, tmp: ["grid", no_generator_run(Path(tmp))], "has no generator yet", id="run-without-generator"),
    pytest.param(lambda run, tmp: ["grid", str(Path(run) / rundir.GENERATOR_EMA)], "Name the output with --out",
                 id="keras-file-without-out"),
])
@pytest.mark.slow
def test_mistakes_get_one_sentence_and_leave_nothing_behind(run_dir, tmp_path, capsys, make_argv, message):
    before = sorted(os.listdir(run_dir / rundir.SAMPLES))
    argv = make_argv(str(run_dir), str(tmp_path))
    with pytest.raises(UserError, match=message) as e:
        main(argv)
    assert "\n" not in str(e.value)
    assert run_cli(main, argv) == 2
    assert capsys.readouterr().err.strip().startswith("error: ")
    assert sorted(os.listdir(run_dir / rundir.SAMPLES)) == before
    assert not [p for p in tmp_path.rglob("*") if p.suffix in (".png", ".jpg")]


@pytest.mark.slow
def test_sample_script_runs_as_a_program(run_dir, tmp_path):
    out = tmp_path / "grid.png"
    result = subprocess.run([sys.executable, str(REPO / "sample.py"), "grid", str(run_dir), "--seeds", "0-3",
                             "--scale", "2", "--out", str(out)], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    assert read(out).shape == (2 * (64 + 2) + 2, 2 * (64 + 2) + 2, 1)


@pytest.mark.parametrize("legacy, subcommand", [
    (["RUN"], ["grid", "RUN"]),
    (["RUN", "--seeds", "0-3", "--outdir", "o"], ["grid", "RUN", "--seeds", "0-3", "--outdir", "o"]),
    (["RUN", "--n", "10", "--npz", "f.npz"], ["bulk", "RUN", "--npz", "f.npz", "--n", "10"]),
    (["RUN", "--interpolate", "3,7", "--frames", "4"], ["interpolate", "RUN", "--frames", "4", "--seeds", "3,7"]),
    (["RUN", "--interpolate=3,7"], ["interpolate", "RUN", "--seeds", "3,7"]),
    (["RUN", "--trunc-sweep", "1,inf", "--seeds", "0-3"], ["truncation", "RUN", "--seeds", "0-3", "--thresholds", "1,inf"]),
    (["--seeds", "0-1", "RUN", "--grid-by-class"], ["classes", "--seeds", "0-1", "RUN"]),
    (["RUN", "--progress-gif"], ["progress", "RUN"]),
    (["progress", "RUN"], ["progress", "RUN"]),
    (["--help"], ["--help"]),
])
def test_the_older_flag_form_is_read_as_the_matching_subcommand(legacy, subcommand):
    assert from_legacy(legacy) == subcommand


@pytest.mark.parametrize("legacy, message", [
    (["RUN", "--progress-gif", "--n", "3"], "--progress-gif and --n each choose a picture; give one"),
    (["RUN", "--interpolate", "1,2", "--seeds", "3"], "--interpolate names its own seeds"),
    (["RUN", "--trunc-sweep"], "--trunc-sweep needs a value."),
])
def test_the_older_flag_form_refuses_two_pictures_at_once_in_one_sentence(legacy, message):
    with pytest.raises(UserError, match=message) as e:
        from_legacy(legacy)
    assert "\n" not in str(e.value)


@pytest.mark.slow
def test_the_older_flag_form_writes_what_the_subcommand_writes(run_dir, tmp_path):
    assert main([str(run_dir), "--n", "4", "--seed", "2", "--npz", str(tmp_path / "old.npz")]) == 0
    assert main(["bulk", str(run_dir), "--n", "4", "--seed", "2", "--npz", str(tmp_path / "new.npz")]) == 0
    with np.load(tmp_path / "old.npz") as old, np.load(tmp_path / "new.npz") as new:
        np.testing.assert_array_equal(old["images"], new["images"])
        np.testing.assert_array_equal(old["seeds"], new["seeds"])
