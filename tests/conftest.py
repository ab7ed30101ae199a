import os
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# Tests must never download: point every cache at an empty temporary place.
os.environ.setdefault("KERAS_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), "deepdeconv-test-keras-home"))
# Nor write into the user's cache (classifiers, statistics, gs:// staging).
os.environ.setdefault("DEEPDECONV_CACHE", tempfile.mkdtemp(prefix="deepdeconv-test-cache-"))


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A cache of this test's own, for tests whose outcome depends on what is cached."""
    monkeypatch.setenv("DEEPDECONV_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def pytest_configure(config):
    """Splits the CPU into two logical devices before any test starts TensorFlow's runtime.

    The mirrored-strategy tests need two replicas, and the split is only possible before the
    first operation runs; doing it here keeps it independent of test order.
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
