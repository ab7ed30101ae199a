"""deepdeconv.evaluate on restoration runs: the model beside the classical baselines."""
import json

import numpy as np
import pytest
from PIL import Image

from deepdeconv import rundir
from deepdeconv.cli.evaluate import main
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.metrics import restoration
from deepdeconv.models.restorer import build_restorer


def _run(tmp_path, task, channels, **restore):
    """A fake finished run: config.json and an (untrained, hence identity) exported EMA restorer."""
    run = tmp_path / f"run-{task}"
    run.mkdir()
    restore = dict(dict(depth=1, patch=16), **restore)
    config = TrainConfig(task=task, channels=channels, width=0.125, restore=restore).validate()
    config.save(run / rundir.CONFIG)
    build_restorer(task, channels, width=0.125, depth=1, scale=config.restore.scale).save(run / rundir.RESTORER_EMA)
    return run


def _clean_folder(tmp_path, colour):
    folder = tmp_path / "clean"
    folder.mkdir(exist_ok=True)
    for i, (h, w) in enumerate(((36, 44), (40, 34))):
        y, x = np.mgrid[0:h, 0:w]
        grey = 128 + 70 * np.sin(x / (4 + i)) * np.cos(y / 6)
        image = np.stack([grey, 255 - grey, grey / 2 + 50], -1) if colour else grey
        Image.fromarray(np.clip(image, 0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def _table_rows(out):
    return [line.split() for line in out.splitlines() if line and not line.startswith(("#", "-", "{", "image"))]


def test_denoise_run_prints_model_and_baseline_rows_and_appends_a_record(tmp_path, capsys):
    run = _run(tmp_path, "denoise", 1, noise="25")
    real = _clean_folder(tmp_path, colour=False)
    argv = [str(run), "--real", str(real), "--metrics", "psnr,ssim", "--baselines", "nlm,tv", "--no-progress"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    methods = {(r[0], r[1]) for r in rows}
    for name in ("img0.png", "img1.png", "MEAN"):
        assert {(name, m) for m in ("input", "model", "nlm", "tv")} <= methods
    by = {(r[0], r[1]): [float(v) for v in r[2:]] for r in rows}
    # the untrained restorer is the identity: it scores exactly what its rounded input scores
    assert by[("img0.png", "model")][:2] == by[("img0.png", "input")][:2]
    assert by[("MEAN", "nlm")][0] > by[("MEAN", "input")][0] + 2
    record = json.loads((run / rundir.METRICS).read_text().splitlines()[-1])
    assert record["event"] == "evaluate" and record["task"] == "denoise" and record["num_images"] == 2
    assert set(record["mean"]) == {"input", "model", "nlm", "tv"}
    assert "grayscale" in record["conventions"]
    # seeded by image index: a second evaluation degrades identically
    main(argv)
    again = json.loads((run / rundir.METRICS).read_text().splitlines()[-1])
    for method in ("input", "model", "nlm"):
        assert again["mean"][method]["psnr"] == record["mean"][method]["psnr"]


def test_sr_run_scores_y_channel_against_bicubic_and_lanczos(tmp_path, capsys):
    run = _run(tmp_path, "sr", 3, scale=2)
    real = _clean_folder(tmp_path, colour=True)
    assert main([str(run), "--real", str(real), "--no-progress"]) == 0  # default metrics: psnr,ssim
    out = capsys.readouterr().out
    assert "Y channel (BT.601 studio range), 2 px border crop" in out
    methods = {r[1] for r in _table_rows(out) if r[0] == "MEAN"}
    assert methods == {"model", "bicubic", "lanczos"}


def test_wrong_metric_and_baseline_names_are_one_sentence(tmp_path):
    run = _run(tmp_path, "deblur", 1)
    real = _clean_folder(tmp_path, colour=False)
    with pytest.raises(UserError, match="measured with psnr, ssim, not 'fid_keras'"):
        main([str(run), "--real", str(real), "--metrics", "fid_keras"])
    with pytest.raises(UserError, match="'nlm' is not a deblur baseline"):
        main([str(run), "--real", str(real), "--baselines", "nlm"])


def test_deblur_baselines_are_told_the_psf_and_the_oracle_sees_the_clean_image(tmp_path, capsys):
    run = _run(tmp_path, "deblur", 1)
    real = _clean_folder(tmp_path, colour=False)
    assert main([str(run), "--real", str(real), "--num-real", "2", "--no-progress"]) == 0
    mean = json.loads((run / rundir.METRICS).read_text().splitlines()[-1])["mean"]
    assert set(mean) == {"input", "model", "wiener", "richardson_lucy", "wiener_oracle"}
    assert mean["wiener_oracle"]["psnr"] >= mean["wiener"]["psnr"] - 0.05


def test_noise_option_scores_a_blind_denoiser_at_the_given_sigma(tmp_path, capsys):
    run = _run(tmp_path, "denoise", 1, noise="0-55")
    real = _clean_folder(tmp_path, colour=False)
    scores = {}
    for sigma in ("10", "50"):
        assert main([str(run), "--real", str(real), "--baselines", "none", "--noise", sigma, "--no-progress"]) == 0
        record = json.loads((run / rundir.METRICS).read_text().splitlines()[-1])
        assert record["noise"] == f"{float(sigma)}"
        scores[sigma] = record["mean"]["input"]["psnr"]
    # Gaussian noise of std 10 on images that stay clear of 0 and 255: PSNR = 20 log10(255 / 10)
    assert scores["10"] == pytest.approx(20 * np.log10(255 / 10), abs=0.3)
    assert scores["50"] < scores["10"] - 12
    with pytest.raises(UserError, match="--noise must be one number in \\[0, 255\\], got '5-9'"):
        main([str(run), "--real", str(real), "--noise", "5-9"])
    with pytest.raises(UserError, match="--noise applies to denoise runs; this one restores deblur"):
        main([str(_run(tmp_path, "deblur", 1)), "--real", str(real), "--noise", "5"])


def test_gan_runs_are_not_taken_for_restoration_runs(tmp_path):
    run = tmp_path / "gan"
    run.mkdir()
    TrainConfig().save(run / rundir.CONFIG)
    assert not restoration.is_restoration_run(run)
    assert restoration.is_restoration_run(_run(tmp_path, "jpeg", 1))
