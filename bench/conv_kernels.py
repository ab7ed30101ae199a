"""Where the time of a training step goes: the convolutions of the TensorFlow DCGAN tutorial's networks.

Each convolution of the tutorial's generator and discriminator is timed alone, in its three
phases (forward, gradient to its input, gradient to its filter), at the batch the step runs
it at (256 fakes; 512 real + fake images in the discriminator), in float32 and in bfloat16.
A transposed convolution is the same three kernels with forward and input gradient swapped,
so it is timed as the convolution it transposes. The sum is compared with the tutorial's
whole float32 step (from bench/train_throughput.py): what is left over is every other op.
This is why the step cannot be made much faster without faster convolution kernels.

    python bench/conv_kernels.py [--repeats 10]
"""
import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepdeconv.cli.common import quiet_tensorflow  # noqa: E402

quiet_tensorflow()
import tensorflow as tf  # noqa: E402

# (name, batch, input side, input channels, output channels, stride) of each convolution,
# written as the forward convolution (a Conv2DTranspose as the convolution it transposes).
CONVS = [
    ("G 7x7 256->128 (transposed, stride 1)", 256, 7, 128, 256, 1),
    ("G 7->14 128->64 (transposed)", 256, 14, 64, 128, 2),
    ("G 14->28 64->1 (transposed)", 256, 28, 1, 64, 2),
    ("D 28->14 1->64", 512, 28, 1, 64, 2),
    ("D 14->7 64->128", 512, 14, 64, 128, 2),
]
KERNEL = 5
PHASES = ("forward", "input gradient", "filter gradient")


def _time(fn, args, repeats):
    fn = tf.function(fn)
    fn(*args).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def phase_times(batch, side, cin, cout, stride, dtype, repeats):
    """Milliseconds of the forward, input-gradient and filter-gradient kernels."""
    x = tf.cast(tf.random.normal([batch, side, side, cin]), dtype)
    w = tf.cast(tf.random.normal([KERNEL, KERNEL, cin, cout]) * 0.05, dtype)
    strides = [1, stride, stride, 1]
    dy = tf.ones_like(tf.nn.conv2d(x, w, strides, "SAME"))
    return (
        _time(lambda x, w: tf.nn.conv2d(x, w, strides, "SAME"), (x, w), repeats),
        _time(lambda dy, w: tf.raw_ops.Conv2DBackpropInput(input_sizes=x.shape, filter=w, out_backprop=dy,
                                                           strides=strides, padding="SAME"), (dy, w), repeats),
        _time(lambda x, dy: tf.raw_ops.Conv2DBackpropFilter(input=x, filter_sizes=w.shape, out_backprop=dy,
                                                            strides=strides, padding="SAME"), (x, dy), repeats),
    )


def tutorial_step_ms(steps=8):
    """Milliseconds per step of the tutorial's own float32 training step."""
    from train_throughput import Tutorial, digits_28

    tutorial = Tutorial(digits_28())
    tutorial.run(3)
    _, seconds = tutorial.run(steps)
    return seconds / steps * 1000


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per kernel (median)")
    args = parser.parse_args(argv)
    totals = {}
    for dtype in (tf.float32, tf.bfloat16):
        rows = [phase_times(*conv[1:], dtype, args.repeats) for conv in CONVS]
        totals[dtype.name] = [sum(r[i] for r in rows) for i in range(3)]
        for (name, *_), row in zip(CONVS, rows):
            print(f"  {dtype.name:9} {name:40}" + "".join(f"{p} {t:7.1f} ms  " for p, t in zip(PHASES, row)))
    step = tutorial_step_ms()
    f32, bf16 = totals["float32"], totals["bfloat16"]
    speedups = ", ".join(f"{p} {a / b:.2f}x" for p, a, b in zip(PHASES, f32, bf16))
    print(f"convolutions alone: {sum(f32):.0f} ms float32 of the tutorial's {step:.0f} ms float32 step "
          f"({sum(f32) / step:.0%}), {sum(bf16):.0f} ms in bfloat16; bfloat16 speed-up per phase: {speedups}")
    return 0


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
