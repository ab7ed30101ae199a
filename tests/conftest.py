import importlib.abc
import importlib.util
import os
import sys
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


class _SplitCpuOnImport(importlib.abc.MetaPathFinder):
    """Splits the CPU into two logical devices as soon as TensorFlow is imported.

    The mirrored-strategy tests need two replicas, and the split is only possible before the
    first operation runs; doing it at import keeps it independent of test order, while tests
    that never import TensorFlow (pure numpy) do not pay for loading it.
    """

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run_module = spec.loader.exec_module

        def exec_module(module):
            run_module(module)
            cpu = module.config.list_physical_devices("CPU")[0]
            module.config.set_logical_device_configuration(cpu, [module.config.LogicalDeviceConfiguration()] * 2)

        spec.loader.exec_module = exec_module
        return spec


def pytest_configure(config):
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _SplitCpuOnImport())
