"""Self-conditioning (`--clusters K`): k-means labels, the z -> cluster wrapper, config rules and
a run end to end."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from deepdeconv import rundir
from deepdeconv.config import TrainConfig
from deepdeconv.data import ImageSource
from deepdeconv.data.clusters import centre_out, cluster_labels, self_conditioned_source, thumbnails
from deepdeconv.errors import UserError
from deepdeconv.models import build_generator
from deepdeconv.models.conditional import self_conditioned

# --- labels ------------------------------------------------------------------------------------


def test_thumbnails_are_block_means_of_each_channel():
    images = np.zeros((1, 32, 32, 3), np.uint8)
    images[0, :2, :2, 0] = [[0, 10], [20, 30]]  # first 2x2 block of the red channel
    images[0, 30:, 30:, 2] = 100  # last block of the blue channel
    thumbs = thumbnails(images).reshape(1, 16, 16, 3)
    assert thumbs[0, 0, 0, 0] == 15.0 and thumbs[0, 15, 15, 2] == 100.0
    assert thumbs.sum() == 115.0


@pytest.mark.parametrize("k, labels", [(1, [0]), (2, [0, 1]), (4, [1, 2, 0, 3]), (5, [2, 3, 1, 4, 0])])
def test_largest_clusters_get_the_middle_labels(k, labels):
    np.testing.assert_array_equal(centre_out(k), labels)


def test_kmeans_labels_recover_separated_groups_the_largest_in_the_middle():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0] * 8, [10.0] * 8, [-10.0] * 8])
    groups = np.repeat([2, 0, 1], [20, 50, 30])  # sizes 50 (group 0), 30 (group 1), 20 (group 2)
    features = centres[groups] + rng.normal(0, 0.5, (100, 8))
    labels = cluster_labels(features, 3, seed=0)
    np.testing.assert_array_equal(labels, np.array([1, 2, 0])[groups])
    np.testing.assert_array_equal(cluster_labels(features, 3, seed=0), labels)  # deterministic


def test_self_conditioned_source_relabels_images_and_reports_shares():
    pixels = np.zeros((10, 32, 32, 1), np.uint8)
    pixels[:7, :16] = 255  # seven images bright on top, three dark everywhere
    source = self_conditioned_source(ImageSource.from_arrays("x", pixels), 2, seed=0)
    images, labels = source.gather(np.arange(10))
    np.testing.assert_array_equal(labels.numpy(), [0] * 7 + [1] * 3)  # centre_out(2): larger first
    assert source.label_shares(2) == (0.7, 0.3)
    assert source.class_names == ()  # clusters are not classes: nothing downstream treats them so


# --- the z -> cluster wrapper ---------------------------------------------------------------------


def _wrapped(frequencies, z_dim=6):
    inner = build_generator(32, 1, z_dim=z_dim, width=0.125, num_classes=len(frequencies))
    return inner, self_conditioned(inner, frequencies)


def test_cluster_is_where_the_first_latent_falls_among_normal_quantiles():
    inner, wrapped = _wrapped([0.2, 0.5, 0.3])
    # Edges in z: ndtri(0.2) = -0.8416, ndtri(0.7) = 0.5244.
    z = np.zeros((5, 6), np.float32)
    z[:, 0] = [-3.0, -0.85, -0.83, 0.52, 0.53]
    picked = wrapped.get_layer("cluster_index")
    from keras import Model
    labels = Model(wrapped.inputs, picked.output).predict_on_batch(z)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2])
    # The generator gets the first entry remapped within its cluster (next test), the rest as is.
    moved = Model(wrapped.inputs, wrapped.get_layer("remapped_z").output).predict_on_batch(z)
    np.testing.assert_array_equal(moved[:, 1:], z[:, 1:])
    np.testing.assert_allclose(wrapped.predict_on_batch(z), inner.predict_on_batch([moved, labels]), atol=1e-5)


def test_first_entry_is_remapped_to_a_standard_normal_within_its_cluster():
    _, wrapped = _wrapped([0.5, 0.5])
    from keras import Model
    remap = Model(wrapped.inputs, wrapped.get_layer("remapped_z").output)
    # Two halves: Phi(z0) = 0.125, 0.25, 0.75, 0.875 sit at 1/4, 1/2, 1/2, 3/4 of their cluster's
    # interval, so they map to ndtri(0.25) = -0.6745, 0, 0, 0.6745.
    z = np.zeros((4, 6), np.float32)
    z[:, 0] = [-1.150349, -0.674490, 0.674490, 1.150349]
    np.testing.assert_allclose(remap.predict_on_batch(z)[:, 0], [-0.674490, 0.0, 0.0, 0.674490], atol=2e-3)
    # Over many latents every cluster sees the whole standard normal.
    _, wrapped = _wrapped([0.05, 0.6, 0.1, 0.25])
    both = Model(wrapped.inputs, [wrapped.get_layer("remapped_z").output, wrapped.get_layer("cluster_index").output])
    moved, labels = both.predict(np.random.default_rng(0).standard_normal((40000, 6)).astype(np.float32),
                                 batch_size=8000, verbose=0)
    for k in range(4):
        assert abs(moved[labels == k, 0].mean()) < 0.06 and moved[labels == k, 0].std() == pytest.approx(1.0, abs=0.05)


def test_clusters_are_drawn_with_the_data_frequencies():
    frequencies = [0.05, 0.6, 0.1, 0.25]
    _, wrapped = _wrapped(frequencies)
    from keras import Model
    picker = Model(wrapped.inputs, wrapped.get_layer("cluster_index").output)
    z = np.random.default_rng(0).standard_normal((40000, 6)).astype(np.float32)
    shares = np.bincount(picker.predict(z, batch_size=8000, verbose=0).astype(int), minlength=4) / len(z)
    np.testing.assert_allclose(shares, frequencies, atol=0.01)


def test_remap_stays_float32_under_a_bfloat16_policy():
    from keras import Model
    from deepdeconv.precision import dtype_policy
    z = np.random.default_rng(0).standard_normal((500, 6)).astype(np.float32)
    inner, wrapped = _wrapped([0.05, 0.6, 0.1, 0.25])
    want = Model(wrapped.inputs, wrapped.get_layer("remapped_z").output).predict_on_batch(z)
    with dtype_policy("mixed_bfloat16"):
        again = self_conditioned(inner, [0.05, 0.6, 0.1, 0.25])
        got = Model(again.inputs, again.get_layer("remapped_z").output).predict_on_batch(z)
    np.testing.assert_array_equal(got, want)


def test_wrapped_generator_loads_with_plain_keras_without_deepdeconv(tmp_path):
    _, wrapped = _wrapped([0.5, 0.5])
    wrapped.save(tmp_path / "g.keras")
    z = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "want.npy", wrapped.predict_on_batch(z))
    script = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "deepdeconv":
            raise ImportError("deepdeconv is blocked")
sys.meta_path.insert(0, Block())
import keras, numpy as np
g = keras.models.load_model(r"{tmp_path / 'g.keras'}", compile=False)
got = g.predict_on_batch(np.load(r"{tmp_path / 'z.npy'}"))
assert abs(got - np.load(r"{tmp_path / 'want.npy'}")).max() < 1e-5
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


# --- configuration ------------------------------------------------------------------------------


def test_clusters_with_conditional_are_refused_in_one_sentence():
    with pytest.raises(UserError, match=r"^--clusters and --conditional cannot be combined: .*\.$"):
        TrainConfig(clusters=10, conditional=True).validate()


@pytest.mark.parametrize("k", [1, -3, 1001])
def test_cluster_count_out_of_range_is_refused(k):
    with pytest.raises(UserError, match=rf"^--clusters must be 0 \(off\) or lie in 2\.\.1000, got {k}\.$"):
        TrainConfig(clusters=k).validate()


def test_cluster_frequencies_must_match_the_count_and_sum_to_one():
    TrainConfig(clusters=2, cluster_frequencies=(0.25, 0.75)).validate()
    for bad in [(0.5, 0.25), (1.0,), (1.0, 0.0)]:
        with pytest.raises(UserError, match="cluster_frequencies must hold 2 positive shares summing to 1"):
            TrainConfig(clusters=2, cluster_frequencies=bad).validate()


def test_cluster_frequencies_round_trip_through_config_json(tmp_path):
    config = TrainConfig(clusters=3, cluster_frequencies=(0.5, 0.25, 0.25), channels=1)
    config.save(tmp_path / "config.json")
    assert TrainConfig.load(tmp_path / "config.json") == config
    d = json.loads((tmp_path / "config.json").read_text())
    d["cluster_frequencies"] = ["a", "b", "c"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    with pytest.raises(UserError, match="option cluster_frequencies must be tuple"):
        TrainConfig.load(tmp_path / "config.json")


# --- a run end to end ----------------------------------------------------------------------------


def _two_kinds_folder(root):
    """Unlabelled 8x8 images of two kinds: bright on the left, or bright on the right."""
    root.mkdir()
    for i in range(12):
        a = np.zeros((8, 8), np.uint8)
        a[:, :4] = 255 if i % 3 else 0
        a[:, 4:] = 0 if i % 3 else 255
        Image.fromarray(a).save(root / f"{i:02d}.png")
    return root


def test_resolving_a_run_whose_clusters_came_out_differently_warns(capsys):
    from deepdeconv.training import resolve_config

    pixels = np.zeros((10, 32, 32, 1), np.uint8)
    pixels[:7, :16] = 255
    source = ImageSource.from_arrays("x", pixels)
    base = TrainConfig(data="x", data_fingerprint="x", clusters=2)
    config, _ = resolve_config(base, source)
    assert config.cluster_frequencies == (0.7, 0.3) and "differ" not in capsys.readouterr().err
    resolve_config(config, source)  # a resume on the same clusters
    assert "differ" not in capsys.readouterr().err
    resolve_config(config.replace(cluster_frequencies=(0.5, 0.5)), source)
    assert "clusters of x differ from those this run was trained on" in capsys.readouterr().err


@pytest.mark.slow
def test_clusters_run_trains_saves_shares_samples_and_resumes(tmp_path):
    from deepdeconv.cli import sample, train
    from deepdeconv.sampling.load import load_generator

    data = _two_kinds_folder(tmp_path / "kinds")
    tiny = ["--width", "0.125", "--z-dim", "16", "--batch", "4", "--sample-every", "2", "--checkpoint-every", "2",
            "--grid-size", "4", "--no-progress", "--no-mixed-precision", "--outdir", str(tmp_path / "runs")]
    assert train.main(["--data", str(data), "--clusters", "2", "--steps", "2", *tiny]) == 0
    run = next((tmp_path / "runs").iterdir())
    config = json.loads((run / rundir.CONFIG).read_text())
    assert config["clusters"] == 2 and config["cluster_frequencies"] == pytest.approx([8 / 12, 4 / 12])
    exported, _ = load_generator(run)
    rebuilt, _ = load_generator(run, checkpoint="latest")
    assert len(exported.inputs) == 1 and len(rebuilt.inputs) == 1  # sampled like unconditional ones
    z = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    np.testing.assert_allclose(exported.predict_on_batch(z), rebuilt.predict_on_batch(z), atol=1e-6)
    assert sample.main(["grid", str(run), "--seeds", "0-3", "--out", str(tmp_path / "g.png")]) == 0
    assert train.main(["--resume", str(run), "--steps", "4", "--no-progress"]) == 0
    assert (run / rundir.SAMPLES / "grid-000000004.png").is_file()


def test_more_clusters_than_images_is_refused_in_one_sentence(tmp_path):
    from deepdeconv.cli import train

    data = _two_kinds_folder(tmp_path / "kinds")
    with pytest.raises(UserError, match=r"^--clusters 20 is more than the 12 images of .*kinds\.$"):
        train.main(["--data", str(data), "--clusters", "20", "--steps", "1", "--outdir", str(tmp_path / "runs")])


def test_a_saved_config_from_before_self_conditioning_loads_without_clusters(tmp_path):
    d = TrainConfig(channels=1).to_dict()
    del d["clusters"], d["cluster_frequencies"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TrainConfig.load(tmp_path / "config.json").clusters == 0


@pytest.mark.parametrize("images, k", [(4000, 30), (1797, 30), (1500, 30), (500, 10), (120, 2), (99, 0), (12, 0)])
def test_auto_cluster_count_is_one_per_50_images_up_to_30(images, k):
    from deepdeconv.data.clusters import default_count

    assert default_count(images) == k


def test_auto_clusters_are_off_for_conditional_runs_and_restoration():
    assert TrainConfig(conditional=True).clusters == 0
    assert TrainConfig(task="denoise").clusters == 0
    assert TrainConfig().clusters is None  # resolved from the data at run start


def test_default_run_is_self_conditioned_on_data_of_a_few_hundred_images(tmp_path):
    from deepdeconv.training import resolve_config

    rng = np.random.default_rng(0)
    source = ImageSource.from_arrays("blobs", rng.integers(0, 256, (150, 32, 32, 1), dtype=np.uint8))
    config, relabelled = resolve_config(TrainConfig(data="digits", outdir=str(tmp_path)), source)
    assert config.clusters == 3 and len(config.cluster_frequencies) == 3
    assert sorted(np.unique(relabelled.gather(np.arange(150))[1].numpy())) == [0, 1, 2]


@pytest.mark.slow
def test_self_conditioned_generator_exports_to_savedmodel_and_tflite_exactly(tmp_path):
    from deepdeconv.export import export_run

    _, wrapped = _wrapped([0.3, 0.5, 0.2], z_dim=16)
    run = tmp_path / "00000-sc"
    run.mkdir()
    TrainConfig(z_dim=16, width=0.125, channels=1, clusters=3, cluster_frequencies=(0.3, 0.5, 0.2)).save(
        run / rundir.CONFIG)
    wrapped.save(run / rundir.GENERATOR_EMA)
    records = export_run(run, log=lambda *_: None, fmt="all")
    # The exporter runs each file beside the Keras model on the same latents.
    assert {(r.variant, r.signature) for r in records} >= {("savedmodel", "generate"), ("float32", "generate_from_latents")}
    assert all(r.max_diff == 0 for r in records if r.variant in ("savedmodel", "float32"))
