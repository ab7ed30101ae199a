"""restore.py end to end on tiny restorers saved as .keras files and run directories."""
import re

import numpy as np
import pytest
from PIL import Image

from deepdeconv import rundir
from deepdeconv.cli.common import run_cli
from deepdeconv.cli.restore import main
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.models.restorer import build_restorer
from deepdeconv.restoring import load as restoring_load


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Untrained restorers are exact identities (their last layer is zero): sr gives bicubic."""
    root = tmp_path_factory.mktemp("models")
    paths = {}
    for name, (task, channels, scale) in {"sr_grey": ("sr", 1, 2), "denoise_rgb": ("denoise", 3, 1),
                                          "denoise_grey": ("denoise", 1, 1), "inpaint_rgb": ("inpaint", 3, 1)}.items():
        paths[name] = root / f"{name}.keras"
        build_restorer(task, channels, width=0.125, depth=1, scale=scale).save(paths[name])
    return paths


def _photo(h, w, colour=True, seed=0):
    y, x = np.mgrid[0:h, 0:w]
    base = 120 + 60 * np.sin(x / 5) * np.cos(y / 7) + np.random.default_rng(seed).normal(0, 5, (h, w))
    if not colour:
        return np.clip(base, 0, 255).astype(np.uint8)
    return np.clip(np.stack([base, 255 - base, base / 2 + 40], -1), 0, 255).astype(np.uint8)


def _save(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def test_sr_of_one_image_is_scale_times_larger(models, tmp_path):
    src = _save(tmp_path / "small.png", _photo(30, 41))
    assert main([str(models["sr_grey"]), str(src), "--out", str(tmp_path / "big.png"), "--task", "sr",
                 "--no-progress"]) == 0
    assert Image.open(tmp_path / "big.png").size == (82, 60)


def test_grey_model_on_a_colour_photo_restores_luma_and_keeps_chroma(models, tmp_path):
    photo = _photo(33, 47)
    src = _save(tmp_path / "colour.png", photo)
    main([str(models["denoise_grey"]), str(src), "--out", str(tmp_path / "out.png"), "--task", "denoise",
          "--no-progress"])
    out = Image.open(tmp_path / "out.png")
    assert out.mode == "RGB"
    # the identity restorer: only the YCbCr round trip's rounding separates output from input
    assert np.max(np.abs(np.asarray(out, int) - photo.astype(int))) <= 3


def test_colour_model_on_a_grey_image_writes_grey(models, tmp_path):
    grey = _photo(20, 25, colour=False)
    src = _save(tmp_path / "grey.png", grey)
    main([str(models["denoise_rgb"]), str(src), "--out", str(tmp_path / "out.jpg"), "--task", "denoise",
          "--no-progress"])
    out = Image.open(tmp_path / "out.jpg")
    assert out.format == "JPEG" and out.mode == "L" and out.size == (25, 20)


def test_folder_mirrors_names_skips_an_unreadable_file_and_lists_it(models, tmp_path, capsys):
    inp = tmp_path / "in"
    _save(inp / "a.jpg", _photo(24, 24))
    _save(inp / "deep" / "b.png", _photo(17, 30, colour=False))
    (inp / "broken.png").write_bytes(b"not a picture")
    status = run_cli(main, [str(models["denoise_rgb"]), str(inp), "--out", str(tmp_path / "out"), "--task",
                            "denoise", "--compare", "--no-progress"])
    err = capsys.readouterr().err
    assert status == 0
    assert "skipped" in err and "broken.png" in err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.png")) == \
        ["a.png", "a_compare.png", "deep/b.png", "deep/b_compare.png"]
    strip = Image.open(tmp_path / "out" / "a_compare.png")
    assert strip.width >= 3 * 24 and strip.height > 24  # input | nlm | ours, with a label band


def test_existing_outputs_are_refused_before_any_work(models, tmp_path, capsys):
    src = _save(tmp_path / "a.png", _photo(20, 20))
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    status = run_cli(main, [str(models["denoise_rgb"]), str(src), "--out", str(out), "--task", "denoise"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "--overwrite" in err[0]
    assert out.read_bytes() == b"precious"
    assert main([str(models["denoise_rgb"]), str(src), "--out", str(out), "--task", "denoise", "--overwrite",
                 "--no-progress"]) == 0
    assert Image.open(out).size == (20, 20)


@pytest.mark.parametrize("args,message", [
    (["MODEL", "missing.png"], "Input .*missing.png does not exist"),
    (["MODEL_NOTASK", "IMAGE"], "bare model file: say what it restores with --task"),
    (["sr4", "IMAGE"], "pretrained restorer 'sr4' is not shipped.*available: none yet"),
    (["MODEL", "IMAGE", "--scale", "3"], "upscales by 1, not by --scale 3"),
    (["MODEL", "IMAGE", "--checkpoint", "best"], "--checkpoint and --no-ema apply to a run directory"),
])
def test_user_mistakes_are_one_sentence_and_status_2(models, tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setattr(restoring_load, "PRETRAINED_DIR", tmp_path / "no-pretrained-files")  # a slim install
    image = _save(tmp_path / "a.png", _photo(20, 20))
    subst = {"MODEL": str(models["denoise_rgb"]), "MODEL_NOTASK": str(models["denoise_rgb"]), "IMAGE": str(image),
             "missing.png": str(tmp_path / "missing.png")}
    argv = [subst.get(a, a) for a in args] + ["--out", str(tmp_path / "o.png")]
    if args[0] == "MODEL":
        argv += ["--task", "denoise"]
    assert run_cli(main, argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert re.search(message, err[0]), err[0]


def test_every_file_unreadable_exits_1(models, tmp_path):
    inp = tmp_path / "in"
    inp.mkdir()
    (inp / "x.png").write_bytes(b"junk")
    assert main([str(models["denoise_rgb"]), str(inp), "--out", str(tmp_path / "out"), "--task", "denoise",
                 "--no-progress"]) == 1


def test_run_directory_uses_its_exported_ema_restorer(models, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(task="sr", channels=1, width=0.125, restore={"scale": 2, "depth": 1, "patch": 16}).validate() \
        .save(run / rundir.CONFIG)
    with pytest.raises(UserError, match="no checkpoint or exported restorer"):
        main([str(run), str(_save(tmp_path / "a.png", _photo(20, 22))), "--out", str(tmp_path / "o.png")])
    (run / rundir.RESTORER_EMA).write_bytes(models["sr_grey"].read_bytes())
    assert main([str(run), str(tmp_path / "a.png"), "--out", str(tmp_path / "o.png"), "--no-progress"]) == 0
    assert Image.open(tmp_path / "o.png").size == (44, 40)
    with pytest.raises(UserError, match="restores sr, not denoise"):
        main([str(run), str(tmp_path / "a.png"), "--out", str(tmp_path / "p.png"), "--task", "denoise"])


def test_inpainting_needs_and_uses_a_mask(models, tmp_path):
    photo = _photo(24, 24)
    src = _save(tmp_path / "a.png", photo)
    mask = np.zeros((24, 24), np.uint8)
    mask[5:10, 5:15] = 255
    mask_path = _save(tmp_path / "mask.png", mask)
    with pytest.raises(UserError, match="needs the holes"):
        main([str(models["inpaint_rgb"]), str(src), "--out", str(tmp_path / "o.png"), "--task", "inpaint"])
    main([str(models["inpaint_rgb"]), str(src), "--out", str(tmp_path / "o.png"), "--task", "inpaint",
          "--mask", str(mask_path), "--no-progress"])
    out = np.asarray(Image.open(tmp_path / "o.png"))
    # the identity inpainter leaves the holes mid-grey and the rest as it was
    assert np.all(np.abs(out[5:10, 5:15].astype(int) - 128) <= 1)
    assert np.array_equal(out[15:], photo[15:])


def test_checkpoints_of_a_run_load_the_chosen_network(tmp_path):
    from deepdeconv.checkpoint import save_checkpoint
    from deepdeconv.restorer import build_restorer_model
    from deepdeconv.restoring.load import load_restorer

    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(task="denoise", channels=1, width=0.125, mixed_precision=False,
                         restore={"depth": 1, "patch": 16}).validate()
    config.save(run / rundir.CONFIG)
    model = build_restorer_model(config)
    for w in model.network.weights:  # the raw network differs from its (still initial) EMA copy
        w.assign(w + 0.5)
    save_checkpoint(model, rundir.checkpoint_path(run, 7), config)
    raw = load_restorer(run, checkpoint="latest", ema=False).model
    ema = load_restorer(run, checkpoint="latest").model
    for a, b, c in zip(raw.weights, model.network.weights, ema.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert not np.array_equal(c.numpy(), b.numpy())
    with pytest.raises(UserError, match="no best"):
        load_restorer(run, checkpoint="best")


def test_a_damaged_keras_file_is_one_sentence(tmp_path):
    bad = tmp_path / "bad.keras"
    bad.write_bytes(b"PK not really a zip")
    with pytest.raises(UserError, match="is not a loadable Keras restorer"):
        main([str(bad), str(_save(tmp_path / "a.png", _photo(20, 20))), "--out", str(tmp_path / "o.png"),
              "--task", "denoise"])


def test_tiled_and_whole_restoration_write_the_same_file(tmp_path):
    model = build_restorer("denoise", 3, width=0.125, depth=2)
    rng = np.random.default_rng(0)
    for w in model.weights:  # a network that changes the image, so tiling could show
        fan_in = int(np.prod(w.shape[:-1])) if len(w.shape) > 1 else 1
        w.assign(rng.normal(0, 0.5 / np.sqrt(fan_in), w.shape).astype(np.float32))
    model.save(tmp_path / "m.keras")
    src = _save(tmp_path / "a.png", _photo(150, 131))
    common = [str(tmp_path / "m.keras"), str(src), "--task", "denoise", "--no-progress"]
    main(common + ["--out", str(tmp_path / "whole.png")])
    main(common + ["--out", str(tmp_path / "tiled.png"), "--tile", "96"])
    whole, tiled = (np.asarray(Image.open(tmp_path / f"{n}.png"), int) for n in ("whole", "tiled"))
    assert np.abs(whole - src_pixels(src)).max() > 5  # the network did something
    assert np.abs(whole - tiled).max() <= 1  # float summation order may flip a rounding


def src_pixels(path):
    return np.asarray(Image.open(path), int)


def test_output_names_mirror_the_input_and_collisions_are_refused(tmp_path):
    from deepdeconv.restoring.files import plan_jobs

    inp = tmp_path / "in"
    _save(inp / "x" / "a.jpg", _photo(8, 8))
    _save(inp / "b.tif", _photo(8, 8))
    jobs = plan_jobs(inp, tmp_path / "out", compare=True)
    assert [(j.output.relative_to(tmp_path / "out").as_posix(), j.compare.name) for j in jobs] == \
        [("b.png", "b_compare.png"), ("x/a.png", "a_compare.png")]
    assert plan_jobs(inp / "b.tif", tmp_path / "single")[0].output == tmp_path / "single.png"
    (tmp_path / "dir").mkdir()
    assert plan_jobs(inp / "b.tif", tmp_path / "dir")[0].output == tmp_path / "dir" / "b.png"
    # a trailing separator names a folder that does not exist yet (the module docstring's rule)
    assert plan_jobs(inp / "b.tif", f"{tmp_path / 'new'}/")[0].output == tmp_path / "new" / "b.png"
    _save(inp / "x" / "a.png", _photo(8, 8))
    with pytest.raises(UserError, match="would both be written to"):
        plan_jobs(inp, tmp_path / "out")
    with pytest.raises(UserError, match="names no image format"):
        plan_jobs(inp / "b.tif", tmp_path / "o.xyz")
