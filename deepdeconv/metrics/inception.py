"""The 2015-12-05 Inception graph that TTUR, TF-GAN and published FID/IS numbers use.

The frozen graph `classify_image_graph_def.pb` (inside `inception-2015-12-05.tgz`) is fed at
`ExpandDims:0` with float pixels in 0..255, NHWC, any size; the graph itself resizes to 299
with the TF1 bilinear resize and maps to [-1, 1] with (x - 128) / 128. We read `pool_3:0`
(2048 features) and compute the unbiased 1008-way logits `pool_3 @ W`, W being the weight input
of `softmax/logits/MatMul` (the bias is left out, as every Inception Score implementation does).

Where the file comes from, in order: `path` argument (`--inception`), `$DEEPDECONV_INCEPTION`,
the user cache, a download into the user cache. No reference implementation publishes a
checksum of this file, so the integrity check is trust-on-first-use unless
`PINNED_SHA256` is set: the first download records its sha256 beside the cached file and
every later load must match it. Results record the sha256 of the graph they used.
"""
import os
import shutil
import tarfile
import urllib.error
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path
from deepdeconv.cache import cache_dir, download, sha256_file
from deepdeconv.metrics import graph_guard
from deepdeconv.metrics.resize import Uint8Network

URL = "https://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
GRAPH_FILE = "classify_image_graph_def.pb"
ENV_VAR = "DEEPDECONV_INCEPTION"
NAME = "inception-2015-12-05"
RESIZE = "tf1-bilinear-299-in-graph"
# sha256 of classify_image_graph_def.pb. None: no published value could be found; set it
# from the `.sha256` file a first download records (see `graph_path`).
PINNED_SHA256 = None

INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"

_HOW_TO_GET = (f"download {URL} on a connected machine and pass the .tgz or the {GRAPH_FILE} inside it with "
               f"--inception PATH or ${ENV_VAR}, or use the offline classifier metrics (cfid, cis, ckid)")


def _cached_graph():
    return cache_dir("inception", GRAPH_FILE)


def _recorded_hash_path(pb_path):
    return Path(str(pb_path) + ".sha256")


def extract_graph(tgz_path, destination):
    """Extracts `classify_image_graph_def.pb` from the release archive to `destination`."""
    try:
        with tarfile.open(tgz_path, "r:*") as tar:
            member = next((m for m in tar.getmembers() if Path(m.name).name == GRAPH_FILE and m.isfile()), None)
            if member is None:
                raise UserError(f"{tgz_path} does not contain {GRAPH_FILE}; is it inception-2015-12-05.tgz?")
            with tar.extractfile(member) as src, atomic_path(destination) as tmp, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    except (tarfile.TarError, OSError) as e:
        raise UserError(f"{tgz_path} is not a readable .tgz archive ({e}).") from None
    return Path(destination)


def download_graph(destination=None, url=URL):
    """Downloads the release archive with a progress bar and extracts the graph into the cache.

    Returns:
        Path of the extracted `.pb`.
    """
    destination = Path(destination or _cached_graph())
    archive = destination.with_name("inception-2015-12-05.tgz")
    try:
        download(url, archive, desc="Downloading the Inception graph")
    except (OSError, urllib.error.URLError) as e:
        raise UserError(f"The Inception graph is not available and could not be downloaded ({e}); "
                        f"{_HOW_TO_GET}.") from None
    try:
        return extract_graph(archive, destination)
    finally:
        archive.unlink(missing_ok=True)


def verify_graph(pb_path, record=False):
    """Checks a graph file's sha256 against the pinned value or the one recorded at first download.

    Args:
        pb_path: the `.pb` file.
        record: store the hash when nothing is known yet (trust on first use).

    Returns:
        The file's sha256.
    """
    digest = sha256_file(pb_path)
    recorded = _recorded_hash_path(pb_path)
    expected = PINNED_SHA256 or (recorded.read_text().strip() if recorded.is_file() else None)
    if expected and digest != expected:
        raise UserError(f"{pb_path} has sha256 {digest} but {expected} was expected; delete it and download "
                        "the graph again.")
    if expected is None and record:
        with atomic_path(recorded) as tmp:
            tmp.write_text(digest + "\n")
        warnings.warn(f"No published checksum exists for {GRAPH_FILE}; recorded its sha256 {digest} in {recorded} "
                      "and every later load will be checked against it (trust on first use).", stacklevel=2)
    return digest


def graph_path(path=None, download=True):
    """Finds the Inception `.pb`: option, environment variable, cache, then download.

    A `.tgz` given by the user is extracted into the cache once (keyed by its hash).

    Args:
        path: a `.pb`, the `.tgz`, or a folder holding the `.pb`, given explicitly
            (`--inception`), or None.
        download: whether to download when nothing local is found.

    Returns:
        (path to the .pb, its sha256).
    """
    given = path or os.environ.get(ENV_VAR)
    if given:
        given = Path(given).expanduser()
        origin = "--inception" if path else f"${ENV_VAR}"
        if given.is_dir():  # TTUR's --inception names the folder holding the .pb
            given = given / GRAPH_FILE
        if not given.is_file():
            raise UserError(f"The Inception graph {given} given by {origin} does not exist.")
        if given.suffix == ".pb":
            return given, verify_graph(given)
        extracted = cache_dir("inception", f"from-{sha256_file(given)[:16]}", GRAPH_FILE)
        if not extracted.is_file():
            extract_graph(given, extracted)
        return extracted, verify_graph(extracted)
    cached = _cached_graph()
    if cached.is_file():
        return cached, verify_graph(cached)
    if not download:
        raise UserError(f"The Inception graph is not available; {_HOW_TO_GET}.")
    return cached, verify_graph(download_graph(cached), record=True)


def read_graph_def(pb_path):
    """Parses a frozen GraphDef; UserError when it is not the expected Inception graph."""
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(Path(pb_path).read_bytes())
    except Exception as e:  # protobuf raises its own DecodeError
        raise UserError(f"{pb_path} is not a TensorFlow GraphDef ({e}).") from None
    names = {node.name for node in graph_def.node}
    missing = [n for n in ("ExpandDims", "pool_3", LOGITS_MATMUL) if n not in names]
    if missing:
        raise UserError(f"{pb_path} has no {', '.join(missing)} node(s); it is not the 2015-12-05 Inception graph.")
    return graph_def


def _tensor_name(input_name):
    name = input_name.lstrip("^")
    return name if ":" in name else name + ":0"


def _const_node(name, value):
    node = tf.compat.v1.NodeDef(name=name, op="Const")
    node.attr["dtype"].type = tf.float32.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(np.float32(value)))
    return node


def _binary_node(name, op, a, b, dtype_attr):
    node = tf.compat.v1.NodeDef(name=name, op=op, input=[a, b])
    node.attr["T"].CopyFrom(dtype_attr)
    return node


def replace_old_batch_norms(graph_def):
    """Rewrites `BatchNormWithGlobalNormalization` nodes into Sub/Mul/Add/Rsqrt, in place.

    The 2015 graph uses this op, which TensorFlow only runs inside graphs older than
    GraphDef version 9; a tf.function always has the current version. The replacement
    computes what the kernel computes, in the same order:
    (x - mean) * (rsqrt(var + eps) [* gamma]) + beta.
    """
    nodes = []
    for node in graph_def.node:
        if node.op != "BatchNormWithGlobalNormalization":
            nodes.append(node)
            continue
        x, mean, var, beta, gamma = node.input[:5]
        name, t = node.name, node.attr["T"]
        scale = f"{name}/_scale"
        nodes += [_const_node(f"{name}/_eps", node.attr["variance_epsilon"].f),
                  _binary_node(f"{name}/_var_eps", "AddV2", var, f"{name}/_eps", t),
                  tf.compat.v1.NodeDef(name=f"{name}/_rsqrt", op="Rsqrt", input=[f"{name}/_var_eps"], attr={"T": t})]
        if node.attr["scale_after_normalization"].b:
            nodes.append(_binary_node(scale, "Mul", f"{name}/_rsqrt", gamma, t))
        else:
            scale = f"{name}/_rsqrt"
        nodes += [_binary_node(f"{name}/_centred", "Sub", x, mean, t),
                  _binary_node(f"{name}/_scaled", "Mul", f"{name}/_centred", scale, t),
                  _binary_node(name, "AddV2", f"{name}/_scaled", beta, t)]
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    return graph_def


def _ancestors(graph_def, targets):
    """Names of `targets` and every node they depend on (data or control inputs)."""
    inputs = {node.name: [i.lstrip("^").split(":")[0] for i in node.input] for node in graph_def.node}
    keep, todo = set(), list(targets)
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(inputs[name])
    return keep


def _feature_graph_def(graph_def):
    """The part of the graph between `ExpandDims:0` (made a placeholder) and pool_3 / the logit weights.

    Cutting the JPEG decoder off and dropping the recorded `_output_shapes` (batch pinned to
    1) lets shape inference run afresh from our batched input, which is what TTUR's
    shape-patching loop achieves in TF1.
    """
    matmul = next(n for n in graph_def.node if n.name == LOGITS_MATMUL)
    weight_node = _tensor_name(matmul.input[1]).split(":")[0]
    cut = tf.compat.v1.GraphDef()
    cut.versions.CopyFrom(graph_def.versions)
    for node in graph_def.node:
        if node.name == "ExpandDims":
            new = cut.node.add()
            new.name = "ExpandDims"
            new.op = "Placeholder"
            new.attr["dtype"].type = tf.float32.as_datatype_enum
            continue
        new = cut.node.add()
        new.CopyFrom(node)
        if "_output_shapes" in new.attr:
            del new.attr["_output_shapes"]
    keep = _ancestors(cut, ["pool_3", weight_node])
    kept = tf.compat.v1.GraphDef()
    kept.versions.CopyFrom(cut.versions)
    kept.node.extend(node for node in cut.node if node.name in keep)
    return replace_old_batch_norms(kept), _tensor_name(matmul.input[1])


class InceptionNetwork(Uint8Network):
    """pool_3 features and unbiased logits of the 2015-12-05 Inception graph.

    Call it on uint8 batches [B, H, W, C] (C = 1 or 3, any H, W); it returns float32
    `features` [B, 2048] and `logits` [B, 1008].
    """

    name = NAME
    resize = RESIZE

    def __init__(self, path=None, download=True):
        pb_path, self.sha256 = graph_path(path, download)
        self.path = str(pb_path)
        graph_def, weight_tensor = _feature_graph_def(graph_guard.without_control_inputs(read_graph_def(pb_path)))
        shape = graph_guard.check_feature_graph(graph_def, "ExpandDims", "pool_3", weight_tensor, pb_path)
        self.unverified = graph_guard.unverified_reason(self.sha256, PINNED_SHA256, shape)

        def imported(pixels):
            pool3, weights = tf.compat.v1.import_graph_def(
                graph_def, input_map={INPUT_TENSOR: pixels}, return_elements=[FEATURE_TENSOR, weight_tensor],
                name="FID_Inception_Net")
            features = tf.reshape(pool3, [tf.shape(pixels)[0], -1])
            return features, tf.matmul(features, weights)

        self.forward_float = tf.compat.v1.wrap_function(imported, [tf.TensorSpec([None, None, None, 3], tf.float32)])

    def describe(self):
        """What a result records about this network."""
        out = {"network": self.name, "resize": self.resize, "network_sha256": self.sha256,
               "network_verified": not self.unverified}
        if self.unverified:
            out["network_note"] = f"unverified graph: {self.unverified}"
        return out
