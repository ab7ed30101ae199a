"""Which generator average samples best: several averages kept side by side during one run.

The average never feeds back into training, so one run can carry several: a callback keeps
each candidate (a `--ema-rampup` value with the config's `--ema-decay`, or a fixed half-life
in steps) in memory beside the run's own, and at the end each is scored by both judges of
`digits_quality.py` with the same draws. Differences between them are then free of the
seed-to-seed spread that dominates comparisons between runs.

    python bench/ema_sweep.py --data ~/q/mnist4k --steps 3900 --rampups 0.025,0.05,0.1 --half-lives 69

Prints one line: each average's cFID and MLP-FID distances to their floors, the config's own
average first (which must equal the run's exported generator; the line says if not).
"""
import argparse
import math
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from digits_quality import parse_set, score  # noqa: E402


def candidates(config, rampups, half_lives):
    """{name: (decay, rampup)}: the config's own average first, then the rampups and fixed half-lives."""
    out = {f"rampup {config.ema_rampup:g} (the config's)": (config.ema_decay, config.ema_rampup)}
    out.update({f"rampup {r:g}": (config.ema_decay, r) for r in rampups if r != config.ema_rampup})
    out.update({f"half-life {h:g}": (0.5 ** (1.0 / h), 0.0) for h in half_lives})
    return out


def averages_callback(variants):
    """A Keras callback holding one numpy average of the generator's weights per variant."""
    import keras
    from deepdeconv.ema import decay_factor

    class Averages(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            weights = [v.numpy() for v in self.model.generator.weights]
            self.averages = {name: [w.copy() for w in weights] for name in variants}

        def on_train_batch_end(self, batch, logs=None):
            step = int(self.model.step.numpy()) - 1  # the step the run's own average was updated at
            weights = [v.numpy() for v in self.model.generator.weights]
            for name, (decay, rampup) in variants.items():
                keep = float(decay_factor(step, decay, rampup))
                for average, w in zip(self.averages[name], weights):
                    average *= keep
                    average += (1.0 - keep) * w

    return Averages()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="digits")
    parser.add_argument("--steps", type=int, default=None, help="generator steps (default: the config's)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a TrainConfig field, e.g. --set seed=3 (repeatable)")
    parser.add_argument("--rampups", default="0.025,0.05,0.1,0.2", help="comma-separated --ema-rampup values")
    parser.add_argument("--half-lives", default="", help="comma-separated fixed half-lives in steps (no ramp-up)")
    parser.add_argument("--num-gen", type=int, default=2000, help="generated images per draw")
    parser.add_argument("--draws", type=int, default=5, help="draws of generated images to average")
    parser.add_argument("--outdir", default=None, help="where the run goes (default: a temporary folder)")
    args = parser.parse_args(argv)

    from deepdeconv.config import TrainConfig
    from deepdeconv.errors import UserError
    from deepdeconv.sampling.load import load_generator
    from deepdeconv.training import train

    numbers = {}
    for option in ("rampups", "half_lives"):
        try:
            numbers[option] = [float(v) for v in getattr(args, option).split(",") if v.strip()]
        except ValueError:
            raise UserError(f"--{option.replace('_', '-')} takes comma-separated numbers, "
                            f"got {getattr(args, option)!r}.") from None
    if any(r < 0 for r in numbers["rampups"]) or any(h <= 0 or not math.isfinite(h) for h in numbers["half_lives"]):
        raise UserError("--rampups must be non-negative and --half-lives positive.")
    changes = dict(parse_set(args.set), data=args.data,
                   outdir=args.outdir or tempfile.mkdtemp(prefix="deepdeconv-ema-"))
    if args.steps:
        changes["steps"] = args.steps
    config = TrainConfig.from_options(changes)
    if not config.ema or config.task != "gan":
        raise UserError("ema_sweep needs a GAN run with the average on (drop --set ema=false / task).")
    variants = candidates(config, numbers["rampups"], numbers["half_lives"])
    sweep = averages_callback(variants)
    run_dir = train(config, progress=sys.stderr.isatty(), callbacks=[sweep])

    generator, config = load_generator(run_dir)
    # A self-conditioned generator wraps the averaged network; a plain one is the network.
    average = {layer.name: layer for layer in generator.layers}.get("generator_ema", generator)
    exported = [w.copy() for w in average.get_weights()]
    own = next(iter(variants))
    drift = max(float(np.max(np.abs(a - b))) for a, b in zip(exported, sweep.averages[own]))
    parts = []
    for name in variants:
        average.set_weights(sweep.averages[name])
        figures = score(config, generator, args.num_gen, args.draws)
        parts.append(f"{name} {figures['cfid'][0] - figures['cfid'][2]:.3f} / {figures['mlp'][0] - figures['mlp'][2]:.3f}")
    check = "" if drift < 1e-4 else f" (the config's average differs from the exported one by {drift:.2g}!)"
    print(f"generator averages on {config.data} [{' '.join(args.set) or 'defaults'}], {config.total_steps} steps, "
          f"cFID / MLP-FID distance, {args.draws} draws of {args.num_gen}: {'; '.join(parts)}{check}; run {run_dir}",
          flush=True)


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
