"""Restoration quality within a CPU budget: our restorer beside the classical baselines.

For each task (denoise, sr2, sr4, deblur) this trains a restorer with the library's defaults on
the TRAIN split of the built-in photos (`--data photos`; the run validates on the held-out
split) for `--minutes` of wall time, then scores the exported EMA restorer on the held-out
photos with `metrics.restoration.evaluate_restoration` against the task's classical
baselines (denoise: nlm, tv, wavelet, bm3d when importable; sr: bicubic, lanczos; deblur:
wiener, wiener_oracle, richardson_lucy), under the RESTORATION.md conventions the library
applies (uint8 outputs; sr on the BT.601 Y channel with `scale` px cropped).

Denoise and deblur are grayscale (channels 1, the library's sigma 25 / PSF sigma 1.6 + noise
2); sr is RGB, scored on Y. Precision is left at auto (the library times float32 against
bfloat16 and records the choice in config.json). The budget becomes a step count: a short
calibration run of the real config measures steps/s, then `steps` is set so the training
lasts `--minutes`; the elapsed time reported is the one the run logged in log.jsonl.

    python bench/restore_quality.py --tasks denoise --minutes 15 --out bench_restore_quality.json

The network and the baselines restore the same degraded file (clipped, rounded uint8).
The held-out photos are also the run's validation images; the final EMA weights are scored,
not the best-by-validation checkpoint, so nothing is selected on them.

Prints one line per task and writes every record (per-image scores, timings, load average) to
`--out`. Wall-clock figures depend on what else runs on the machine: the load average sampled
during training is recorded beside them.
"""
import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from deepdeconv import rundir
from deepdeconv.config import TrainConfig
from deepdeconv.fileio import read_jsonl, write_json
from deepdeconv.metrics.baselines import ORACLES, task_baselines
from deepdeconv.metrics.restoration import conventions_text, evaluate_restoration, held_out_images
from deepdeconv.pixels import from_uint8
from deepdeconv.restoring.load import load_restorer
from deepdeconv.restoring.tiles import restore_array
from deepdeconv.training import train

TASKS = {"denoise": dict(task="denoise", channels=1), "deblur": dict(task="deblur", channels=1),
         "sr2": dict(task="sr", scale=2, channels=3), "sr4": dict(task="sr", scale=4, channels=3)}
CALIBRATION_STEPS = 60
# Validation every val_every steps, checkpoints and the final export are not in the calibration.
OVERHEAD_MARGIN = 0.95


class LoadSampler:
    """Samples the 1-minute load average every few seconds in a background thread."""

    def __init__(self, every=10.0):
        self.every, self.values, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.values.append(float(Path("/proc/loadavg").read_text().split()[0]))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self):
        v = self.values or [float("nan")]
        return {"min": min(v), "mean": round(float(np.mean(v)), 2), "max": max(v), "samples": len(v)}


def train_records(run):
    """The periodic training records of log.jsonl (those with a step and elapsed_s)."""
    return [r for r in read_jsonl(run / rundir.LOG) if "elapsed_s" in r and "event" not in r]


def calibrate(options, outdir, steps):
    """Steps per second of the real config, from a short run (its first record holds the trace)."""
    config = TrainConfig.from_options(dict(options, steps=steps, log_every=max(1, steps // 6), val_every=10 ** 6,
                                           checkpoint_every=10 ** 6, sample_every=10 ** 6, outdir=str(outdir)))
    run = Path(train(config, progress=False))
    recs = train_records(run)
    first, last = recs[0], recs[-1]
    return (last["step"] - first["step"]) / max(last["elapsed_s"] - first["elapsed_s"], 1e-9)


def bench_task(name, args, outdir):
    """Trains and evaluates one task; returns its record."""
    options = dict(TASKS[name], data="photos", seed=args.seed)
    steps, rate = args.steps, None
    if steps is None:
        rate = calibrate(options, outdir / "calibration", CALIBRATION_STEPS)
        steps = max(1, int(rate * args.minutes * 60 * OVERHEAD_MARGIN))
        print(f"[{name}] calibration: {rate:.2f} steps/s -> {steps} steps for {args.minutes} min", flush=True)
    config = TrainConfig.from_options(dict(options, steps=steps, outdir=str(outdir)))
    with LoadSampler() as load:
        run = Path(train(config, progress=args.progress))
    return evaluate_run(name, run, args, rate, load.summary())


def evaluate_run(name, run, args, rate=None, load=None):
    """Scores a finished run on the held-out photos; returns the task's record."""
    saved = TrainConfig.load(run / rundir.CONFIG)
    log = list(read_jsonl(run / rundir.LOG))
    vals = [(r["step"], r["val_psnr"]) for r in log if r.get("event") == "val"]
    elapsed = train_records(run)[-1]["elapsed_s"]

    spec = load_restorer(run)  # the exported EMA restorer of the last step
    images, names = held_out_images(saved, spec.channels, real="photos")
    # warm-up on an input of the first image's size, so its time holds no tracing or set-up
    restore_array(spec.model, from_uint8(images[0][::spec.scale, ::spec.scale]), spec.scale)
    methods = task_baselines(spec.task)
    result = evaluate_restoration(spec, images, names, ("psnr", "ssim"), methods, seed=args.seed,
                                  progress=args.progress)
    mean = result["mean"]
    honest = [m for m in methods if m not in ORACLES]
    best = max(honest, key=lambda m: mean[m]["psnr"])
    return {"task": name, "run": str(run), "steps": saved.total_steps, "calibrated_steps_per_s": rate,
            "train_elapsed_s": elapsed, "precision": "bfloat16" if saved.mixed_precision else "float32",
            "speed_choice": saved.speed_choice, "load_during_training": load,
            "val_psnr_curve": vals, "conventions": conventions_text(spec.task, spec.scale, spec.channels),
            "images": names, "image_sizes": [list(im.shape) for im in images], "baselines": list(methods),
            "best_nonoracle_baseline": best, "ours_minus_best_db": mean["model"]["psnr"] - mean[best]["psnr"],
            "mean": mean, "per_image": result["per_image"]}


def one_line(rec):
    """The task's summary line."""
    mean = rec["mean"]
    parts = [f"{rec['task']:<8} ours {mean['model']['psnr']:.2f} dB (SSIM {mean['model']['ssim']:.4f})"]
    parts += [f"{m} {mean[m]['psnr']:.2f} dB" for m in rec["baselines"]]
    parts.append(f"ours - {rec['best_nonoracle_baseline']} = {rec['ours_minus_best_db']:+.2f} dB")
    parts.append(f"train {rec['train_elapsed_s'] / 60:.1f} min (steps {rec['steps']}, precision {rec['precision']})")
    speed = f"ours {mean['model']['seconds']:.2f} s/img"
    if "bm3d" in mean:
        speed += f" vs bm3d {mean['bm3d']['seconds']:.2f} s/img ({mean['bm3d']['seconds'] / mean['model']['seconds']:.0f}x)"
    else:
        speed += " vs " + ", ".join(f"{m} {mean[m]['seconds']:.2f}" for m in rec["baselines"])
    parts.append(speed)
    if rec["load_during_training"]:
        load = rec["load_during_training"]
        parts.append(f"load {load['mean']:.1f} (max {load['max']:.1f})")
    return " | ".join(parts)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="denoise,sr2,deblur", help="comma list of " + ", ".join(TASKS))
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time per task")
    parser.add_argument("--steps", type=int, default=None, help="train exactly this many steps (no calibration)")
    parser.add_argument("--seed", type=int, default=0, help="training and evaluation seed")
    parser.add_argument("--outdir", default="", help="parent of the run directories (default: a temporary folder)")
    parser.add_argument("--out", default="bench_restore_quality.json", help="JSON file of the full records")
    parser.add_argument("--run", default="", help="evaluate this finished run of the one --tasks task, no training")
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    args = parser.parse_args(argv)
    names = [t.strip() for t in args.tasks.split(",") if t.strip()]
    bad = [t for t in names if t not in TASKS]
    if bad:
        parser.error(f"unknown task(s) {', '.join(bad)}; choose from {', '.join(TASKS)}")
    if args.run and len(names) != 1:
        parser.error("--run evaluates one run: give its task alone in --tasks")
    outdir = Path(args.outdir or tempfile.mkdtemp(prefix="restore_quality_"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    records, lines = [], []
    for name in names:
        start = time.time()
        rec = evaluate_run(name, Path(args.run), args) if args.run else bench_task(name, args, outdir)
        rec["bench_wall_s"] = time.time() - start
        records.append(rec)
        lines.append(one_line(rec))
        print(lines[-1], flush=True)
        write_json(args.out, {"cpu": cpu, "args": vars(args), "records": records})
    print("\n".join(["", f"# CPU: {cpu}", *lines]))


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
