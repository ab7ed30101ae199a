"""The Inception graph loader on a small GraphDef built here with the real graph's tensor names."""
import hashlib
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.metrics import inception, inception_file
from deepdeconv.metrics.resize import legacy_resize

from fake_inception import CLASSES, FEATURES, write_fake_inception_graph


@pytest.fixture(scope="module")
def fake_graph(tmp_path_factory):
    return write_fake_inception_graph(tmp_path_factory.mktemp("inception"))


@pytest.fixture(autouse=True)
def _no_local_graph(isolated_cache, monkeypatch):
    monkeypatch.delenv(inception_file.ENV_VAR, raising=False)


def _reference_outputs(graph, images):
    """One image at a time through a TF1 session, as the graph was built to be used."""
    feats, logits = [], []
    with tf.compat.v1.Session(graph=graph) as sess:
        for image in images:
            f, l = sess.run(["pool_3:0", "softmax/logits/MatMul:0"],
                            {"ExpandDims:0": image[None].astype(np.float32)})
            feats.append(f.reshape(-1))
            logits.append(l.reshape(-1))
    return np.stack(feats), np.stack(logits)


def test_loader_gives_batched_pool3_features_and_unbiased_logits(fake_graph):
    graph, path = fake_graph
    images = np.random.default_rng(1).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    net = inception.InceptionNetwork(path=path, download=False)
    out = net(images)
    want_features, want_logits = _reference_outputs(graph, images)
    assert out["features"].shape == (5, FEATURES) and out["logits"].shape == (5, CLASSES)
    np.testing.assert_allclose(out["features"], want_features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["logits"], want_logits, rtol=1e-5, atol=1e-4)
    assert net.describe()["network_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_grayscale_batches_are_repeated_to_rgb(fake_graph):
    _, path = fake_graph
    gray = np.random.default_rng(2).integers(0, 256, (3, 9, 9, 1), dtype=np.uint8)
    net = inception.InceptionNetwork(path=path, download=False)
    np.testing.assert_allclose(net(gray)["features"], net(np.repeat(gray, 3, axis=-1))["features"], rtol=1e-6)


def test_tgz_from_environment_variable_is_extracted_and_loaded(fake_graph, tmp_path, monkeypatch):
    _, path = fake_graph
    archive = tmp_path / "inception-2015-12-05.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(path, arcname=f"./{inception_file.GRAPH_FILE}")
    monkeypatch.setenv(inception_file.ENV_VAR, str(archive))
    pb, digest = inception_file.graph_path(download=False)
    assert pb.read_bytes() == path.read_bytes() and pb.is_relative_to(tmp_path / "cache")


def test_a_folder_holding_the_graph_is_accepted_like_ttur(fake_graph):
    _, path = fake_graph
    assert inception_file.graph_path(path.parent, download=False)[0] == path


def test_missing_graph_offline_is_one_sentence_saying_how_to_get_it():
    with pytest.raises(UserError, match=r"--inception PATH or \$DEEPDECONV_INCEPTION"):
        inception_file.graph_path(download=False)
    with pytest.raises(UserError, match="does not exist"):
        inception_file.graph_path("/nonexistent/classify_image_graph_def.pb")


def test_download_failure_is_a_user_error(monkeypatch):
    monkeypatch.setattr(inception_file, "URL", "http://127.0.0.1:9/inception-2015-12-05.tgz")
    with pytest.raises(UserError, match="could not be downloaded"):
        inception_file.download_graph(url=inception_file.URL)


def test_recorded_hash_mismatch_is_refused(fake_graph, tmp_path):
    _, path = fake_graph
    copy = tmp_path / inception_file.GRAPH_FILE
    copy.write_bytes(path.read_bytes())
    with pytest.warns(UserWarning, match="trust on first use"):
        inception_file.verify_graph(copy, record=True)
    inception_file.verify_graph(copy)  # unchanged file: accepted
    copy.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(UserError, match="sha256"):
        inception_file.verify_graph(copy)


def test_a_graph_without_the_inception_tensors_is_refused(tmp_path):
    graph = tf.Graph()
    with graph.as_default():
        tf.constant(1.0, name="something_else")
    path = tmp_path / "other.pb"
    path.write_bytes(graph.as_graph_def().SerializeToString())
    with pytest.raises(UserError, match="not the 2015-12-05 Inception graph"):
        inception.InceptionNetwork(path=path)


def test_legacy_resize_matches_tf1_resize_bilinear_without_half_pixel_centres():
    x = tf.constant(np.random.default_rng(3).uniform(0, 255, (2, 7, 11, 3)).astype(np.float32))
    want = tf.compat.v1.image.resize_bilinear(x, [299, 299], align_corners=False, half_pixel_centers=False)
    got = legacy_resize(x, (299, 299))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-4)
    # The TF2 resizer samples at half-pixel centres: a different image, hence a different FID.
    assert np.abs(tf.image.resize(x, [299, 299]).numpy() - want.numpy()).max() > 1.0


@pytest.mark.slow
def test_keras_inception_alternative_gives_2048_features_and_1000_logits():
    from deepdeconv.metrics.keras_inception import KerasInceptionNetwork

    net = KerasInceptionNetwork(weights=None)  # random weights: no download in tests
    out = net(np.zeros((2, 20, 20, 1), np.uint8))
    assert out["features"].shape == (2, 2048) and out["logits"].shape == (2, 1000)
    assert net.describe()["network"] == "keras-inception-v3"
