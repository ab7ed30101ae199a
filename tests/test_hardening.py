"""Hostile inputs and limits (issue 13): each refused with one sentence, nothing written outside."""
import uuid
from pathlib import Path

import pytest
import tensorflow as tf

from deepdeconv import remote
from deepdeconv.errors import UserError
from deepdeconv.paths import safe_join

pytestmark = pytest.mark.usefixtures("isolated_cache")


def _put(url, data):
    tf.io.gfile.makedirs(url.rsplit("/", 1)[0])
    with tf.io.gfile.GFile(url, "wb") as f:
        f.write(data)


def test_a_bucket_object_climbing_out_of_the_staging_folder_is_refused_and_nothing_is_written(tmp_path):
    bucket = f"ram://bucket-{uuid.uuid4().hex[:8]}"
    escaped_dir = Path("/tmp/x")
    escaped = escaped_dir / f"ESCAPED-{uuid.uuid4().hex[:8]}.png"
    _put(f"{bucket}/data/good/1.png", b"png")
    _put(f"{bucket}/data/a/../../../../../..{escaped}", b"evil")
    local = tmp_path / "stage"
    with pytest.raises(UserError, match=r"Refusing .*ESCAPED.* outside"):
        remote.download_tree(f"{bucket}/data", local, progress=False)
    assert not escaped.exists()
    assert not (local / "good" / "1.png").exists()  # refused before anything is fetched


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a/../../x", "", "a/.."])
def test_safe_join_refuses_names_outside_the_folder(tmp_path, name):
    with pytest.raises(UserError, match="outside"):
        safe_join(tmp_path, name, "gs://b/run")


def test_safe_join_keeps_nested_names(tmp_path):
    assert safe_join(tmp_path, "cats/1.png") == tmp_path / "cats" / "1.png"


def test_a_launch_with_a_stale_listing_does_not_take_a_claimed_run_number(monkeypatch):
    """The second launch's listing predates the first claim (as a delayed listing would)."""
    outdir = f"ram://bucket-{uuid.uuid4().hex[:8]}/runs"
    tf.io.gfile.makedirs(outdir)
    first = remote.claim_run(outdir, "x")
    assert remote.basename(first) == "00000-x"
    real = remote.next_run_name
    stale = iter(["00000-x"])
    monkeypatch.setattr(remote, "next_run_name", lambda url, name: next(stale, None) or real(url, name))
    monkeypatch.setattr(remote.time, "sleep", lambda s: None)
    second = remote.claim_run(outdir, "x")
    assert remote.basename(second) == "00001-x"
    assert len(remote._claims(outdir, "00000")) == 1  # the loser withdrew its marker, the winner kept its own


def test_two_launches_racing_for_one_number_never_both_win(monkeypatch):
    """Both write their markers before either lists: neither may keep the number alone."""
    outdir = f"ram://bucket-{uuid.uuid4().hex[:8]}/runs"
    tf.io.gfile.makedirs(outdir)
    tf.io.gfile.makedirs(f"{outdir}/00000-x")
    tf.io.gfile.makedirs(f"{outdir}/.claims")
    remote._write_text(f"{outdir}/.claims/00000-x.other", "other")  # a rival's marker, not yet withdrawn
    real = remote.next_run_name
    stale = iter(["00000-x"])  # both listed before either wrote
    monkeypatch.setattr(remote, "next_run_name", lambda url, name: next(stale, None) or real(url, name))
    monkeypatch.setattr(remote.time, "sleep", lambda s: None)
    assert remote.basename(remote.claim_run(outdir, "x")) == "00001-x"


def test_a_full_run_numbering_is_a_sentence_not_an_endless_loop(tmp_path):
    from deepdeconv import rundir

    (tmp_path / "99999-old").mkdir()
    with pytest.raises(UserError, match="99999"):
        rundir.create_run_dir(tmp_path, "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["99999-old"]


def _hostile_graph(tmp_path, change):
    from fake_inception import _fake_inception_graph_def

    _, graph_def = _fake_inception_graph_def()
    change(graph_def)
    path = tmp_path / "classify_image_graph_def.pb"
    path.write_bytes(graph_def.SerializeToString())
    return path


def test_a_graph_whose_pool3_depends_on_a_file_write_runs_without_writing(tmp_path, monkeypatch):
    import numpy as np

    from deepdeconv.metrics import inception, inception_file

    monkeypatch.delenv(inception_file.ENV_VAR, raising=False)
    target = tmp_path / "PWNED.txt"

    def add_write_file(graph_def):
        for name, value in (("evil/name", str(target).encode()), ("evil/data", b"owned")):
            node = graph_def.node.add(name=name, op="Const")
            node.attr["dtype"].type = tf.string.as_datatype_enum
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(value))
        graph_def.node.add(name="evil/write", op="WriteFile", input=["evil/name", "evil/data"])
        next(n for n in graph_def.node if n.name == "pool_3").input.append("^evil/write")

    path = _hostile_graph(tmp_path, add_write_file)
    net = inception.InceptionNetwork(path=path, download=False)
    out = net(np.zeros((2, 16, 16, 3), np.uint8))
    assert out["features"].shape == (2, 16) and not target.exists()
    described = net.describe()
    assert described["network_verified"] is False and "unverified graph" in described["network_note"]


def test_a_graph_with_an_op_outside_the_feature_path_allow_list_is_refused(tmp_path, monkeypatch):
    from deepdeconv.metrics import inception, inception_file

    monkeypatch.delenv(inception_file.ENV_VAR, raising=False)

    def swap_relu(graph_def):
        next(n for n in graph_def.node if n.name == "relu").op = "Relu6"

    with pytest.raises(UserError, match=r"refused: its feature path runs a Relu6 op \(relu\)"):
        inception.InceptionNetwork(path=_hostile_graph(tmp_path, swap_relu), download=False)


def test_a_graph_whose_pool3_ignores_the_input_is_refused(tmp_path, monkeypatch):
    from deepdeconv.metrics import inception, inception_file

    monkeypatch.delenv(inception_file.ENV_VAR, raising=False)

    def constant_features(graph_def):
        relu = next(n for n in graph_def.node if n.name == "relu")
        relu.input[0] = "conv/kernel"  # pool_3 of a constant: the same features whatever the images

    with pytest.raises(UserError, match="not an average pool computed from ExpandDims"):
        inception.InceptionNetwork(path=_hostile_graph(tmp_path, constant_features), download=False)


def _bomb_png(path, side=20000):
    """A PNG whose header claims side x side pixels (a few hundred bytes on disk)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


def test_evaluating_a_folder_with_a_decompression_bomb_skips_and_lists_it(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    from deepdeconv.metrics import sources

    folder = tmp_path / "fake"
    folder.mkdir()
    bomb = _bomb_png(folder / "a-bomb.png")
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(folder / f"img{i}.png")
    resolution = sources.folder_resolution(folder)
    stream = sources.data_stream(str(folder), resolution)
    assert resolution == 8 and stream.num_images == 3
    assert stream.reference["skipped"] == [str(bomb)]
    assert "skipped 1 image file" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_statistics_file_is_one_sentence(tmp_path, damage):
    import numpy as np

    from deepdeconv.metrics.stats import load_stats, save_stats

    path = tmp_path / "stats.npz"
    save_stats(path, np.zeros(4), np.eye(4), n=10)
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
    with pytest.raises(UserError, match=r"stats\.npz is not a readable \.npz statistics file"):
        load_stats(path)


def _images(folder, n=3, value=0):
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((8, 8), value + 40 * i, np.uint8)).save(folder / f"{i}.png")
    return folder


def test_a_folder_named_like_a_builtin_data_set_gets_its_own_cache_key(tmp_path, monkeypatch):
    from deepdeconv.fingerprint import source_key

    _images(tmp_path / "mnist")
    monkeypatch.chdir(tmp_path)
    assert source_key("mnist") == "mnist"  # the built-in wins, as in load_source
    folder_key = source_key("./mnist")
    assert folder_key != "mnist" and folder_key.startswith("mnist-")
    assert source_key(str(tmp_path / "mnist")) == folder_key  # spelled differently, same data


def test_cache_keys_change_with_the_data_and_with_the_folder(tmp_path):
    from deepdeconv.fingerprint import source_key

    a, b = _images(tmp_path / "one" / "cats"), _images(tmp_path / "two" / "cats")
    assert source_key(str(a)) != source_key(str(b))  # same name, same files, another folder
    before = source_key(str(a))
    _images(a / "more", n=1)
    assert source_key(str(a)) != before
    archive = tmp_path / "mnist.npz"
    archive.write_bytes(b"one")
    spec = f"mnist:{archive}"
    first = source_key(spec)
    archive.write_bytes(b"three")
    assert source_key(spec) != first and first.startswith("mnist-")


def test_the_classifier_network_is_part_of_the_statistics_cache_key():
    import keras

    from deepdeconv.metrics.classifier import ClassifierNetwork

    def network(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((8, 8, 1))
        features = keras.layers.Dense(4, name="features")(keras.layers.Flatten()(inputs))
        return ClassifierNetwork(keras.Model(inputs, keras.layers.Dense(3)(features)), {"key": "k", "task": "classes"})

    from deepdeconv.metrics.stats import _cache_path

    paths = [_cache_path(network(seed), "data-8px-1ch-n1") for seed in (0, 1)]
    assert paths[0] != paths[1]


def test_symlinked_class_folders_are_followed_and_a_link_loop_ends(tmp_path):
    from deepdeconv.data.folder import find_images

    elsewhere = _images(tmp_path / "elsewhere" / "dogs")
    data = tmp_path / "data"
    _images(data / "cats")
    (data / "dogs").symlink_to(elsewhere, target_is_directory=True)
    (data / "cats" / "loop").symlink_to(data, target_is_directory=True)
    found = [p.relative_to(data).as_posix() for p in find_images(data)]
    assert found == [f"{c}/{i}.png" for c in ("cats", "dogs") for i in range(3)]


def test_an_enormous_seed_range_is_refused_without_building_it():
    from deepdeconv.sampling import parse_seeds

    with pytest.raises(UserError, match=r"--seeds lists more than 10,000,000 seeds; .*--n N"):
        parse_seeds("0-4294967295")
    assert len(parse_seeds("0-9999")) == 10000


def test_a_home_relative_path_given_with_an_equals_sign_is_expanded():
    from deepdeconv.paths import expand_argv

    home = str(Path.home())
    assert expand_argv(["--outdir=~/runs", "~/data", "--name=a~b", "~other/x", "--x=~"]) == [
        f"--outdir={home}/runs", f"{home}/data", "--name=a~b", "~other/x", f"--x={home}"]
