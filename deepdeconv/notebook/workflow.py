"""Steps of the notebooks that sit between library calls: what is available, what to run with."""
import math

import tensorflow as tf

from deepdeconv.data import load_source, real_uint8_batches
from deepdeconv.distribute import resolve_strategy_name
from deepdeconv.errors import UserError
from deepdeconv.metrics import inception_file
from deepdeconv.notebook.colab import on_colab
from deepdeconv.sampling import PngFolder

# Steps per tf.function call on a TPU: each call costs a host round trip, so TPUs run many
# steps per call (callbacks then see every `steps_per_execution`-th step).
TPU_STEPS_PER_EXECUTION = 32


def inception_available(download=None):
    """Whether the 2015-12-05 Inception graph (for fid, is, kid, pr) can be used; prints why not.

    Looks at $DEEPDECONV_INCEPTION and the cache; downloads the graph (about 90 MB) when
    `download` allows it.

    Args:
        download: allow a download; None allows it on Colab only, where the network is
            there and the graph is not.

    Returns:
        True when the graph is ready; False, with a printed note, when it is not.
    """
    if download is None:
        download = on_colab()
    try:
        path, _ = inception_file.graph_path(download=download)
    except UserError as e:
        print(f"Skipping the Inception metrics (fid, is, kid, pr): {e}")
        return False
    print(f"Inception graph: {path}")
    return True


def write_real_images(data, folder, resolution, channels=None, limit=None):
    """Writes real images of a data spec as PNGs (real000000.png, ...), as a folder to compare with.

    Args:
        data: a data spec ("digits", a folder, ...).
        folder: destination; its files appear only once all are written.
        resolution: image side.
        channels: 1 or 3 (None: the data's own).
        limit: at most this many images.

    Returns:
        The number of images written.
    """
    source = load_source(str(data), resolution, channels)
    done = 0
    with PngFolder(folder) as out:
        for batch in real_uint8_batches(source, 256, limit):
            out.add(batch, [f"real{done + i:06d}.png" for i in range(len(batch))])
            done += len(batch)
    return done


def metrics_summary(record):
    """A result record of `deepdeconv.metrics.evaluator` as readable lines: values, then warnings."""
    lines = []
    for name, value in sorted(record["metrics"].items()):
        if isinstance(value, dict):  # the class histogram
            value = " ".join(f"{k}:{v}" for k, v in value.items())
        elif isinstance(value, float) and math.isfinite(value):
            value = f"{value:.4g}"
        lines.append(f"{name:>16}  {value}")
    lines.append(f"{'images':>16}  {record['n_fake']} generated, {record['n_real']} real ({record['network']})")
    lines.extend(f"warning: {text}" for text in record["warnings"])
    return "\n".join(lines)


def hardware(tpu=""):
    """"tpu", "gpu" or "cpu": what `--strategy auto` will train on in this runtime."""
    if resolve_strategy_name("auto", tpu) == "tpu":
        return "tpu"
    return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"


def execution_options(kind):
    """TrainConfig options that suit the hardware without changing what is trained.

    GPUs and TPUs get mixed precision (float16 / bfloat16 arithmetic, float32 weights); a
    CPU keeps the automatic default (bfloat16 when it has the instructions). XLA is left to
    `--jit`'s default (on for GPU and TPU); TPUs also run several steps per call.

    Args:
        kind: "cpu", "gpu" or "tpu" (see `hardware`).
    """
    if kind not in ("cpu", "gpu", "tpu"):
        raise UserError(f"The hardware kind must be cpu, gpu or tpu, got {kind!r}.")
    return {"strategy": "auto", "mixed_precision": None if kind == "cpu" else True,
            "steps_per_execution": TPU_STEPS_PER_EXECUTION if kind == "tpu" else 1}
