"""The classifier feature network: trained on a labelled folder, cached, reused without training."""
import numpy as np
import pytest
from PIL import Image

from deepdeconv.metrics import classifier
from deepdeconv.fingerprint import source_key


pytestmark = pytest.mark.usefixtures("isolated_cache")


def _labelled_folder(root):
    rng = np.random.default_rng(0)
    for name, level in (("dark", 20), ("light", 230)):
        (root / name).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(level + rng.integers(-15, 15, (8, 8)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_classifier_is_trained_once_then_loaded_from_the_cache(tmp_path, monkeypatch):
    folder = _labelled_folder(tmp_path / "data")
    first = classifier.classifier_for(str(folder), 8, 1, steps=5, progress=False)
    assert first.supervised and first.class_names == ["dark", "light"]
    assert first.info["task"] == "classes" and first.info["num_train"] + first.info["num_val"] == 24
    cached = list((tmp_path / "cache" / "classifiers").glob("*/model.keras"))
    assert len(cached) == 1

    def no_training(*args, **kwargs):
        raise AssertionError("the cached classifier should have been used")

    monkeypatch.setattr(classifier, "train_classifier", no_training)
    second = classifier.classifier_for(str(folder), 8, 1, progress=False)
    images = np.random.default_rng(1).integers(0, 256, (3, 8, 8, 1), dtype=np.uint8)
    np.testing.assert_allclose(second(images)["features"], first(images)["features"], rtol=1e-5, atol=1e-6)
    assert second(images)["features"].shape == (3, classifier.FEATURE_DIM)


def test_changing_the_folder_changes_the_cache_key(tmp_path):
    folder = _labelled_folder(tmp_path / "data")
    before = source_key(folder)
    assert source_key(folder) == before and before.startswith("data-")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(folder / "dark" / "new.png")
    assert source_key(folder) != before
    assert source_key("digits") == "digits"


def test_rotation_task_labels_each_rotation():
    images = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4, 1)
    rotated, labels = classifier.rotation_task(images)
    assert rotated.shape == (8, 4, 4, 1) and list(labels) == [0, 0, 1, 1, 2, 2, 3, 3]
    np.testing.assert_array_equal(rotated[2], np.rot90(images[0], 1, axes=(0, 1)))


def test_images_of_another_size_or_channel_count_are_adapted(tmp_path):
    net = classifier.ClassifierNetwork(classifier.build_classifier(8, 1, 3), {"key": "k", "task": "classes"})
    out = net(np.zeros((2, 16, 16, 3), np.uint8))
    assert out["features"].shape == (2, classifier.FEATURE_DIM) and out["logits"].shape == (2, 3)
    assert net.describe()["resize"] == "tf1-bilinear-8"


@pytest.mark.slow
def test_classifier_fid_on_digits_is_small_for_real_halves_and_large_for_noise():
    from deepdeconv.data import ImageSource, load_source, real_uint8_batches
    from deepdeconv.metrics.evaluator import evaluate
    from deepdeconv.metrics.sources import source_stream

    net = classifier.classifier_for("digits", 16, 1, steps=150, progress=False)
    source = load_source("digits", 16, 1)
    images = np.concatenate(list(real_uint8_batches(source, 512)))
    order = np.random.RandomState(0).permutation(len(images))
    half_a, half_b = order[:898], order[898:1796]
    real_a = source_stream(ImageSource.from_arrays("a", images[half_a]))
    noise = np.random.RandomState(1).randint(0, 256, (898, 16, 16, 1)).astype(np.uint8)
    opts = dict(networks={"classifier": net}, progress=False)
    real_vs_real = evaluate(images[half_b], real_a, "cfid,cis", **opts)["metrics"]
    real_vs_noise = evaluate(noise, real_a, "cfid", **opts)["metrics"]["cfid"]
    assert net.info["val_accuracy"] > 0.7
    assert real_vs_noise > 20 * real_vs_real["cfid"]
    assert real_vs_real["cis"] > 5 and real_vs_real["classes_covered"] == 10


def test_a_classifier_near_chance_on_held_out_images_gets_a_warning_and_a_trained_one_none():
    rotation = {"val_accuracy": 0.25, "num_classes": 4, "task": "rotation", "data": "textures"}
    note = classifier.weak_classifier_note(rotation)
    assert "textures reached 25% accuracy on its rotation task against 25% by chance" in note
    # The threshold is 1.5x chance: 37.5% of four rotations, 15% of ten classes.
    assert classifier.weak_classifier_note({**rotation, "val_accuracy": 0.37}) is not None
    assert classifier.weak_classifier_note({**rotation, "val_accuracy": 0.38}) is None
    assert classifier.weak_classifier_note({"val_accuracy": 0.16, "num_classes": 10}) is None
    assert classifier.weak_classifier_note({"val_accuracy": None, "num_classes": 4}) is None


def test_measured_batch_statistics_are_each_layers_input_mean_and_variance_in_inference_mode():
    import keras

    inputs = keras.Input((1, 1, 2))
    first = keras.layers.BatchNormalization(epsilon=0.0, name="first")
    double = keras.layers.Dense(2, use_bias=False, kernel_initializer=keras.initializers.Constant([[2, 0], [0, 2]]))
    second = keras.layers.BatchNormalization(name="second")
    model = keras.Model(inputs, second(double(first(inputs))))
    # Channel 0 takes 1, 2, 6 (mean 3, variance 14/3); channel 1 takes 0, 0, 3 (mean 1, variance 2).
    images = np.array([[1, 0], [2, 0], [6, 3]], np.float32).reshape(3, 1, 1, 2)
    classifier.measure_batch_statistics(model, images, batch_size=2)  # two passes: 2 + 1 images
    np.testing.assert_allclose(first.moving_mean.numpy(), [3, 1], rtol=1e-6)
    np.testing.assert_allclose(first.moving_variance.numpy(), [14 / 3, 2], rtol=1e-6)
    # The second layer sees the first one's output under the new statistics: 2 * standardised.
    np.testing.assert_allclose(second.moving_mean.numpy(), [0, 0], atol=1e-6)
    np.testing.assert_allclose(second.moving_variance.numpy(), [4, 4], rtol=1e-5)


def test_a_trained_classifier_keeps_the_batch_statistics_of_its_training_images(tmp_path):
    import keras

    from deepdeconv.data import load_source

    images, labels = classifier._labelled_arrays(load_source(str(_labelled_folder(tmp_path / "data")), 8, 1))
    model, info = classifier.train_classifier(images, labels, 2, steps=3, progress=False)
    train = np.random.RandomState(0).permutation(len(images))[info["num_val"]:]  # train_classifier's split
    layer = model.get_layer("down0_bn")
    inputs = keras.Model(model.inputs, layer.input)(classifier.from_uint8(images[train])).numpy()
    np.testing.assert_allclose(layer.moving_mean.numpy(), inputs.mean((0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), inputs.var((0, 1, 2)), rtol=1e-3, atol=1e-6)
