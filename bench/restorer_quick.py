"""Quick restorer measurements: training step rate, and sr sub-pixel vs transpose at equal steps.

    python bench/restorer_quick.py rate [--task denoise] [--patch 64] [--batch 16] [--steps 30]
    python bench/restorer_quick.py upsample [--steps 300] [--scale 2] [--modes subpixel,transpose]
    python bench/restorer_quick.py base [--scale 2]

rate      steps/s (and patches/s) of the default restorer for a task through `fit` on the
          built-in photos' patch pipeline, float32 and mixed_bfloat16 when the CPU has it,
          after a warm-up; alternating `--rounds` times because the machine may be shared.
upsample  trains the sr restorer with each `--upsample` for the same number of steps from the
          same seed and prints the validation Y-PSNR/SSIM (the training run's own Validation
          callback on the held-out photos) beside bicubic, and the wall time of each.
base      time of the whole sr restorer on a 256x256 input with its bicubic base vs the same
          network with a bilinear or nearest base (what the residual base costs).
"""
import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepdeconv.cli.common import quiet_tensorflow  # noqa: E402

quiet_tensorflow()
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from deepdeconv import precision  # noqa: E402
from deepdeconv.callbacks.validation import Validation  # noqa: E402
from deepdeconv.config import TrainConfig  # noqa: E402
from deepdeconv.models.restorer import build_restorer  # noqa: E402
from deepdeconv.data.patches import restoration_batches  # noqa: E402
from deepdeconv.restorer import build_restorer_model  # noqa: E402
from deepdeconv.training import load_data  # noqa: E402


def _config(args, **changes):
    options = dict(task=args.task, batch=args.batch, patch=args.patch, steps=args.steps, mixed_precision=False)
    options.update(changes)
    return TrainConfig.from_options(options)


def rate(args):
    variants = {"float32": False}
    if precision.cpu_supports_bfloat16():
        variants["bf16"] = True
    config = _config(args)
    source = load_data(config)
    config = config.replace(channels=source.channels)
    models = {}
    for name, mp in variants.items():
        c = config.replace(mixed_precision=mp)
        model = build_restorer_model(c)
        data = restoration_batches(source.train, c)
        model.fit(data, steps_per_epoch=5, verbose=0)  # warm-up and tracing
        models[name] = (model, data)
    results = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (model, data) in models.items():
            start = time.perf_counter()
            model.fit(data, steps_per_epoch=args.steps, verbose=0)
            results[name].append(args.steps / (time.perf_counter() - start))
    for name, rates in results.items():
        median = float(np.median(rates))
        print(f"{args.task} patch {args.patch} batch {args.batch} channels {config.channels} {name}: "
              f"{median:.2f} steps/s ({median * args.batch:.0f} patches/s); rounds {[round(r, 2) for r in rates]}")


def upsample(args):
    base = _config(args, task="sr", scale=args.scale)
    source = load_data(base)
    base = base.replace(channels=source.channels)
    for mode in args.modes.split(","):
        config = TrainConfig.from_options({"upsample": mode}, base=base)
        model = build_restorer_model(config)
        with tempfile.TemporaryDirectory() as tmp:
            validation = Validation(tmp, config, source.val, every=10 ** 9)
            validation.set_model(model)
            validation.on_train_begin()
            start = time.perf_counter()
            model.fit(restoration_batches(source.train, config), steps_per_epoch=args.steps, verbose=0)
            seconds = time.perf_counter() - start
            record = validation.validate()
            bicubic = (Path(tmp) / "log.jsonl").read_text().splitlines()[0]
        print(f"sr x{args.scale} {mode}: {args.steps} steps in {seconds:.0f} s, val Y-PSNR {record['val_psnr']:.3f} "
              f"SSIM {record['val_ssim']:.4f} per image {record['psnr']}; input (bicubic): {bicubic}")


def base_cost(args):
    x = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    model = build_restorer("sr", 3, 1.0, 2, args.scale)
    for interpolation in ("bicubic", "bilinear", "nearest"):
        model.get_layer("bicubic").interpolation = interpolation
        fn = tf.function(lambda v: model(v, training=False))
        fn(x)
        times = []
        for _ in range(args.rounds * 5):
            start = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - start)
        up = keras.layers.UpSampling2D(args.scale, interpolation=interpolation)
        alone = tf.function(lambda v: up(v))
        alone(x)
        t0 = time.perf_counter()
        for _ in range(20):
            alone(x)
        print(f"base {interpolation}: whole network {np.median(times) * 1000:.1f} ms, "
              f"the upsampling alone {(time.perf_counter() - t0) / 20 * 1000:.2f} ms (256x256 input, x{args.scale})")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("rate", "upsample", "base"))
    parser.add_argument("--task", default="denoise")
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--modes", default="subpixel,transpose", help="upsample: the --upsample values to train")
    args = parser.parse_args(argv)
    {"rate": rate, "upsample": upsample, "base": base_cost}[args.what](args)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
