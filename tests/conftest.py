import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Tests must never download: point every cache at an empty temporary place.
os.environ.setdefault("KERAS_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "deepdeconv-test-keras-home"))


def pytest_configure(config):
    """Splits the CPU into two logical devices before any test starts TensorFlow's runtime.

    The mirrored-strategy tests need two replicas, and the split is only possible before the
    first operation runs; doing it here keeps it independent of test order.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
