"""evaluate(): one pass per image set, real statistics cached, records that say what was measured."""
import numpy as np
import pytest
from PIL import Image

from deepdeconv.data import ImageSource, real_uint8_batches
from deepdeconv.errors import UserError
from deepdeconv.metrics.classifier import ClassifierNetwork, build_classifier, train_classifier
from deepdeconv.metrics.evaluator import Evaluator, evaluate
from deepdeconv.metrics.fid import frechet_distance
from deepdeconv.metrics.inception import InceptionNetwork
from deepdeconv.metrics.inception_score import inception_score
from deepdeconv.metrics.sources import prefetched, source_stream
from deepdeconv.metrics.stats import save_stats
from fake_inception import FEATURES, write_fake_inception_graph


pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture(scope="module")
def graph_path(tmp_path_factory):
    return write_fake_inception_graph(tmp_path_factory.mktemp("graph"))[1]


def _images(n, seed, side=16, channels=3, bright=0):
    rng = np.random.default_rng(seed)
    return np.clip(rng.integers(0, 200, (n, side, side, channels)) + bright, 0, 255).astype(np.uint8)


def _folder(tmp_path, images):
    folder = tmp_path / "real"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(folder / f"{i:04d}.png")
    return folder


class _Counting:
    """Wraps a network to count the images it sees."""

    def __init__(self, net):
        self.net, self.seen = net, 0
        self.name, self.describe = net.name, net.describe

    def __call__(self, images):
        self.seen += len(images)
        return self.net(images)


def test_one_record_with_every_inception_metric_consistent_with_the_formulas(graph_path):
    real, fake = _images(60, 0), _images(50, 1, bright=40)
    net = InceptionNetwork(graph_path)
    record = evaluate(fake, real, "fid,is,kid,pr", inception=graph_path, batch_size=16, progress=False,
                      kid_subset_size=20, kid_subsets=5)
    f_real, f_fake = net(real)["features"].astype(np.float64), net(fake)["features"].astype(np.float64)
    want_fid = frechet_distance(f_real.mean(0), np.cov(f_real, rowvar=False),
                                f_fake.mean(0), np.cov(f_fake, rowvar=False))
    m = record["metrics"]
    assert m["fid"] == pytest.approx(want_fid, rel=1e-6)
    assert m["is"] == pytest.approx(inception_score(net(fake)["logits"])[0], rel=1e-6)
    assert {"kid", "kid_std", "pr", "pr_precision", "pr_recall"} <= set(m)
    assert record["n_real"] == 60 and record["n_fake"] == 50
    assert record["network"] == "inception-2015-12-05" and record["resize"] == "tf1-bilinear-299-in-graph"
    assert record["networks"]["fid"]["network_sha256"] == net.sha256
    assert record["real"] and record["fake"]


def test_real_statistics_are_cached_per_dataset_resolution_and_network(graph_path, tmp_path):
    folder = _folder(tmp_path, _images(40, 2, channels=1))
    fake = _images(30, 3, channels=1)
    first = _Counting(InceptionNetwork(graph_path))
    a = Evaluator("fid", str(folder), resolution=16, channels=1, networks={"inception": first}, progress=False)
    r1 = a.evaluate(fake)
    assert first.seen == 40 + 30
    assert len(list((tmp_path / "cache" / "stats").glob("*.npz"))) == 1
    second = _Counting(InceptionNetwork(graph_path))
    b = Evaluator("fid", str(folder), resolution=16, channels=1, networks={"inception": second}, progress=False)
    r2 = b.evaluate(fake)
    assert second.seen == 30  # real images not read again
    assert r2["metrics"]["fid"] == pytest.approx(r1["metrics"]["fid"], rel=1e-12)
    assert r1["real"]["data"] == str(folder) and r1["n_real"] == 40


def test_a_ttur_stats_file_gives_the_same_fid_as_the_images(graph_path, tmp_path):
    real, fake = _images(40, 4), _images(40, 5)
    feats = InceptionNetwork(graph_path)(real)["features"].astype(np.float64)
    np.savez(tmp_path / "ref.npz", mu=feats.mean(0), sigma=np.cov(feats, rowvar=False))
    from_file = evaluate(fake, str(tmp_path / "ref.npz"), "fid", inception=graph_path, progress=False)
    from_images = evaluate(fake, real, "fid", inception=graph_path, progress=False)
    assert from_file["metrics"]["fid"] == pytest.approx(from_images["metrics"]["fid"], rel=1e-6)
    assert from_file["real"] == {"stats": str(tmp_path / "ref.npz")} and from_file["n_real"] is None
    with pytest.raises(UserError, match="needs real images"):
        evaluate(fake, str(tmp_path / "ref.npz"), "kid", inception=graph_path, progress=False)


def test_few_samples_are_reported_not_fatal(graph_path):
    record = evaluate(_images(10, 6), _images(12, 7), "fid", inception=graph_path, progress=False)
    assert np.isfinite(record["metrics"]["fid"])
    assert any(f"{FEATURES}-dimensional" in w for w in record["warnings"])


@pytest.fixture(scope="module")
def labelled_source():
    # Three visually distinct classes so a few dozen steps separate them.
    rng = np.random.default_rng(8)
    labels = np.arange(240) % 3
    images = np.zeros((240, 16, 16, 1), np.uint8)
    images[labels == 1] = 255
    images[labels == 2, ::2] = 255
    images = np.clip(images.astype(int) + rng.integers(-20, 20, images.shape), 0, 255).astype(np.uint8)
    return ImageSource.from_arrays("toy", images, labels, class_names=("dark", "bright", "stripes"))


@pytest.fixture(scope="module")
def toy_classifier(labelled_source):
    images = np.concatenate(list(real_uint8_batches(labelled_source, 256)))
    model, info = train_classifier(images, labelled_source._labels, 3, steps=40, progress=False)
    return ClassifierNetwork(model, dict(info, key="toy", task="classes", class_names=["dark", "bright", "stripes"]))


@pytest.mark.slow
def test_classifier_metrics_and_mode_coverage(labelled_source, toy_classifier):
    only_bright = np.full((60, 16, 16, 1), 250, np.uint8)
    record = evaluate(only_bright, source_stream(labelled_source), "cfid,cis,ckid", progress=False,
                      networks={"classifier": toy_classifier}, kid_subset_size=50, kid_subsets=3)
    m = record["metrics"]
    assert m["classes_covered"] == 1 and m["class_histogram"]["bright"] == 60
    assert m["cis"] == pytest.approx(1.0, abs=0.05)  # one class only: no diversity
    assert record["network"] == "classifier-toy" and m["cfid"] > 0
    real_again = evaluate(labelled_source._store.pixels[::-1].copy(), source_stream(labelled_source), "cfid,cis",
                          progress=False, networks={"classifier": toy_classifier})
    assert real_again["metrics"]["cfid"] < m["cfid"] / 10
    assert real_again["metrics"]["classes_covered"] == 3


def test_classifier_is_without_labels_is_a_user_error():
    unlabelled = ImageSource.from_arrays("plain", _images(32, 9, channels=1))
    rotation = ClassifierNetwork(build_classifier(16, 1, 4), {"key": "plain", "task": "rotation"})
    ev = Evaluator("cfid,cis", source_stream(unlabelled), progress=False)
    with pytest.raises(UserError, match="cis needs labelled data"):
        ev._checked_classifier(rotation)


def test_unknown_metric_is_a_user_error():
    with pytest.raises(UserError, match="unknown metric 'fdi'"):
        Evaluator("fid,fdi", _images(4, 0))


def test_missing_inception_graph_names_the_way_out(monkeypatch):
    monkeypatch.delenv("DEEPDECONV_INCEPTION", raising=False)
    with pytest.raises(UserError, match="cfid"):
        evaluate(_images(4, 0), _images(4, 1), "fid", download=False, progress=False)


def test_prefetched_passes_errors_through():
    def broken():
        yield np.zeros((1, 4, 4, 3), np.uint8)
        raise RuntimeError("decoder failed")

    with pytest.raises(RuntimeError, match="decoder failed"):
        list(prefetched(broken()))


def test_stats_file_of_another_network_is_refused(graph_path, tmp_path):
    save_stats(tmp_path / "k.npz", np.zeros(FEATURES), np.eye(FEATURES), n=10, network="keras-inception-v3")
    with pytest.raises(UserError, match="holds keras-inception-v3 statistics"):
        evaluate(_images(20, 0), str(tmp_path / "k.npz"), "fid", inception=graph_path, progress=False)


def test_too_few_samples_for_inception_score_is_a_user_error(graph_path):
    with pytest.raises(UserError, match="is: Inception Score with 10 splits needs at least 10 samples"):
        evaluate(_images(5, 0), None, "is", inception=graph_path, progress=False)


def test_network_option_maps_metric_names_to_another_family():
    from deepdeconv.metrics.registry import parse_metrics, with_network

    metrics = parse_metrics("fid, is,fid")
    assert [m.name for m in metrics] == ["fid", "is"]
    assert [m.name for m in with_network(metrics, "classifier")] == ["cfid", "cis"]
    assert [m.name for m in with_network(metrics, "keras")] == ["fid_keras", "is_keras"]
    assert metrics[1].higher_is_better and not metrics[0].higher_is_better


def test_inception_score_alone_does_not_load_real_images(graph_path):
    ev = Evaluator("is", "no-such-dataset-is-loaded", inception=graph_path, progress=False)
    assert ev.real is None
    assert ev.evaluate(_images(20, 1))["metrics"]["is"] >= 1.0
