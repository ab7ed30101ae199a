"""Where the training step runs: tf.distribute strategy, TPU detection, chief worker, batches.

Everything here is TensorFlow's own machinery chosen by name (`--strategy`; precision and XLA
are `deepdeconv.precision`'s); the GAN step is written once and Keras `fit` runs it under
whichever strategy is picked.
"""
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

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


_MIRRORED = {}  # device names -> the process's MirroredStrategy over them


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
        devices = tuple(d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU"))
        # One per device set and process: a second MirroredStrategy restarts the collective
        # instance keys the runtime has bound to the first one's tensors, and its first
        # all-reduce fails on a shape mismatch (a notebook that trains twice, say).
        if devices not in _MIRRORED:
            _MIRRORED[devices] = tf.distribute.MirroredStrategy(list(devices))
        return _MIRRORED[devices]
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


def synchronize_batch_statistics(model, strategy):
    """Makes batch norm and the minibatch-std feature use global-batch statistics when the
    strategy has several replicas.

    Per-replica statistics would make N replicas train differently from one device with the
    same global batch; synchronised ones all-reduce the moments, so they do not.
    """
    if strategy.num_replicas_in_sync == 1:
        return
    for layer in model.layers:
        if hasattr(layer, "synchronized"):  # BatchNormalization, models.layers.MinibatchStd
            layer.synchronized = True
        elif hasattr(layer, "layers"):  # a nested model
            synchronize_batch_statistics(layer, strategy)


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
