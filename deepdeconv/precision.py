"""How the training step computes: the Keras dtype policy (`--mixed-precision`) and XLA (`--jit`).

Both are chosen for the kind of device the strategy runs on (`distribute.accelerator`); on a
CPU, training replaces an unset `--mixed-precision` by a measured choice (`deepdeconv.autotune`).
"""
import contextlib
import platform

import keras

from deepdeconv import distribute
from deepdeconv.errors import UserError

# CPU feature flags (Linux /proc/cpuinfo) of native bfloat16 arithmetic: x86 AVX512-BF16 and
# AMX-BF16, Arm BF16.
_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}
# CPUs default to float32 when nothing was measured. bfloat16 made the step faster on some CPUs
# with AVX512-BF16 and slower on others (bench/train_throughput.py) at the same sample quality
# (bench/digits_quality.py --mixed-precision on|off), so a training run with --mixed-precision
# left at auto times both on its own model (deepdeconv.autotune).
# XLA made the step slower on CPUs: XLA's CPU convolutions do not use oneDNN.
JIT_ON_CPU = False


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
    kind = distribute.accelerator(strategy)
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
    return distribute.accelerator(strategy) != "cpu" or JIT_ON_CPU
