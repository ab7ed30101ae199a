"""Where and how the training step runs: tf.distribute strategy, precision, XLA, chief worker.

Everything here is TensorFlow's own machinery chosen by name (`--strategy`,
`--mixed-precision`, `--jit`); the GAN step is written once and Keras `fit` runs it under
whichever strategy is picked.
"""
import contextlib
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from deepdeconv import remote
from deepdeconv.config import STRATEGIES
from deepdeconv.errors import UserError

# Environment variables through which Colab and Cloud TPU VMs name their TPU.
_TPU_ENV = ("TPU_NAME", "COLAB_TPU_ADDR")
# Device files of a TPU attached to this machine (Cloud TPU VMs): v2-v4, then v5 and later.
# Only the first is specific enough for `auto` to take it as a TPU; VFIO serves other devices.
_TPU_DEVICES = ("/dev/accel0", "/dev/vfio/0")
_TPU_DEVICE_AUTO = "/dev/accel0"
# CPU feature flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic: x86 AVX512-BF16 and
# AMX-BF16, Arm BF16.
_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}
# CPUs default to float32 when nothing was measured. bfloat16 made the step faster on some CPUs
# with AVX512-BF16 and slower on others (bench/train_throughput.py) at the same sample quality
# (bench/digits_quality.py --mixed-precision on|off), so a training run with --mixed-precision
# left at auto times both on its own model (deepdeconv.autotune).
# XLA made the step slower on CPUs: XLA's CPU convolutions do not use oneDNN.
JIT_ON_CPU = False


def _tpu_configured(tpu):
    return bool(tpu) or any(os.environ.get(k) for k in _TPU_ENV) or os.path.exists(_TPU_DEVICE_AUTO)


def _tf_config_workers():
    """Number of tasks in TF_CONFIG's cluster (0 when TF_CONFIG is unset)."""
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG") or "{}").get("cluster", {})
    except ValueError:
        raise UserError("The TF_CONFIG environment variable is not valid JSON.") from None
    return sum(len(tasks) for name, tasks in cluster.items() if name in ("chief", "worker"))


def resolve_strategy_name(name="auto", tpu=""):
    """The concrete strategy `--strategy auto` stands for on this machine.

    auto picks, in order: tpu when a TPU is configured (`--tpu`, TPU_NAME, COLAB_TPU_ADDR or
    /dev/accel0 on this host; use `--strategy tpu` on TPUs that show none of these);
    multiworker when TF_CONFIG names more than one worker (each worker would otherwise train
    alone and write its own run); mirrored when more than one
    GPU is visible; else default (one device).
    """
    if name not in STRATEGIES:
        raise UserError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {name!r}.")
    if name != "auto":
        return name
    if _tpu_configured(tpu):
        return "tpu"
    if _tf_config_workers() > 1:
        return "multiworker"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def _tpu_strategy(tpu):
    if not tpu and not any(os.environ.get(k) for k in _TPU_ENV) and any(map(os.path.exists, _TPU_DEVICES)):
        tpu = "local"  # a TPU VM: the TPU is on this host
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
        where = f" at {tpu}" if tpu else ""
        raise UserError(f"--strategy tpu could not reach a TPU{where} ({str(e).splitlines()[0]}).") from None
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="auto", tpu=""):
    """Returns the tf.distribute strategy for `--strategy` (see `resolve_strategy_name`).

    Args:
        name: auto, default, mirrored (all GPUs of this machine), multiworker
            (MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG) or tpu.
        tpu: TPU address for the cluster resolver ("" = from the environment).

    Raises:
        UserError: for an unknown name, a multi-worker TF_CONFIG that is not JSON, or a TPU
            that cannot be reached.
    """
    name = resolve_strategy_name(name, tpu)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All GPUs; without any, all logical CPU devices (one unless configured otherwise).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        _tf_config_workers()  # a malformed TF_CONFIG is a user error, not a traceback
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu)


def is_chief(strategy):
    """True on the worker that writes files (always, outside multi-worker training).

    The chief is the "chief" task, or worker 0 when the cluster has no chief (the
    tf.distribute convention).
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


@contextlib.contextmanager
def output_dir(strategy, run_dir, outdir):
    """The folder this worker writes its run files into.

    The chief writes into `run_dir`. Every other worker runs the very same callbacks (sample
    grids, evaluations and the metric reductions inside `fit` are collective operations that
    all workers must join) but writes into a scratch folder under `outdir` that is deleted
    on exit: the Keras convention for multi-worker file output.

    Args:
        strategy: the run's strategy.
        run_dir: the run directory (may be None on a worker that is not the chief).
        outdir: the output folder the scratch folder is created in.

    Yields:
        A Path to write into.
    """
    if is_chief(strategy):
        yield Path(run_dir)
        return
    resolver = strategy.cluster_resolver
    local = not remote.is_url(outdir)  # a gs:// run is staged locally: scratch goes to the temp dir
    if local:
        Path(outdir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{resolver.task_type}-{resolver.task_id}-", dir=outdir if local else None))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def accelerator(strategy):
    """"tpu", "gpu" or "cpu": the kind of device the strategy's replicas run on."""
    if isinstance(strategy, tf.distribute.TPUStrategy):
        return "tpu"
    try:
        devices = strategy.extended.worker_devices
    except RuntimeError:  # the default strategy, which runs on the first GPU when there is one
        return "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    return "gpu" if any("GPU" in d.upper() for d in devices) else "cpu"


def cpu_supports_bfloat16():
    """True when this CPU has native bfloat16 arithmetic (Linux feature flags; else False)."""
    if platform.system() != "Linux":
        return False
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return bool(_BF16_FLAGS & set(value.split()))
    except OSError:
        pass
    return False


def precision_policy(mixed_precision, strategy):
    """The Keras dtype policy name for `--mixed-precision` on the strategy's devices.

    mixed_float16 on GPUs (with loss scaling, see `loss_scaled`), mixed_bfloat16 on TPUs and
    on CPUs with native bfloat16; variables stay float32 in both.

    Args:
        mixed_precision: True, False, or None for the device's default: float32 (training
            replaces None by a measured choice on CPUs, see `deepdeconv.autotune`).
        strategy: the run's strategy.

    Raises:
        UserError: mixed precision asked for on a CPU without bfloat16 support.
    """
    kind = accelerator(strategy)
    if not mixed_precision:
        return "float32"
    if kind == "gpu":
        return "mixed_float16"
    if kind == "tpu" or cpu_supports_bfloat16():
        return "mixed_bfloat16"
    raise UserError("--mixed-precision needs a GPU, a TPU or a CPU with bfloat16 instructions "
                    "(avx512_bf16, amx_bf16), and this machine has none of them.")


@contextlib.contextmanager
def dtype_policy(name):
    """Sets Keras' global dtype policy while models are built, then restores the previous one.

    Layers read the policy when they are created, so a model built inside keeps it; nothing
    else in the process (tests, a later run) inherits it.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer, policy):
    """Wraps `optimizer` in dynamic loss scaling when `policy` is mixed_float16.

    float16 gradients of small losses underflow to zero without it; bfloat16 has float32's
    range and needs none. The GAN step calls `optimizer.scale_loss`, a no-op otherwise.
    """
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def unscaled(optimizer):
    """The optimizer inside `loss_scaled`'s wrapper (or `optimizer` itself).

    Checkpoints save only its state, so a run resumes under any precision; the loss scale
    starts afresh and settles again within a few steps.
    """
    return getattr(optimizer, "inner_optimizer", optimizer)


def resolve_jit(jit, strategy):
    """`--jit`: the user's choice, else XLA on GPU and TPU and `JIT_ON_CPU` on a CPU."""
    if jit is not None:
        return bool(jit)
    return accelerator(strategy) != "cpu" or JIT_ON_CPU


def synchronize_batch_norm(model, strategy):
    """Makes batch norm use global-batch statistics when the strategy has several replicas.

    Per-replica statistics would make N replicas train differently from one device with the
    same global batch; synchronised ones all-reduce the moments, so they do not.
    """
    if strategy.num_replicas_in_sync == 1:
        return
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
        elif hasattr(layer, "layers"):  # a nested model
            synchronize_batch_norm(layer, strategy)


def replica_order(batch, d_steps, num_replicas):
    """The order of a global batch's rows that makes N replicas see what one device sees.

    One device cuts its `d_steps * batch` rows into `d_steps` consecutive slices, one per
    discriminator step. tf.distribute hands replica r the r-th contiguous block, which the
    step cuts into `d_steps` slices again; in this order replica r's slice i is the r-th part
    of the one-device slice i, so every discriminator step sees the same images on N replicas
    as on one device (with `d_steps` = 1 it is the identity).

    Returns:
        A list of row indices into the global batch.
    """
    part = batch // num_replicas
    return [i * batch + r * part + k for r in range(num_replicas) for i in range(d_steps) for k in range(part)]


def check_batch(batch, strategy):
    """Refuses a global batch that does not split evenly over the strategy's replicas.

    Uneven splits would give the replicas different batch sizes, and their slices of the
    global-batch random draws would no longer line up.
    """
    replicas = strategy.num_replicas_in_sync
    if batch % replicas:
        raise UserError(f"--batch {batch} does not split evenly over {replicas} replicas; "
                        f"use a multiple of {replicas}.")


def distribute_batches(dataset, batch, d_steps, strategy):
    """Orders the global batches of `training_batches` for `strategy` (see `replica_order`)."""
    replicas = strategy.num_replicas_in_sync
    if d_steps == 1 or replicas == 1:
        return dataset
    order = tf.constant(replica_order(batch, d_steps, replicas))
    return dataset.map(lambda *parts: tuple(tf.gather(p, order) for p in parts),
                       num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def reducible_logs(logs):
    """Shapes `train_step`'s scalar logs so that Keras can reduce them under every strategy.

    Under MultiWorkerMirroredStrategy Keras 3 reduces each log with `strategy.reduce(MEAN,
    axis=0)`, which fails on a scalar (tensorflow#72388); a length-1 vector per replica
    reduces to the scalar mean. Elsewhere the logs pass unchanged.
    """
    strategy = tf.distribute.get_strategy()
    if not (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.extended._in_multi_worker_mode()):
        return logs
    return {name: tf.reshape(value, [1]) for name, value in logs.items()}
