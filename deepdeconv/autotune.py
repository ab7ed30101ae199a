"""Automatic speed switches decided by measurement on the machine the run starts on.

Whether bfloat16 arithmetic speeds a CPU's training step up or slows it down depends on the
CPU, the TensorFlow build and the model, and cannot be told from the instruction flags. So,
on a CPU, every speed option left at auto is timed: each candidate builds the run's own model
under the run's strategy and trains a few steps on the run's own batch, candidates taking
turns (`deepdeconv.timing`); an alternative beats the safe first candidate (float32) only if
it is faster by `timing.MARGIN` in every round, so noise can only ever fall back to float32.
The verdict is cached in the user cache, keyed by the machine's boot, CPU, TensorFlow version, the model's
variables, the batch and the step's options, so the next run of the same shape on the same machine starts
at once. The boot is in the key because two hosts reporting the same CPU model and flags were measured to
differ (bfloat16 faster on one, slower on the other): a home folder shared between them, or carried to a
new virtual machine, must not pass one host's verdict to the other.

GPUs and TPUs are not measured: their defaults stay those of `deepdeconv.precision`.
"""
import datetime
import functools
import hashlib
import itertools
import json
import os
import platform
import statistics
import sys
import time
import typing
from typing import Optional

import tensorflow as tf

from deepdeconv import distribute, precision, timing
from deepdeconv.fileio import write_json
# The user cache root; the one place this module learns where the cache lives.
from deepdeconv.cache import cache_dir

# The speed switches auto decides on a CPU: config field -> values, the safe one first.
# XLA (`jit`) is not a candidate: its CPU convolutions do not use oneDNN, it was measured
# several times slower on every model tried (bench/train_throughput.py), and compiling alone
# costs more than the whole measurement; `precision.resolve_jit` keeps it off on CPUs.
CPU_SWITCHES = {"mixed_precision": (False, True)}
# Options besides the model's variables and the batch that change what one step computes;
# dotted names reach into the nested restoration options.
STEP_FIELDS = ("task", "d_steps", "loss", "gp_weight", "r1_gamma", "augment", "ema", "conditional", "jit",
               "steps_per_execution", "restore.pixel_loss", "restore.adversarial")
CACHE_FOLDER = "autotune"
BOOT_ID = "/proc/sys/kernel/random/boot_id"  # Linux: a random id drawn at every boot


def cpu_candidates(config, bfloat16=None):
    """The settings auto chooses between on a CPU: every combination of the switches left at None.

    Args:
        config: the run's TrainConfig.
        bfloat16: whether the CPU has bfloat16 instructions (None: ask the CPU).

    Returns:
        A list of {field: value} dicts, the all-safe one first; empty when nothing is auto.
    """
    if bfloat16 is None:
        bfloat16 = precision.cpu_supports_bfloat16()
    options = {}
    for field, values in CPU_SWITCHES.items():
        if getattr(config, field) is None:
            options[field] = [v for v in values if not (field == "mixed_precision" and v and not bfloat16)]
    if not options:
        return []
    return [dict(zip(options, combo)) for combo in itertools.product(*options.values())]


def cpu_description():
    """(model name, short hash of the feature flags) of this machine's CPU.

    The model name alone is not enough: virtual machines often report a generic one.
    """
    name, flags = "", ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "cpu model") and not name:
                    name = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), hashlib.sha256(flags.encode()).hexdigest()[:12]


def machine_identity():
    """This boot of this machine: the kernel's boot id, or the host name where there is none.

    A new boot (a new virtual machine, a restart on other hardware) thus measures again; runs
    between two restarts, and containers sharing one kernel, share their verdicts.
    """
    try:
        with open(BOOT_ID) as f:
            return f.read().strip() or platform.node()
    except OSError:
        return platform.node()


def _layers(layer):
    yield type(layer).__name__
    for sub in getattr(layer, "layers", ()):
        yield from _layers(sub)


def model_fingerprint(model):
    """A hash of a model's layer types and variable shapes: changes whenever the model does.

    Variable names are left out: Keras numbers auto-named layers per process.
    """
    shapes = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    return hashlib.sha256(repr((list(_layers(model)), shapes)).encode()).hexdigest()[:16]


def cache_key(config, model, batch, candidates, strategy):
    """The cache file name of a verdict: machine, CPU, TensorFlow, model, batch, step options, candidates."""
    cpu, flags = cpu_description()
    spec = [(tuple(t.shape), str(t.dtype)) for t in tf.nest.flatten(batch)]
    parts = {"machine": machine_identity(), "cpu": cpu, "flags": flags, "cores": os.cpu_count(),
             "tensorflow": tf.__version__, "replicas": strategy.num_replicas_in_sync,
             "model": model_fingerprint(model), "batch": spec,
             "step": {f: functools.reduce(getattr, f.split("."), config) for f in STEP_FIELDS},
             "candidates": candidates}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


def cached_verdict(key, candidates):
    """The verdict cached under `key`, or None (missing, unreadable, or not one of `candidates`)."""
    path = cache_dir(CACHE_FOLDER, f"{key}.json")
    try:
        saved = json.loads(path.read_text())
        choice, rates = saved["choice"], saved["rates"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    numbers = isinstance(rates, dict) and all(
        isinstance(r, list) and r and all(isinstance(x, (int, float)) for x in r) for r in rates.values())
    if choice not in candidates or not numbers or set(rates) != {timing.label(c) for c in candidates}:
        return None
    return saved


def _save_verdict(key, verdict):
    try:
        write_json(cache_dir(CACHE_FOLDER, f"{key}.json"), verdict)
    except OSError as e:  # a read-only cache costs the next run a measurement, nothing more
        print(f"warning: could not cache the speed verdict ({e}).", file=sys.stderr)


def _summary(choice, rates, candidates):
    base = statistics.median(rates[timing.label(candidates[0])])
    shown = ", ".join(f"{timing.label(c)} {statistics.median(rates[timing.label(c)]):.0f} img/s "
                      f"({statistics.median(rates[timing.label(c)]) / base:.2f}x)" for c in candidates)
    return f"{timing.label(choice)} [{shown}]"


def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and strategy.extended._in_multi_worker_mode()


class Resolved(typing.NamedTuple):
    """What `resolve` decided."""

    config: object  # the TrainConfig with the auto switches replaced by choices
    event: Optional[dict]  # the log.jsonl record of the decision, None when nothing was decided
    model: object = None  # an untrained model of `config` built on the way, or None: build one


def resolve(config, strategy, build_model, make_batch, images_per_step, timer=None):
    """Replaces the config's auto speed options by measured choices on a CPU.

    Prints the decision to stderr. Nothing is decided on GPUs and TPUs, nor when every
    switch is given explicitly; a single candidate (a CPU without bfloat16) or several
    workers (which must agree) take the safe choice without timing.

    Args:
        config: a TrainConfig.
        strategy: the run's strategy; models are built in its scope.
        build_model: `build_model(config)` -> the compiled keras.Model the run will train
            (`gan.build_gan`, or a restoration model builder).
        make_batch: returns one batch as the model's `train_step` receives it (a structure of
            tensors); called only when something is measured or looked up.
        images_per_step: images one step trains on, to report images per second.
        timer: `timer(model, batch, images_per_step)` -> a function timing one round;
            None = `step_timer`.

    Returns:
        A `Resolved`: the config (with `speed_choice` describing the decision and its rates),
        the log event, and the model when one fit to train was built on the way.
    """
    if distribute.accelerator(strategy) != "cpu":
        return Resolved(config, None)
    candidates = cpu_candidates(config)
    if not candidates:
        return Resolved(config, None)
    event = {"event": "speed_choice", "candidates": [timing.label(c) for c in candidates]}
    if len(candidates) == 1 or _is_multi_worker(strategy):
        # Workers measuring apart could decide apart, so several workers take the safe choice.
        choice, why = candidates[0], "only candidate" if len(candidates) == 1 else "multi-worker: not measured"
        event.update(choice=choice, source=why, rates={}, seconds=0.0)
        return Resolved(_resolved(config, choice, f"{timing.label(choice)} ({why})"), event)
    start = time.perf_counter()
    batch = make_batch()
    # Every candidate has the same variables, so the safe one's model gives the cache key, and
    # is the run's model when the cached verdict is the safe choice.
    with strategy.scope():
        reference = build_model(config.replace(**candidates[0]))
    key = cache_key(config, reference, batch, candidates, strategy)
    saved = cached_verdict(key, candidates)
    if saved is not None:
        choice, rates, source = saved["choice"], saved["rates"], f"cached {saved.get('measured', '')}".strip()
        untrained = reference if choice == candidates[0] else None
    else:
        models = {0: reference}

        def build_and_time(settings):
            index = candidates.index(settings)
            if index not in models:
                with strategy.scope():
                    models[index] = build_model(config.replace(**settings))
            return (timer or timing.step_timer)(models[index], batch, images_per_step)

        choice, rates = timing.choose(candidates, build_and_time)
        source, untrained = "measured", None
        _save_verdict(key, {"choice": choice, "rates": rates, "cpu": cpu_description()[0],
                            "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")})
    seconds = time.perf_counter() - start
    path = cache_dir(CACHE_FOLDER, f"{key}.json")
    event.update(choice=choice, source=source, rates=rates, seconds=round(seconds, 2), cache=str(path))
    text = f"{_summary(choice, rates, candidates)} ({source} in {seconds:.1f} s; verdict cached in {path})"
    return Resolved(_resolved(config, choice, text), event, untrained)


def _resolved(config, choice, text):
    print(f"speed: {text}", file=sys.stderr)
    return config.replace(**choice, speed_choice=text)
