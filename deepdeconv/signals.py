"""SIGTERM treated like Ctrl-C, so a preempted job saves its checkpoint before it goes.

Cloud VMs, TPU pods, Slurm and Colab stop a job with SIGTERM (then SIGKILL after a grace
period). Raising `Terminated`, a KeyboardInterrupt, in the main thread sends it down the path
Ctrl-C already takes: the training loop saves a checkpoint of the interrupted step and the
command line exits with 143 (128 + SIGTERM), as a shell reports a terminated process.
"""
import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process receives SIGTERM."""

    exit_status = 128 + signal.SIGTERM


@contextlib.contextmanager
def sigterm_interrupts():
    """Within the block, SIGTERM raises `Terminated`; the previous handler is restored after.

    Signal handlers can only be installed from the main thread; elsewhere (a notebook's worker
    thread) the block runs unchanged. A second SIGTERM while the checkpoint is being saved is
    ignored, so it cannot cut that save short.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
