"""Timing alternative settings of a training step fairly on a shared machine.

Candidates are prepared first, then timed in turns (reversed every other round), and an
alternative replaces the safe first candidate only when it is faster by `MARGIN` in every
round; each round reports the fastest call, since other work only ever makes a call slower.
`deepdeconv.autotune` decides what to time and caches the verdicts.
"""
import time

import numpy as np
import tensorflow as tf

# An alternative must beat the safe candidate by this fraction in every round to be chosen.
MARGIN = 0.05
# Alternations of the candidates, and seconds (at least MIN_STEPS steps) each is timed per round.
ROUNDS = 2
SECONDS_PER_ROUND = 0.75
MIN_STEPS = 3
# Untimed calls after the first (which traces): the first executions allocate buffers and
# create oneDNN primitives.
WARMUP_CALLS = 2

_LABELS = {("mixed_precision", False): "float32", ("mixed_precision", True): "bfloat16",
           ("jit", False): "", ("jit", True): "xla"}


def label(settings):
    """A short name for a candidate's settings, e.g. "bfloat16" or "float32+xla"."""
    order = sorted(settings.items(), key=lambda kv: (kv[0] != "mixed_precision", kv[0]))  # precision first
    parts = [_LABELS.get((k, v), f"{k}={v}") for k, v in order]
    return "+".join(p for p in parts if p) or "default"


def choose(candidates, build_and_time, rounds=ROUNDS, margin=MARGIN):
    """Times every candidate in alternation and returns the one to use.

    Args:
        candidates: a list of settings dicts; the first is the safe fallback.
        build_and_time: `build_and_time(settings)` prepares the candidate (builds its model,
            warms it up) and returns a function that times one round and returns a rate
            (higher is faster, e.g. images per second).
        rounds: how many times each candidate is timed; all candidates are prepared first,
            then timed in turn once per round, so slow drifts of a shared machine hit all.
        margin: an alternative is chosen only if its rate is at least (1 + margin) times
            the first candidate's in every round; among several such, the one with the
            highest worst-round ratio wins.

    Returns:
        (chosen settings, {label: [rate per round]}). A single candidate is returned
        without calling `build_and_time`.
    """
    if len(candidates) == 1:
        return candidates[0], {}
    timers = [build_and_time(c) for c in candidates]
    rates = [[] for _ in candidates]
    for r in range(rounds):
        # Every other round in reverse order (A B, B A, ...), so that whatever the previous
        # candidate left behind (caches, a drift in the machine's load) hits all alike.
        for i in (range(len(candidates)) if r % 2 == 0 else reversed(range(len(candidates)))):
            rates[i].append(float(timers[i]()))
    base = rates[0]
    best, best_ratio = 0, 1.0 + margin
    for i in range(1, len(candidates)):
        worst = min(r / b if b > 0 else 0.0 for r, b in zip(rates[i], base))
        if worst >= best_ratio:
            best, best_ratio = i, worst
    return candidates[best], {label(c): r for c, r in zip(candidates, rates)}


def step_timer(model, batch, images_per_step, seconds=SECONDS_PER_ROUND, min_steps=MIN_STEPS):
    """Warms up `model`'s compiled train step on `batch`; returns a function timing one round.

    The step runs as `fit` runs it (`make_train_function` on a distributed iterator), so
    what is timed is exactly what training executes; each call's outputs are fetched before
    its clock stops.

    Returns:
        A function that trains for at least `seconds` and `min_steps` calls and returns
        images per second of its fastest call.
    """
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(model.distribute_strategy.experimental_distribute_dataset(dataset))
    model.make_train_function()
    step = model.train_function
    per_call = images_per_step * getattr(model, "steps_per_execution", 1)

    def wait(outputs):
        for value in tf.nest.flatten(outputs):
            np.asarray(value)

    for _ in range(1 + WARMUP_CALLS):
        wait(step(iterator))

    def time_round():
        wait(step(iterator))  # untimed: the first call after another candidate ran is slower
        times, start = [], time.perf_counter()
        while len(times) < min_steps or time.perf_counter() - start < seconds:
            begin = time.perf_counter()
            wait(step(iterator))
            times.append(time.perf_counter() - begin)
        # The fastest call: other work on a shared machine only ever makes a call slower.
        return per_call / min(times)

    return time_round
