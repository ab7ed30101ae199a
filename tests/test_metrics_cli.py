"""python -m deepdeconv.evaluate: folders, run directories, statistics files, one JSON line."""
import json
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from deepdeconv import rundir
from deepdeconv.cli.common import run_cli
from deepdeconv.cli.evaluate import main
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from fake_inception import write_fake_inception_graph


pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory):
    return write_fake_inception_graph(tmp_path_factory.mktemp("graph"))[1]


def _folder(path, n, seed, side=32, shift=0):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        pixels = np.clip(rng.integers(0, 200, (side, side, 3)) + shift, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path / f"{i:03d}.png")
    return path


def _json_line(capsys):
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    return json.loads(lines[0])


def test_two_folders_print_one_json_record(graph_path, tmp_path, capsys):
    real = _folder(tmp_path / "real", 30, 0)
    fake = _folder(tmp_path / "fake", 25, 1, shift=50)
    assert main([str(fake), "--real", str(real), "--metrics", "fid,kid", "--inception", str(graph_path),
                 "--no-progress"]) in (0, None)
    record = _json_line(capsys)
    assert record["n_real"] == 30 and record["n_fake"] == 25
    assert record["metrics"]["fid"] > 0 and "kid_std" in record["metrics"]
    assert record["real"]["data"] == str(real) and record["fake"]["data"] == str(fake)


def _run_dir(tmp_path, real):
    run = tmp_path / "runs" / "00000-toy"
    run.mkdir(parents=True)
    TrainConfig(data=str(real), resolution=32, channels=3, z_dim=8).save(run / rundir.CONFIG)
    z = keras.Input((8,))
    image = keras.layers.Reshape((32, 32, 3))(keras.layers.Dense(32 * 32 * 3, activation="tanh")(z))
    keras.Model(z, image).save(run / rundir.GENERATOR_EMA)
    return run


def test_run_dir_defaults_to_its_training_data_and_appends_metrics_jsonl(graph_path, tmp_path, capsys):
    real = _folder(tmp_path / "real", 30, 2)
    run = _run_dir(tmp_path, real)
    main([str(run), "--num-gen", "20", "--inception", str(graph_path), "--no-progress", "--batch", "8"])
    record = _json_line(capsys)
    assert record["n_fake"] == 20 and record["real"]["data"] == str(real)
    assert record["fake"]["seeds"] == "0-19"
    logged = [json.loads(line) for line in (run / rundir.METRICS).read_text().splitlines()]
    assert logged[-1]["event"] == "evaluate" and logged[-1]["metrics"] == record["metrics"]


def test_save_stats_writes_a_ttur_npz_usable_as_real(graph_path, tmp_path, capsys):
    real = _folder(tmp_path / "real", 30, 3)
    fake = _folder(tmp_path / "fake", 30, 4)
    stats = tmp_path / "real_stats.npz"
    main(["--real", str(real), "--save-stats", str(stats), "--inception", str(graph_path), "--no-progress"])
    with np.load(stats) as f:
        assert f["mu"].shape == (16,) and f["sigma"].shape == (16, 16)
    main([str(fake), "--real", str(stats), "--inception", str(graph_path), "--no-progress"])
    from_stats = _json_line(capsys)
    main([str(fake), "--real", str(real), "--inception", str(graph_path), "--no-progress"])
    from_images = _json_line(capsys)
    assert from_stats["metrics"]["fid"] == pytest.approx(from_images["metrics"]["fid"], rel=1e-9)


@pytest.mark.parametrize("argv, message", [
    (["nowhere", "--real", "digits"], "is neither a run directory"),
    (["--real", "digits"], "--save-stats"),
    (["x", "--metrics", "fid,nope"], "unknown metric 'nope'"),
    (["x", "--num-gen", "0"], "--num-gen must be at least 1"),
])
def test_predictable_mistakes_are_one_sentence_errors(argv, message, capsys):
    with pytest.raises(UserError, match=message):
        main(argv)
    assert run_cli(main, argv) == 2
    assert capsys.readouterr().err.startswith("error: ")


@pytest.mark.slow
def test_python_dash_m_entry_point(graph_path, tmp_path):
    real = _folder(tmp_path / "real", 20, 5)
    fake = _folder(tmp_path / "fake", 20, 6)
    done = subprocess.run([sys.executable, "-m", "deepdeconv.evaluate", str(fake), "--real", str(real),
                           "--inception", str(graph_path), "--no-progress"],
                          capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "DEEPDECONV_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1])["n_fake"] == 20
