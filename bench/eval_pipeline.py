"""Feature extraction end to end vs the bare network forward on the same batches.

    python bench/eval_pipeline.py [--num 400] [--batch 50] [--inception PATH] [--data digits]

End to end = `metrics.passes.run_networks` over real uint8 batches from a data source (tf.data
decode, uint8 -> float and channel tiling inside the tf.function, device -> numpy, float64
streaming statistics, IS logits, progress bar). Bare = the network's float forward on the
same batches, already converted and tiled, outputs fetched. Goal: overhead <= 10%.
Both wall time and process CPU time are reported (best of --repeat, interleaved): on a
shared machine the CPU time is the reliable one.

Without the real 2015-12-05 graph (--inception, $DEEPDECONV_INCEPTION or the cache), a
stand-in graph of the same cost is frozen from Keras InceptionV3 (random weights) with the
real graph's tensor names (ExpandDims -> ResizeBilinear 299 -> Sub -> Mul -> ... -> pool_3,
softmax/logits/MatMul), so the same loader code runs. Prints one JSON line.
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tensorflow as tf


def stand_in_graph(folder):
    """Writes a frozen GraphDef shaped like classify_image_graph_def.pb (random InceptionV3 weights)."""
    import keras
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    base = keras.applications.InceptionV3(weights=None, include_top=False, pooling="avg")
    weights = tf.Variable(tf.random.normal([2048, 1008], stddev=0.02))

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32, name="ExpandDims")])
    def graph(expand_dims):
        resized = tf.raw_ops.ResizeBilinear(images=expand_dims, size=[299, 299], name="ResizeBilinear")
        x = tf.multiply(tf.subtract(resized, 128.0, name="Sub"), 1 / 128.0, name="Mul")
        pool3 = tf.reshape(base(x, training=False), [-1, 1, 1, 2048], name="pool_3")
        flat = tf.reshape(pool3, [1, 2048], name="pool_3/_reshape")
        with tf.name_scope("softmax"), tf.name_scope("logits"):
            return tf.raw_ops.MatMul(a=flat, b=weights, name="MatMul")

    frozen = convert_variables_to_constants_v2(graph.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    for node in graph_def.node:  # the function's input placeholder carries the name we need
        if node.op == "Placeholder":
            node.name = "ExpandDims"
    renamed = {n.name for n in graph_def.node}
    for node in graph_def.node:
        node.input[:] = ["ExpandDims" + i[len("expand_dims"):] if i.split(":")[0] == "expand_dims" else i
                         for i in node.input]
    assert {"ExpandDims", "pool_3", "softmax/logits/MatMul"} <= renamed, sorted(renamed)[:20]
    path = Path(folder) / "classify_image_graph_def.pb"
    path.write_bytes(graph_def.SerializeToString())
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num", type=int, default=400, help="images per measurement")
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--data", default="digits", help="data spec for the real images (default digits)")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--inception", help="the real classify_image_graph_def.pb or .tgz")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    from deepdeconv.data import load_source, real_uint8_batches
    from deepdeconv.metrics.passes import Accumulator, run_networks
    from deepdeconv.metrics.inception import InceptionNetwork
    from deepdeconv.metrics.sources import source_stream

    with tempfile.TemporaryDirectory() as tmp:
        real_graph = args.inception or os.environ.get("DEEPDECONV_INCEPTION")
        try:
            net = InceptionNetwork(real_graph, download=False)
            graph = "inception-2015-12-05"
        except Exception:
            net = InceptionNetwork(stand_in_graph(tmp), download=False)
            graph = "stand-in (Keras InceptionV3 architecture, random weights, same tensor names)"

    source = load_source(args.data, args.resolution)
    stream = source_stream(source, spec=args.data, limit=args.num)
    batches = list(real_uint8_batches(source, args.batch, args.num))
    floats = [tf.constant(np.repeat(b, 3 // b.shape[-1], axis=-1).astype(np.float32)) for b in batches]
    n = sum(len(b) for b in batches)

    def bare():
        for x in floats:
            features, logits = net.forward_float(x)
            features.numpy(), logits.numpy()

    def end_to_end():
        run_networks(stream, {"inception": Accumulator(stats=True, logits=True)}, {"inception": net},
                     args.batch, progress=True, desc="end to end")

    bare(), end_to_end()  # warm-up: tracing, first-call allocations
    wall = {"bare": [], "end_to_end": []}
    cpu = {"bare": [], "end_to_end": []}
    for _ in range(args.repeat):  # interleaved, so drifting machine load hits both alike
        for name, fn in (("bare", bare), ("end_to_end", end_to_end)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    bare_s, e2e_s = min(wall["bare"]), min(wall["end_to_end"])
    bare_cpu, e2e_cpu = min(cpu["bare"]), min(cpu["end_to_end"])
    print(json.dumps({
        "graph": graph, "images": n, "batch": args.batch, "data": args.data, "resolution": args.resolution,
        "bare_img_s": round(n / bare_s, 2), "end_to_end_img_s": round(n / e2e_s, 2),
        "overhead_wall_pct": round(100 * (e2e_s / bare_s - 1), 2),
        "overhead_cpu_pct": round(100 * (e2e_cpu / bare_cpu - 1), 2),
        "wall_s": {k: [round(x, 2) for x in v] for k, v in wall.items()},
        "cpu_s": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "load_average": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
