"""The 2015-12-05 Inception graph that TTUR, TF-GAN and published FID/IS numbers use, as a network.

The frozen graph `classify_image_graph_def.pb` (inside `inception-2015-12-05.tgz`) is fed at
`ExpandDims:0` with float pixels in 0..255, NHWC, any size; the graph itself resizes to 299
with the TF1 bilinear resize and maps to [-1, 1] with (x - 128) / 128. We read `pool_3:0`
(2048 features) and compute the unbiased 1008-way logits `pool_3 @ W`, W being the weight input
of `softmax/logits/MatMul` (the bias is left out, as every Inception Score implementation does).
This module cuts and rewrites the graph so TensorFlow 2 runs it batched; where the file comes
from and how it is checked is `inception_file`.
"""
from pathlib import Path

import numpy as np
import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.metrics import graph_guard, inception_file
from deepdeconv.metrics.resize import Uint8Network

NAME = "inception-2015-12-05"
RESIZE = "tf1-bilinear-299-in-graph"

INPUT_TENSOR = "ExpandDims:0"
FEATURE_TENSOR = "pool_3:0"
LOGITS_MATMUL = "softmax/logits/MatMul"


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
        pb_path, self.sha256 = inception_file.graph_path(path, download)
        self.path = str(pb_path)
        graph_def, weight_tensor = _feature_graph_def(graph_guard.without_control_inputs(read_graph_def(pb_path)))
        shape = graph_guard.check_feature_graph(graph_def, "ExpandDims", "pool_3", weight_tensor, pb_path)
        self.unverified = graph_guard.unverified_reason(self.sha256, inception_file.PINNED_SHA256, shape)

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
