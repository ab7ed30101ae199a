"""What a frozen Inception graph may contain before it is run.

A GraphDef is a program: importing and running it executes every op it holds, including
file writes (`WriteFile`), reads, Python callbacks or network ops, and a control dependency
(`^name` input) runs a node nobody asked for. The feature path of the 2015-12-05 graph needs
only arithmetic on constants, so the graph is cut to that path, control dependencies are dropped
(the 2015 graph's own only guard `CheckNumerics` before each layer, which computes nothing), and
any other op type is refused.
"""
import tensorflow as tf

from deepdeconv.errors import UserError

# Op types on the path ExpandDims -> pool_3 and the logit weights of the 2015 graph, before and
# after `inception.replace_old_batch_norms` rewrites its deprecated batch norms.
ALLOWED_OPS = frozenset({
    "Const", "Placeholder", "Identity", "ResizeBilinear", "Sub", "Mul", "Add", "AddV2", "Rsqrt", "Conv2D",
    "BatchNormWithGlobalNormalization", "BiasAdd", "Relu", "MaxPool", "AvgPool", "Concat", "ConcatV2", "Reshape",
})
FEATURES, CLASSES = 2048, 1008  # pool_3 width and logit count of the 2015-12-05 graph


def without_control_inputs(graph_def):
    """A copy of `graph_def` whose nodes keep their data inputs only (no `^name` inputs)."""
    out = tf.compat.v1.GraphDef()
    out.CopyFrom(graph_def)
    for node in out.node:
        data = [name for name in node.input if not name.startswith("^")]
        del node.input[:]
        node.input.extend(data)
    return out


def _ancestors(nodes, start):
    inputs = {name: [i.split(":")[0] for i in node.input] for name, node in nodes.items()}
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name not in seen and name in inputs:
            seen.add(name)
            todo.extend(inputs[name])
    return seen


def check_feature_graph(graph_def, input_name, feature_name, weight_tensor, source):
    """Refuses a feature graph that runs anything but the Inception computation.

    Args:
        graph_def: the graph cut to the feature path (input made a placeholder).
        input_name, feature_name: the input and pool_3 node names.
        weight_tensor: "name:0" of the logit weight matrix.
        source: the file to name in errors.

    Returns:
        (features, classes): the logit weight matrix's shape, which the 2015 graph has as
        (2048, 1008).

    Raises:
        UserError: an op outside `ALLOWED_OPS`, a control dependency, a pool_3 that does not
            depend on the input or is not an average pool, or a weight that is not a 2-D constant.
    """
    nodes = {node.name: node for node in graph_def.node}
    for node in graph_def.node:
        if node.op not in ALLOWED_OPS:
            raise UserError(f"{source} is refused: its feature path runs a {node.op} op ({node.name}), which the "
                            "2015-12-05 Inception graph does not have.")
        if any(name.startswith("^") for name in node.input):
            raise UserError(f"{source} is refused: node {node.name} has a control dependency.")
    feature = nodes.get(feature_name)
    if feature is None or feature.op != "AvgPool" or input_name not in _ancestors(nodes, feature_name):
        raise UserError(f"{source} is refused: {feature_name} is not an average pool computed from {input_name}.")
    placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
    if placeholders != [input_name]:
        raise UserError(f"{source} is refused: it takes inputs other than {input_name} ({', '.join(placeholders)}).")
    weight = nodes.get(weight_tensor.split(":")[0])
    shape = [d.size for d in weight.attr["value"].tensor.tensor_shape.dim] if weight is not None else []
    if weight is None or weight.op != "Const" or len(shape) != 2:
        raise UserError(f"{source} is refused: its logit weights {weight_tensor} are not a constant matrix.")
    return tuple(shape)


def unverified_reason(sha256, pinned, shape):
    """Why a graph that passed `check_feature_graph` cannot be called the 2015-12-05 network ("" if it can).

    Args:
        sha256: the graph file's hash.
        pinned: the published hash, or None when none is known.
        shape: the logit weight matrix's shape.
    """
    if shape != (FEATURES, CLASSES):
        return f"its pool_3/logit weights are {shape[0]}x{shape[1]}, not the 2015-12-05 graph's {FEATURES}x{CLASSES}"
    if pinned is None or sha256 != pinned:
        return "its sha256 is not pinned to a published value (trusted on first use only)"
    return ""
