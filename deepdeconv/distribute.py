"""Choosing the tf.distribute strategy a run trains under."""
import tensorflow as tf

from deepdeconv.errors import UserError


def make_strategy(name="auto", tpu=""):
    """Returns the tf.distribute strategy for `--strategy`.

    Args:
        name: auto (TPU if one is configured, else mirrored over all GPUs when there are
            several, else the default strategy), default, mirrored, multiworker or tpu.
        tpu: TPU address for the cluster resolver ("" = from the environment).
    """
    if name == "auto":
        if tpu:
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise UserError(f"--strategy tpu could not reach a TPU{' at ' + tpu if tpu else ''} ({e}).") from None
        return tf.distribute.TPUStrategy(resolver)
    raise UserError(f"--strategy {name!r} is not one of auto, default, mirrored, multiworker, tpu.")


def is_chief(strategy):
    """True on the worker that writes files (always, outside multi-worker training)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    return resolver.task_type == "chief" or (resolver.task_type == "worker" and resolver.task_id == 0)
