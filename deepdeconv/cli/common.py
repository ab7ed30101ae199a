"""What every entry point shares: quiet TensorFlow start-up and one-sentence errors."""
import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile

from deepdeconv.errors import UserError
from deepdeconv.paths import expand_argv

# Lines TensorFlow's shared libraries print while loading and looking for a GPU, before its
# logging honours TF_CPP_MIN_LOG_LEVEL: notices, and on a machine without a GPU a cuInit
# failure logged as an error although nothing failed. Anything else printed then is kept.
_NOISE = re.compile(rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called"
                    rb"|[IW]0000 \S+ +\d+ (port|cudart_stub|cpu_feature_guard|cuda_executor|cuda_diagnostics)\.cc:"
                    rb"|E0000 \S+ +\d+ cuda_platform\.cc:\d+\] failed call to cuInit"
                    rb"|To enable the following instructions: .* rebuild TensorFlow with)")


@contextlib.contextmanager
def _stderr_filtered():
    """Sends file descriptor 2 through `_NOISE` for the duration (C++ libraries write there)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().splitlines(keepends=True) if not _NOISE.match(line)]
            if kept:
                os.write(2, b"".join(kept))


class _QuietLoader:
    """Wraps TensorFlow's loader: runs its import, and the GPU lookup, under `_stderr_filtered`."""

    def __init__(self, loader):
        self._loader = loader

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with _stderr_filtered():
            self._loader.exec_module(module)
            # The GPU lookup (cuInit) happens here rather than at the first operation; it does
            # not start the runtime, so strategies and device settings can still be chosen.
            module.config.list_physical_devices()


class _QuietFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def quiet_tensorflow():
    """Silences TensorFlow's start-up chatter; call it before TensorFlow is imported.

    Sets TF_CPP_MIN_LOG_LEVEL=2 (C++ info and warnings off, errors kept) unless the user set
    it, and filters the known harmless lines printed while TensorFlow loads (`_NOISE`).
    TF_ENABLE_ONEDNN_OPTS is left alone: it changes speed, not just messages.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


def run_cli(main, argv=None):
    """Runs `main(argv)` and turns predictable failures into one line and an exit status.

    UserError -> "error: <sentence>" and status 2; Ctrl-C -> status 130, SIGTERM (where the
    command turned it into `signals.Terminated`) -> 143 (whatever had to be saved was saved by
    the code that was interrupted). Anything else is a bug and keeps its traceback. A leading
    `~/` in an argument is expanded (`paths.expand_argv`).

    Returns:
        The process exit status (0 on success).
    """
    try:
        status = main(expand_argv(sys.argv[1:] if argv is None else argv))
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print("terminated (SIGTERM)" if getattr(e, "exit_status", None) else "interrupted", file=sys.stderr)
        return getattr(e, "exit_status", 130)  # 143 for SIGTERM (deepdeconv.signals.Terminated)
    return int(status or 0)
