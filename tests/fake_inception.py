"""A small stand-in for the 2015 Inception graph, with the real graph's tensor names (shared by tests)."""
import numpy as np
import tensorflow as tf

from deepdeconv.metrics import inception_file

FEATURES, CLASSES, SIDE = 16, 12, 23


def _fake_inception_graph_def():
    """Same wiring as classify_image_graph_def.pb, tiny sizes.

    DecodeJpeg -> Cast -> ExpandDims -> ResizeBilinear (TF1) -> Sub 128 -> Mul 1/128 -> conv ->
    pool_3 [1, 1, 1, F] -> pool_3/_reshape (batch pinned to 1) -> softmax/logits/MatMul (+bias).
    """
    rng = np.random.default_rng(0)
    graph = tf.Graph()
    with graph.as_default():
        contents = tf.compat.v1.placeholder(tf.string, name="DecodeJpeg/contents")
        decoded = tf.io.decode_jpeg(contents, channels=3, name="DecodeJpeg")
        cast = tf.cast(decoded, tf.float32, name="Cast")
        expanded = tf.expand_dims(cast, 0, name="ExpandDims")
        resized = tf.compat.v1.image.resize_bilinear(expanded, [SIDE, SIDE], name="ResizeBilinear")
        scaled = tf.multiply(tf.subtract(resized, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        kernel = tf.constant(rng.standard_normal((3, 3, 3, FEATURES)).astype(np.float32), name="conv/kernel")
        conv = tf.nn.conv2d(scaled, kernel, strides=2, padding="VALID", name="conv")
        for part in ("m", "v", "beta", "gamma"):
            tf.constant(rng.uniform(0.5, 1.5, FEATURES).astype(np.float32), name=f"bn/{part}")
        normed = tf.identity(conv, name="bn")  # becomes the 2015 graph's deprecated batch-norm op below
        relu = tf.nn.relu(normed, name="relu")
        pool3 = tf.nn.avg_pool2d(relu, ksize=relu.shape[1:3], strides=1, padding="VALID", name="pool_3")
        reshaped = tf.reshape(pool3, [1, FEATURES], name="pool_3/_reshape")
        with tf.compat.v1.name_scope("softmax"):
            weights = tf.constant(rng.standard_normal((FEATURES, CLASSES)).astype(np.float32), name="weights")
            biases = tf.constant(rng.standard_normal(CLASSES).astype(np.float32), name="biases")
            with tf.compat.v1.name_scope("logits"):
                matmul = tf.matmul(reshaped, weights, name="MatMul")
            logits = tf.nn.bias_add(matmul, biases, name="logits")
        tf.nn.softmax(logits, name="softmax")
    graph_def = graph.as_graph_def()
    # The real graph predates GraphDef version 9 and uses BatchNormWithGlobalNormalization,
    # an op that may only appear in such old graphs.
    graph_def.versions.producer = 5
    bn = next(n for n in graph_def.node if n.name == "bn")
    bn.op = "BatchNormWithGlobalNormalization"
    bn.input.extend(["bn/m", "bn/v", "bn/beta", "bn/gamma"])
    bn.attr["variance_epsilon"].f = 1e-3
    bn.attr["scale_after_normalization"].b = True
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
    return graph, graph_def


def write_fake_inception_graph(folder):
    """Writes the small stand-in graph as `folder/classify_image_graph_def.pb` (used by other tests)."""
    graph, graph_def = _fake_inception_graph_def()
    path = folder / inception_file.GRAPH_FILE
    path.write_bytes(graph_def.SerializeToString())
    return graph, path
