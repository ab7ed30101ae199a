"""Class-conditional GANs: models, the training step, runs from labelled folders, sampling by
class, and per-class evaluation."""
import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from deepdeconv import rundir
from deepdeconv.config import TrainConfig
from deepdeconv.errors import UserError
from deepdeconv.gan import build_gan
from deepdeconv.models import build_discriminator, build_generator
from helpers import tiny_config

CLASSES = ("ant", "bee", "cat")


# --- models ----------------------------------------------------------------------------------

def _randomize_class_tables(generator, seed=0):
    """Gives every class its own code, gains and biases, as training would.

    They start almost equal on purpose (a small class code lets the latent drive the first
    layer), so an untrained generator's classes differ only slightly.
    """
    rng = np.random.RandomState(seed)
    for v in generator.weights:
        if any(part in v.path for part in ("class_embedding/", "_gamma/", "_beta/")):
            v.assign(rng.normal(1.0 if "_gamma/" in v.path else 0.0, 0.5, v.shape).astype("float32"))


def test_generator_output_depends_on_the_class_for_the_same_latent():
    g = build_generator(32, 1, z_dim=8, width=0.125, num_classes=3)
    _randomize_class_tables(g)
    z = np.random.RandomState(0).randn(2, 8).astype("float32")
    same_z = g([np.repeat(z[:1], 3, axis=0), np.arange(3)], training=True).numpy()
    same_class = g([z, np.zeros(2, "int32")], training=True).numpy()
    class_change = np.abs(same_z[0] - same_z[1]).mean()
    latent_change = np.abs(same_class[0] - same_class[1]).mean()
    # A new class must move the image about as much as a new latent does, not merely by round-off.
    assert class_change > 0.1 * latent_change > 0
    again = g([np.repeat(z[:1], 3, axis=0), np.arange(3)], training=True).numpy()
    np.testing.assert_array_equal(same_z, again)


def test_conditional_generator_uses_conditional_batch_norm_in_every_upsampling_block():
    g = build_generator(64, 3, z_dim=8, width=0.125, num_classes=5)
    assert [tuple(t.shape) for t in g.inputs] == [(None, 8), (None,)]
    assert g.outputs[0].shape[1:] == (64, 64, 3)
    for res in (8, 16, 32, 64):
        bn = g.get_layer(f"up{res}_bn")
        assert not bn.center and not bn.scale  # the per-class tables do the affine part
        assert g.get_layer(f"up{res}_bn_gamma").embeddings.shape == (5, bn.input.shape[-1])


@pytest.mark.parametrize("norm", ["none", "batch", "spectral"])
def test_projection_discriminator_gives_one_logit_per_image_and_label(norm):
    d = build_discriminator(32, 3, width=0.0625, norm=norm, num_classes=4)
    x = np.random.RandomState(0).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    logits = d([x, np.array([0, 1, 3])], training=True)
    assert logits.shape == (3, 1) and logits.dtype == "float32"


def test_projection_logit_is_linear_term_plus_embedding_dot_features():
    d = build_discriminator(32, 1, width=0.0625, num_classes=3)
    embed = d.get_layer("class_projection").kernel  # [classes, features]: row y is embed(y)
    embed.assign(np.random.RandomState(1).randn(*embed.shape).astype("float32"))  # make the term visible
    features = keras.Model(d.inputs, d.get_layer("logit").input)
    x = np.random.RandomState(0).uniform(-1, 1, (3, 32, 32, 1)).astype("float32")
    y = np.array([2, 0, 1])
    h = features([x, y]).numpy()
    w, b = d.get_layer("logit").get_weights()
    expected = h @ w + b + np.sum(embed.numpy()[y] * h, axis=1, keepdims=True)
    np.testing.assert_allclose(d([x, y]).numpy(), expected, rtol=1e-4, atol=1e-5)


# --- the training step -------------------------------------------------------------------------

def _labelled_batch(batch, classes=3, seed=0):
    rng = np.random.RandomState(seed)
    images = rng.uniform(-1, 1, (batch, 32, 32, 1)).astype("float32")
    return tf.constant(images), tf.constant(np.arange(batch) % classes, tf.int32)


@pytest.mark.filterwarnings("error:Gradients do not exist")  # every class table must get a gradient
@pytest.mark.parametrize("loss,extra", [("nsgan", {"r1_gamma": 1.0, "d_norm": "batch", "d_steps": 2}),
                                        pytest.param("hinge", {"d_norm": "spectral"}, marks=pytest.mark.slow),
                                        pytest.param("wgan-gp", {}, marks=pytest.mark.slow)])
def test_conditional_step_trains_class_tables_with_every_loss(tmp_path, loss, extra):
    config = tiny_config(tmp_path, channels=1, conditional=True, class_names=CLASSES, loss=loss, **extra)
    gan = build_gan(config)
    tables = [v for model in (gan.generator, gan.discriminator) for v in model.trainable_weights
              if any(name in v.path for name in ("class_embedding/", "class_projection/"))]
    before = [v.numpy().copy() for v in tables]
    logs = gan.train_step(_labelled_batch(config.batch * config.d_steps))
    assert all(np.isfinite(float(v)) for v in logs.values())
    # Both networks learn their class tables, so the labels did reach G and D.
    assert len(tables) == 2 and all(not np.array_equal(b, v.numpy()) for b, v in zip(before, tables))
    if loss == "wgan-gp" or extra.get("r1_gamma"):
        assert float(logs["penalty"]) > 0


def test_conditional_step_refuses_batches_without_labels(tmp_path):
    gan = build_gan(tiny_config(tmp_path, channels=1, conditional=True, class_names=CLASSES))
    with pytest.raises(ValueError, match="needs \\(images, labels\\)"):
        gan.train_step(_labelled_batch(8)[0])


# --- runs from a labelled folder, and sampling by class -----------------------------------------

def _labelled_folder(root):
    """Classes as subfolders given out of order, one with a nested folder: cat/, ant/, bee/deep/."""
    rng = np.random.RandomState(0)
    for i, rel in enumerate(["cat/a.png", "cat/b.png", "ant/a.png", "ant/b.png", "bee/deep/a.png",
                             "bee/deep/er/b.png"]):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.randint(0, 256, (8, 8), dtype=np.uint8)).save(path)
    return root


TINY = ["--width", "0.125", "--z-dim", "16", "--batch", "4", "--steps", "2", "--sample-every", "2",
        "--grid-size", "4", "--no-progress", "--no-mixed-precision"]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory):
    from deepdeconv.cli import train

    tmp = tmp_path_factory.mktemp("conditional")
    data = _labelled_folder(tmp / "pets")
    assert train.main(["--data", str(data), "--conditional", "--outdir", str(tmp / "runs"), *TINY]) == 0
    return next((tmp / "runs").iterdir())


@pytest.mark.slow
def test_conditional_run_saves_class_names_sorted_from_nested_subfolders(conditional_run):
    config = json.loads((conditional_run / rundir.CONFIG).read_text())
    assert config["conditional"] is True and config["class_names"] == list(CLASSES)
    assert (conditional_run / rundir.SAMPLES / "grid-000000002.png").is_file()


def _with_visible_images(run, tmp_path):
    """A copy of `run` whose generator draws high-contrast images that differ by class.

    Two steps leave the batch-norm moving statistics at their initial values, so inference
    gives images of almost exactly 0 (uint8 128) for every class; statistics taken from one
    batch give the untrained generator's full contrast.
    """
    copy = tmp_path / run.name
    shutil.copytree(run, copy)
    generator = keras.models.load_model(copy / rundir.GENERATOR_EMA)
    _randomize_class_tables(generator)
    for layer in generator.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.0
    generator([np.random.RandomState(0).randn(64, 16).astype("float32"), np.arange(64) % 3], training=True)
    generator.save(copy / rundir.GENERATOR_EMA)
    return copy


@pytest.mark.slow
def test_sampling_by_class_name_equals_sampling_by_index(conditional_run, tmp_path):
    from deepdeconv.cli import sample

    run = _with_visible_images(conditional_run, tmp_path)
    images = {}
    for chosen in ("bee", "1", "cat"):
        out = tmp_path / f"{chosen}.npz"
        assert sample.main(["grid", str(run), "--seeds", "0-3", "--class", chosen, "--npz", str(out)]) == 0
        images[chosen] = np.load(out)["images"]
    assert images["bee"].std() > 3  # not the flat grey (std < 1) that every class would share
    np.testing.assert_array_equal(images["bee"], images["1"])
    assert np.abs(images["cat"].astype(int) - images["bee"]).mean() > 1


@pytest.mark.slow
def test_checkpoint_rebuilds_the_same_conditional_generator_as_the_export(conditional_run):
    from deepdeconv.sampling.load import load_generator

    exported, _ = load_generator(conditional_run)
    rebuilt, _ = load_generator(conditional_run, checkpoint="latest")
    z, y = np.random.RandomState(0).randn(3, 16).astype("float32"), np.arange(3)
    np.testing.assert_allclose(exported.predict_on_batch([z, y]), rebuilt.predict_on_batch([z, y]), atol=1e-6)


@pytest.mark.slow
def test_unknown_class_name_is_refused_in_one_sentence_listing_the_classes(conditional_run):
    from deepdeconv.cli import sample

    with pytest.raises(UserError, match=r"^--class 'dog' is not a class of this generator; choose from "
                                        r"0=ant, 1=bee, 2=cat\.$"):
        sample.main(["grid", str(conditional_run), "--class", "dog"])


def test_class_on_an_unconditional_run_is_refused_in_one_sentence(tmp_path):
    from deepdeconv.cli import sample

    run = tmp_path / "00000-plain"
    (run / rundir.SAMPLES).mkdir(parents=True)
    TrainConfig(z_dim=8, channels=1).save(run / rundir.CONFIG)
    build_generator(32, 1, z_dim=8, width=0.125).save(run / rundir.GENERATOR_EMA)
    with pytest.raises(UserError, match=r"^--class needs a conditional generator, but this one is unconditional\.$"):
        sample.main(["grid", str(run), "--class", "1"])


def test_conditional_on_unlabelled_data_is_refused_in_one_sentence(tmp_path):
    from deepdeconv.cli import train

    for name in ("a.png", "b.png"):
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / name)
    with pytest.raises(UserError, match=r"--conditional needs labelled data.*subfolder\)\.$"):
        train.main(["--data", str(tmp_path), "--conditional", "--outdir", str(tmp_path / "runs"), *TINY])


# --- per-class evaluation ---------------------------------------------------------------------

# Real images of class c have mean pixel near CENTRES[c]; the stub generator draws class 2
# like class 1, so a correct evaluation finds two classes drawn right and one never drawn.
CENTRES = np.array([25.0, 191.0, 110.0])


def _stub_generator():
    z = keras.Input((4,))
    label = keras.Input((), dtype="int32")
    noise = keras.layers.Dense(64, kernel_initializer=keras.initializers.RandomNormal(0, 0.03), use_bias=False)(z)
    drawn = CENTRES[[0, 1, 1]] / 127.5 - 1
    level = keras.layers.Embedding(3, 64, embeddings_initializer=keras.initializers.Constant(
        np.repeat(drawn[:, None], 64, axis=1)))(label)
    return keras.Model([z, label], keras.layers.Reshape((8, 8, 1))(keras.layers.Add()([noise, level])))


class _StubClassifier:
    """Classifies by mean pixel value; features are (mean, std) of the pixels."""

    name, supervised, class_names = "stub", True, ["zero", "one", "two"]

    def describe(self):
        return {"network": self.name, "resize": "none"}

    def __call__(self, images):
        x = images.reshape(len(images), -1).astype(np.float64)
        mean = x.mean(axis=1)
        return {"logits": -np.abs(mean[:, None] - CENTRES[None, :]),
                "features": np.stack([mean, x.std(axis=1)], axis=1)}


def _real_source():
    from deepdeconv.data import ImageSource

    rng = np.random.RandomState(0)
    labels = np.arange(60) % 3
    pixels = np.clip(CENTRES[labels][:, None, None, None] + rng.randn(60, 8, 8, 1) * 4, 0, 255).astype(np.uint8)
    return ImageSource.from_arrays("stub", pixels, labels, class_names=("zero", "one", "two"))


def test_per_class_evaluation_finds_the_class_the_generator_never_draws():
    from deepdeconv.metrics.per_class import evaluate_per_class

    record = evaluate_per_class(_stub_generator(), _StubClassifier(), ("zero", "one", "two"), real=_real_source(),
                                num_per_class=20, batch_size=16, progress=False)
    assert record["accuracy"] == pytest.approx(2 / 3)
    assert record["classes_present"] == 2 and record["min_class_accuracy"] == 0.0
    per_class = record["per_class"]
    assert [per_class[c]["accuracy"] for c in ("zero", "one", "two")] == [1.0, 1.0, 0.0]
    assert per_class["two"]["cfid"] > 100 * max(per_class["zero"]["cfid"], per_class["one"]["cfid"])
    assert record["intra_cfid"] == pytest.approx(np.mean([per_class[c]["cfid"] for c in per_class]))


def test_per_class_evaluation_through_an_evaluator_uses_its_classifier_and_real_data():
    from deepdeconv.metrics.evaluator import Evaluator
    from deepdeconv.metrics.per_class import per_class_for_evaluator

    evaluator = Evaluator("cfid", _real_source(), networks={"classifier": _StubClassifier()}, progress=False)
    record = per_class_for_evaluator(evaluator, _stub_generator(), num_images=30)
    assert record["num_per_class"] == 10 and record["classes_present"] == 2
    assert set(record["per_class"]["zero"]) == {"accuracy", "cfid"}


def test_per_class_evaluation_refuses_a_classifier_of_other_classes():
    from deepdeconv.metrics.per_class import evaluate_per_class

    with pytest.raises(UserError, match=r"draws 3 classes \(ant, bee, cat\) but the classifier knows 3 "
                                        r"\(zero, one, two\)"):
        evaluate_per_class(_stub_generator(), _StubClassifier(), CLASSES)


def test_per_class_evaluation_refuses_an_unconditional_generator():
    from deepdeconv.metrics.per_class import evaluate_per_class

    with pytest.raises(UserError, match="needs a conditional generator"):
        evaluate_per_class(build_generator(32, 1, z_dim=4, width=0.125), _StubClassifier())


def _labelled_centres_folder(root, per_class=10):
    """Real images of the stub classes zero/one/two as class subfolders."""
    rng = np.random.RandomState(1)
    for c, name in enumerate(("zero", "one", "two")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(CENTRES[c] + rng.randn(8, 8) * 4, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def _evaluate_stub_generator(tmp_path, monkeypatch, capsys, real, metrics="cfid"):
    from deepdeconv.cli import evaluate
    from deepdeconv.metrics import evaluator

    monkeypatch.setattr(evaluator, "classifier_for", lambda *args, **kwargs: _StubClassifier())
    path = tmp_path / "generator.keras"
    _stub_generator().save(path)
    assert evaluate.main([str(path), "--real", str(real), "--metrics", metrics, "--num-gen", "30",
                          "--per-class", "60", "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return json.loads(lines[-1])


@pytest.mark.usefixtures("isolated_cache")
def test_evaluate_command_reports_per_class_accuracy_and_fid_of_a_conditional_generator(tmp_path, monkeypatch,
                                                                                         capsys):
    record = _evaluate_stub_generator(tmp_path, monkeypatch, capsys, _labelled_centres_folder(tmp_path / "real"))
    per_class = record["per_class"]
    assert per_class["num_per_class"] == 20 and per_class["classes_present"] == 2
    assert per_class["accuracy"] == pytest.approx(2 / 3)
    assert [per_class["per_class"][c]["accuracy"] for c in ("zero", "one", "two")] == [1.0, 1.0, 0.0]
    assert per_class["per_class"]["two"]["cfid"] > per_class["per_class"]["one"]["cfid"]


@pytest.mark.usefixtures("isolated_cache")
def test_evaluate_command_warns_that_per_class_results_need_labelled_real_images(tmp_path, monkeypatch, capsys):
    real = tmp_path / "flat"
    for path in _labelled_centres_folder(tmp_path / "real").rglob("*.png"):
        real.mkdir(exist_ok=True)
        shutil.copy(path, real / f"{path.parent.name}-{path.name}")
    record = _evaluate_stub_generator(tmp_path, monkeypatch, capsys, real)
    assert "per_class" not in record
    assert any("Per-class results need labelled real images" in text for text in record["warnings"])


@pytest.mark.usefixtures("isolated_cache")
def test_evaluate_command_reports_per_class_accuracy_without_real_image_metrics(tmp_path, monkeypatch, capsys):
    record = _evaluate_stub_generator(tmp_path, monkeypatch, capsys, _labelled_centres_folder(tmp_path / "real"),
                                      metrics="cis")
    per_class = record["per_class"]
    assert per_class["accuracy"] == pytest.approx(2 / 3) and per_class["classes_present"] == 2
    assert "intra_cfid" not in per_class and set(per_class["per_class"]["zero"]) == {"accuracy"}
