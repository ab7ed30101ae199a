"""The notebooks run top to bottom in the small-run mode, and the helpers they call behave.

Each notebook is executed with nbclient in a fresh `python3` kernel whose working directory
is a temporary folder, so its runs/ land there. jupyter_client falls back to ipykernel's own
kernel spec when no `python3` spec is installed, so a fresh `pip install ipykernel` suffices.
"""
import base64
import io
import json
import os
import re
import time
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from PIL import Image

from deepdeconv import notebook as nb
from deepdeconv.errors import UserError

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NAMES = ("quickstart", "evaluate", "tpu_gpu", "restore")
CELL_TIMEOUT_S = 600  # generous: CI machines may be shared


def _png_bytes(size=(32, 32), value=128):
    buffer = io.BytesIO()
    Image.new("L", size, value).save(buffer, format="PNG")
    return buffer.getvalue()


# --- the small-run switch ---------------------------------------------------------------------
def test_small_run_switch_picks_the_small_value_only_when_set(monkeypatch):
    monkeypatch.delenv(nb.SMALL_RUN_ENV, raising=False)
    assert not nb.small_run() and nb.choose(full=4000, small=20) == 4000
    assert nb.when_small(steps=20) == {}  # the full run keeps TrainConfig's defaults
    for off in ("0", "false", "", "off"):
        monkeypatch.setenv(nb.SMALL_RUN_ENV, off)
        assert nb.choose(full=4000, small=20) == 4000
    monkeypatch.setenv(nb.SMALL_RUN_ENV, "1")
    assert nb.small_run() and nb.choose(full=4000, small=20) == 20
    assert nb.when_small(steps=20, width=0.25) == {"steps": 20, "width": 0.25}


# --- columns and charts -------------------------------------------------------------------------
def _write_jsonl(path, records, tail=""):
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + tail)


def test_read_columns_flattens_nested_fields_and_lines_up_missing_values(tmp_path):
    path = tmp_path / "metrics.jsonl"
    _write_jsonl(path, [
        {"event": "data", "name": "digits"},
        {"event": "eval", "step": 10, "metrics": {"cfid": 50.0, "class_histogram": {"0": 3}}},
        {"event": "eval", "step": 20, "metrics": {"cfid": 40.0, "ckid": 0.5}},
        {"event": "evaluate", "step": 20, "metrics": {"fid": 9.0}},
    ], tail='{"event": "eval", "step": 30, "metr')  # a line cut short by a crash
    every = nb.read_columns(path)
    assert every["event"] == ["data", "eval", "eval", "evaluate"]
    assert every["step"] == [None, 10, 20, 20]
    evals = nb.read_columns(path, event="eval")
    assert evals["step"] == [10, 20]
    assert evals["metrics.cfid"] == [50.0, 40.0]
    assert evals["metrics.ckid"] == [None, 0.5]
    assert evals["metrics.class_histogram.0"] == [3, None]
    assert nb.read_columns(tmp_path / "missing.jsonl") == {}


def test_metric_names_are_the_numeric_metric_columns_without_spreads_or_histograms():
    columns = {"step": [1, 2], "metrics.cfid": [3.0, None], "metrics.ckid_std": [0.1, 0.2],
               "metrics.class_histogram.0": [1, 2], "metrics.note": ["x", "y"], "metrics.classes_covered": [9, 10]}
    assert nb.metric_names(columns) == ["metrics.cfid", "metrics.classes_covered"]


def test_line_chart_draws_a_picture_of_the_requested_size_and_one_without_data():
    columns = {"step": [None, 0, 10, 20, 30], "d_loss": [None, 1.4, 1.2, float("nan"), 1.1],
               "g_loss": [None, 0.7, 0.9, 1.0, None]}
    chart = nb.line_chart(columns, "step", ["d_loss", "g_loss"], title="losses", size=(400, 240))
    assert chart.size == (400, 240) and chart.mode == "RGB"
    pixels = np.asarray(chart).reshape(-1, 3)
    assert len(np.unique(pixels, axis=0)) > 10  # lines, text and axes, not a blank canvas
    empty = nb.line_chart({"step": [None], "cfid": [None]}, "step", "cfid")
    assert empty.size == (480, 280)


def test_line_chart_names_a_missing_column_and_the_ones_there_are():
    with pytest.raises(UserError, match=r"no column 'metrics.fid'.*step, metrics.cfid"):
        nb.line_chart({"step": [1], "metrics.cfid": [2.0]}, "step", ["metrics.fid"])


# --- display ------------------------------------------------------------------------------------
def _embedded(html):
    m = re.search(r'src="data:image/(\w+);base64,([^"]+)" width="(\d+)"', html)
    return m.group(1), base64.b64decode(m.group(2)), int(m.group(3))


def test_image_html_embeds_pngs_and_gifs_and_enlarges_small_pictures(tmp_path):
    png = tmp_path / "grid.png"
    png.write_bytes(_png_bytes((40, 40)))
    fmt, data, width = _embedded(nb.image_html(png, caption="a < b"))
    assert (fmt, data, width) == ("png", png.read_bytes(), 280)  # 7 x 40 >= 256
    assert "<figcaption>a &lt; b</figcaption>" in nb.image_html(png, caption="a < b")
    gif = tmp_path / "anim.gif"
    frames = [Image.new("L", (300, 20), v) for v in (0, 255)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50, loop=0)
    fmt, data, width = _embedded(nb.image_html(gif))
    assert (fmt, data, width) == ("gif", gif.read_bytes(), 300)
    fmt, data, width = _embedded(nb.image_html(np.zeros((8, 8, 3), np.uint8), width=64))
    assert fmt == "png" and Image.open(io.BytesIO(data)).size == (8, 8) and width == 64


def test_watch_samples_follows_new_grids_and_ends_on_the_last_one(tmp_path):
    samples = tmp_path / "runs" / "00000-digits" / "samples"
    samples.mkdir(parents=True)
    old = samples / "grid-000000000.png"
    old.write_bytes(_png_bytes())
    os.utime(old, (time.time() - 100, time.time() - 100))  # from a run before this one
    shown = []
    with nb.watch_samples(tmp_path / "runs", every_s=0.05, show_grid=shown.append):
        for step in (5, 10):
            (samples / f"grid-{step:09d}.png").write_bytes(_png_bytes())
            time.sleep(0.3)
        (samples / "grid-000000015.png").write_bytes(_png_bytes())
    names = [p.name for p in shown]
    assert names[-1] == "grid-000000015.png" and "grid-000000000.png" not in names
    assert names == sorted(set(names))  # each grid once, oldest first
    assert nb.newest_grid(tmp_path / "runs", since=time.time() + 10) is None


# --- Colab data input ---------------------------------------------------------------------------
def _zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_upload_unpacks_zips_inside_the_folder_only_and_keeps_class_subfolders(tmp_path, capsys):
    archive = _zip({"cats/a.png": _png_bytes(), "dogs/b.png": _png_bytes(), "../escape.png": b"x",
                    "__MACOSX/cats/._a.png": b"x", "cats/.DS_Store": b"x"})
    folder = tmp_path / "my_images"
    result = nb.data_source("digits", upload=True, upload_folder=folder,
                            uploader=lambda: {"loose.png": _png_bytes(), "set.zip": archive})
    assert result == str(folder)
    found = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert found == ["cats/a.png", "dogs/b.png", "loose.png"]
    assert not (tmp_path / "escape.png").exists()
    assert "3 file(s) stored" in capsys.readouterr().out
    with pytest.raises(UserError, match="No files were uploaded"):
        nb.upload_images(folder, upload=dict)


def test_colab_only_helpers_say_so_in_one_sentence_elsewhere():
    assert not nb.on_colab()
    assert nb.data_source("digits") == "digits"
    with pytest.raises(UserError, match="Google Colab only"):
        nb.mount_drive()
    with pytest.raises(UserError, match="Google Colab only"):
        nb.data_source("digits", drive_folder="MyDrive/faces")
    with pytest.raises(UserError, match="Google Colab only"):
        nb.upload_images()


def test_download_files_sends_each_file_and_names_a_missing_one(tmp_path):
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    for f in files:
        f.write_bytes(_png_bytes())
    sent = []
    assert nb.download_files(files, download=sent.append) == files
    assert sent == [str(f) for f in files]
    with pytest.raises(UserError, match="Google Colab only"):
        nb.download_files(files)
    with pytest.raises(UserError, match=r"Cannot download .*c\.png: no such file"):
        nb.download_files([tmp_path / "c.png"], download=sent.append)


# --- restoration helpers ------------------------------------------------------------------------
def test_latest_val_strips_are_those_of_the_last_complete_validation(tmp_path):
    from deepdeconv import rundir

    _write_jsonl(tmp_path / "log.jsonl", [
        {"event": "val_input", "step": 0, "input_psnr": 20.0},
        {"event": "val", "step": 10, "psnr": [1.0, 2.0, 3.0]},
        {"step": 15, "loss": 0.1},
        {"event": "val", "step": 20, "psnr": [4.0, 5.0]},
    ], tail='{"event": "val", "step": 30, "ps')  # a line cut short by a crash
    step, paths = nb.latest_val_strips(tmp_path)
    assert step == 20
    assert paths == [tmp_path / "samples" / "val-000000020-00.png", tmp_path / "samples" / "val-000000020-01.png"]
    assert paths == [rundir.val_strip_path(tmp_path, 20, i) for i in range(2)]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="has no validation yet"):
        nb.latest_val_strips(tmp_path / "empty")


def _spec(task, channels=1, **options):
    from deepdeconv.restore_config import RestoreConfig
    from deepdeconv.restoring.load import RestorerSpec

    return RestorerSpec(model=None, task=task, scale=options.get("scale", 1) if task == "sr" else 1,
                        channels=channels, restore=RestoreConfig(**options), source="test")


def test_write_degraded_damages_a_photo_as_the_restorer_was_trained_for(tmp_path):
    photo = tmp_path / "flat.png"
    Image.new("RGB", (64, 48), (128, 128, 128)).save(photo)
    noisy = np.asarray(Image.open(nb.write_degraded(_spec("denoise", noise="20"), photo, tmp_path / "n" / "a.png")))
    assert noisy.shape == (48, 64)  # a grey restorer: the photo's luma
    assert abs(float(noisy.astype(float).std()) - 20.0) < 1.5 and abs(float(noisy.mean()) - 128.0) < 1.5
    small = Image.open(nb.write_degraded(_spec("sr", channels=3, scale=4), photo, tmp_path / "s.png"))
    assert small.size == (16, 12) and small.mode == "RGB"
    holes = nb.write_degraded(_spec("inpaint", channels=1, patch=16), photo, tmp_path / "h.png")
    assert Image.open(holes).size == (64, 48)
    mask = np.asarray(Image.open(tmp_path / "h_mask.png"))
    assert set(np.unique(mask)) == {0, 255}
    assert 0.0 < (mask == 255).mean() < 0.5


# --- workflow helpers ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fake_inception(tmp_path_factory):
    """A tiny graph with the Inception graph's tensor names (built by the Inception tests)."""
    from fake_inception import write_fake_inception_graph

    return write_fake_inception_graph(tmp_path_factory.mktemp("inception"))[1]


def test_inception_available_prints_why_not_and_finds_a_local_graph(tmp_path, monkeypatch, capsys, fake_inception):
    monkeypatch.setenv("DEEPDECONV_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("DEEPDECONV_INCEPTION", raising=False)
    assert nb.inception_available() is False  # not on Colab: no download attempted
    assert "Skipping the Inception metrics (fid, is, kid, pr): The Inception graph is not available" in \
        capsys.readouterr().out
    monkeypatch.setenv("DEEPDECONV_INCEPTION", str(fake_inception))
    assert nb.inception_available() is True
    assert str(fake_inception) in capsys.readouterr().out


def test_execution_options_change_only_how_training_runs():
    assert nb.execution_options("cpu") == {"strategy": "auto", "mixed_precision": None, "steps_per_execution": 1}
    assert nb.execution_options("gpu")["mixed_precision"] is True
    tpu = nb.execution_options("tpu")
    assert tpu["mixed_precision"] and tpu["steps_per_execution"] > 1
    with pytest.raises(UserError, match="cpu, gpu or tpu"):
        nb.execution_options("ipu")
    assert nb.hardware() == "cpu"  # conftest hides GPUs; no TPU here


def test_write_real_images_writes_the_data_in_order_as_pngs(tmp_path):
    from deepdeconv.data import load_source, real_uint8_batches

    assert nb.write_real_images("digits", tmp_path / "real", 32, limit=5) == 5
    files = sorted((tmp_path / "real").iterdir())
    assert [p.name for p in files] == [f"real{i:06d}.png" for i in range(5)]
    expected = next(real_uint8_batches(load_source("digits", 32), 5, 5))
    assert np.array_equal(np.asarray(Image.open(files[3])), expected[3, ..., 0])


def test_metrics_summary_lists_values_counts_and_warnings():
    record = {"metrics": {"cfid": 12.3456789, "class_histogram": {"0": 2, "1": 0}, "classes_covered": 1},
              "n_fake": 2, "n_real": 10, "network": "classifier", "warnings": ["few samples"]}
    text = nb.metrics_summary(record)
    assert "cfid  12.35" in text and "0:2 1:0" in text and "classes_covered  1" in text
    assert "2 generated, 10 real (classifier)" in text and text.endswith("warning: few samples")


# --- the notebooks themselves -------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_committed_without_outputs_for_the_python3_kernel(name):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert notebook.metadata.kernelspec.name == "python3"
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert 'REPO_URL = "' in code[0].source and "find_spec(\"deepdeconv\")" in code[0].source


@pytest.fixture(scope="module")
def notebook_cache(tmp_path_factory):
    """A user cache holding a quickly trained metric classifier for digits, shared by the notebooks.

    The notebooks would train the real one (600 steps, about a minute); which classifier
    gives the features does not matter to whether the cells run.
    """
    from deepdeconv.metrics.classifier import classifier_for

    cache = tmp_path_factory.mktemp("cache")
    old = os.environ.get("DEEPDECONV_CACHE")
    os.environ["DEEPDECONV_CACHE"] = str(cache)
    try:
        classifier_for("digits", 32, 1, steps=30, progress=False)
    finally:
        if old is None:
            del os.environ["DEEPDECONV_CACHE"]
        else:
            os.environ["DEEPDECONV_CACHE"] = old
    return cache


def _execute(name, workdir):
    notebook = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if a cell fails
    return notebook


def _outputs(notebook):
    """(all text printed to stdout, number of embedded images) of an executed notebook."""
    text, images = [], 0
    for cell in notebook.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream" and out.name == "stdout":
                text.append(out.text)
            images += "data:image/" in out.get("data", {}).get("text/html", "")
    return "".join(text), images


@pytest.fixture
def small_run_env(tmp_path, monkeypatch, notebook_cache):
    """The kernel's environment: small-run switch on, caches in temporary folders."""
    monkeypatch.setenv(nb.SMALL_RUN_ENV, "1")
    monkeypatch.setenv("DEEPDECONV_CACHE", str(notebook_cache))
    monkeypatch.delenv("DEEPDECONV_INCEPTION", raising=False)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # nothing may land in the real home folder
    workdir = tmp_path / "work"
    workdir.mkdir()
    return workdir


@pytest.mark.slow
def test_quickstart_trains_draws_evaluates_offline_and_resumes(small_run_env):
    notebook = _execute("quickstart", small_run_env)
    text, images = _outputs(notebook)
    run = small_run_env / "runs" / "00000-digits"
    for name in ("seeds0-63.png", "interp.png", "interp.gif", "progress.gif"):
        assert (run / "samples" / name).is_file(), name
    assert nb.read_columns(run / "log.jsonl")["step"][-1] == 30  # 20 steps, resumed to 30
    assert "cfid" in text and "Skipping the Inception metrics" in text
    assert images >= 3  # at least a live grid, the seeds grid and the loss chart
    assert not (NOTEBOOKS / "runs").exists()


@pytest.mark.slow
def test_evaluate_notebook_measures_a_run_and_two_folders(small_run_env, monkeypatch, fake_inception):
    monkeypatch.setenv("DEEPDECONV_INCEPTION", str(fake_inception))  # the Inception cells run too
    notebook = _execute("evaluate", small_run_env)
    text, images = _outputs(notebook)
    run = small_run_env / "runs" / "00000-digits"
    assert nb.read_columns(run / "metrics.jsonl", event="eval")["step"] == [10, 20]
    assert len(list((run / "folders" / "generated").glob("*.png"))) == 200
    assert len(list((run / "folders" / "real").glob("*.png"))) == 200
    assert "2 evaluations during training of metrics.cfid, metrics.ckid" in text
    for metric in ("cfid", "cis", "cpr", "fid", "is", "kid", "pr_precision"):
        assert re.search(rf"^\s+{metric}  ", text, re.M), metric
    assert images >= 2  # at least the loss and metric charts


@pytest.mark.slow
def test_tpu_gpu_notebook_trains_with_the_default_strategy_on_cpu(small_run_env):
    notebook = _execute("tpu_gpu", small_run_env)
    text, images = _outputs(notebook)
    assert re.search(r"^cpu: \w+ with 1 replica\(s\) on cpu", text, re.M)
    config = json.loads((small_run_env / "runs" / "00000-digits" / "config.json").read_text())
    assert (config["strategy"], config["steps"]) == ("auto", 20)
    assert isinstance(config["mixed_precision"], bool) and config["speed_choice"]  # auto, resolved on the CPU
    assert images >= 1


@pytest.mark.slow
def test_restore_notebook_trains_compares_with_baselines_and_restores_a_photo(small_run_env):
    notebook = _execute("restore", small_run_env)
    text, images = _outputs(notebook)
    run = small_run_env / "runs" / "00000-photos"
    config = json.loads((run / "config.json").read_text())
    assert (config["task"], config["steps"], config["restore"]["patch"]) == ("denoise", 20, 32)
    assert [p.name for p in sorted((run / "samples").glob("val-000000020-*.png"))] == \
        ["val-000000020-00.png", "val-000000020-01.png"]
    table = [line.split()[:2] for line in text.splitlines() if line.startswith(("astronaut", "camera", "MEAN"))]
    methods = ("input", "model", "tv", "wavelet")  # the small run's cheap baselines
    assert table == [[n, m] for n in ("astronaut.png", "camera.png", "MEAN") for m in methods]
    restored = small_run_env / "restored"
    assert sorted(p.name for p in restored.iterdir()) == ["astronaut.png", "astronaut_compare.png"]
    assert Image.open(restored / "astronaut.png").size == (512, 512)
    assert "restored: restored/astronaut.png" in text
    assert images >= 3  # validation strips, the PSNR curve, the comparison strip
