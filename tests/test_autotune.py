import json
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepdeconv import autotune, distribute, precision, rundir, timing
from deepdeconv.gan import build_gan
from deepdeconv.training import resume_config, train
from tests.helpers import tiny_config

F32, BF16 = {"mixed_precision": False}, {"mixed_precision": True}


def _fake(rates_by_label, order=None):
    """build_and_time whose rounds return the given rates, recording what was built and timed."""
    built = []

    def build_and_time(settings):
        built.append(settings)
        name, rates = timing.label(settings), iter(rates_by_label[timing.label(settings)])
        return lambda: (order.append(name) if order is not None else None, next(rates))[1]

    return build_and_time, built


@pytest.mark.parametrize("bf16_rates,expected", [
    ([110.0, 106.0], BF16),   # faster by more than 5 % in both rounds
    ([105.0, 105.0], BF16),   # exactly the margin
    ([110.0, 104.0], F32),    # one round within noise: unsure, so float32
    ([130.0, 90.0], F32),     # faster once, slower once
    ([99.0, 98.0], F32),      # slower
])
def test_an_alternative_is_chosen_only_when_faster_by_the_margin_in_every_round(bf16_rates, expected):
    build_and_time, built = _fake({"float32": [100.0, 100.0], "bfloat16": bf16_rates})
    choice, rates = timing.choose([F32, BF16], build_and_time, rounds=2, margin=0.05)
    assert choice == expected
    assert rates == {"float32": [100.0, 100.0], "bfloat16": bf16_rates}
    assert built == [F32, BF16]


def test_among_several_faster_alternatives_the_best_worst_round_wins():
    candidates = [{"mixed_precision": False, "jit": False}, {"mixed_precision": True, "jit": False},
                  {"mixed_precision": False, "jit": True}]
    build_and_time, _ = _fake({"float32": [100.0, 100.0], "bfloat16": [150.0, 112.0],
                               "float32+xla": [125.0, 120.0]})
    assert timing.choose(candidates, build_and_time)[0] == candidates[2]


def test_auto_never_selects_an_option_measured_slower():
    rng = np.random.RandomState(0)
    candidates = [{"mixed_precision": False, "jit": False}, {"mixed_precision": True, "jit": False},
                  {"mixed_precision": True, "jit": True}]
    for _ in range(300):
        table = {timing.label(c): list(rng.uniform(50, 150, 2)) for c in candidates}
        build_and_time, _ = _fake({k: list(v) for k, v in table.items()})
        choice, _ = timing.choose(candidates, build_and_time)
        chosen, base = table[timing.label(choice)], table["float32"]
        assert all(c >= b for c, b in zip(chosen, base)), (table, choice)


def test_rounds_alternate_the_order_so_no_candidate_always_follows_another():
    order = []
    build_and_time, _ = _fake({"float32": [1.0] * 3, "bfloat16": [1.0] * 3}, order)
    timing.choose([F32, BF16], build_and_time, rounds=3)
    assert order == ["float32", "bfloat16", "bfloat16", "float32", "float32", "bfloat16"]


def test_a_single_candidate_is_returned_without_timing():
    def never(settings):
        raise AssertionError("nothing to compare, nothing to time")

    assert timing.choose([F32], never) == (F32, {})


def test_candidates_are_the_auto_switches_and_bfloat16_only_where_the_cpu_has_it(tmp_path):
    auto = tiny_config(tmp_path, mixed_precision=None)
    assert autotune.cpu_candidates(auto, bfloat16=True) == [F32, BF16]
    assert autotune.cpu_candidates(auto, bfloat16=False) == [F32]
    assert autotune.cpu_candidates(tiny_config(tmp_path, mixed_precision=True), bfloat16=True) == []


def _no_batch():
    raise AssertionError("no batch is needed when nothing is timed")


def test_without_bfloat16_instructions_auto_is_float32_without_timing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: False)

    def never(*args):
        raise AssertionError("a single candidate must not be built or timed")

    config, event, model = autotune.resolve(tiny_config(tmp_path, mixed_precision=None),
                                            tf.distribute.get_strategy(), never, _no_batch, 8, timer=never)
    assert config.mixed_precision is False and model is None
    assert event["source"] == "only candidate" and event["rates"] == {}
    assert "speed: float32" in capsys.readouterr().err


def test_gpus_and_explicit_choices_are_left_alone(tmp_path, monkeypatch):
    strategy = tf.distribute.get_strategy()
    explicit = tiny_config(tmp_path, mixed_precision=True)
    assert autotune.resolve(explicit, strategy, None, _no_batch, 8) == (explicit, None, None)
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: "gpu")
    auto = tiny_config(tmp_path, mixed_precision=None)
    assert autotune.resolve(auto, strategy, None, _no_batch, 8) == (auto, None, None)


class FakeTimer:
    """Rates by the model's dtype policy; records the policies it was asked to time."""

    def __init__(self, float32=100.0, bfloat16=150.0):
        self.rates = {"float32": float32, "mixed_bfloat16": bfloat16}
        self.timed = []

    def __call__(self, model, batch, images_per_step):
        policy = getattr(model, "generator", model).dtype_policy.name
        self.timed.append(policy)
        return lambda: self.rates[policy]


def _small_model(config):
    """A stand-in for the run's model: one layer whose size follows --width, under the run's policy."""
    with precision.dtype_policy(precision.precision_policy(config.mixed_precision, tf.distribute.get_strategy())):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(round(64 * config.width))])


def _resolve(config, timer):
    batch = lambda: tf.zeros((config.batch, 4))  # noqa: E731
    return autotune.resolve(config, tf.distribute.get_strategy(), _small_model, batch, config.batch, timer=timer)


def test_a_cached_verdict_is_reused_and_a_new_model_shape_is_measured_again(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    config = tiny_config(tmp_path, channels=1, mixed_precision=None)
    first = FakeTimer()
    resolved, event, model = _resolve(config, first)
    assert first.timed == ["float32", "mixed_bfloat16"]
    assert resolved.mixed_precision is True and event["source"] == "measured" and model is None
    assert event["rates"] == {"float32": [100.0, 100.0], "bfloat16": [150.0, 150.0]}
    assert "bfloat16" in resolved.speed_choice and "1.50x" in resolved.speed_choice

    again = FakeTimer(bfloat16=50.0)  # would now lose, but is not asked
    resolved, event, model = _resolve(config, again)
    assert again.timed == [] and resolved.mixed_precision is True and event["source"].startswith("cached")
    assert model is None  # the model built for the key is float32: the run builds its own

    wider = FakeTimer(bfloat16=50.0)
    resolved, _, _ = _resolve(config.replace(width=0.25), wider)
    assert wider.timed == ["float32", "mixed_bfloat16"] and resolved.mixed_precision is False
    resolved, _, model = _resolve(config.replace(width=0.25), wider)
    assert len(wider.timed) == 2 and resolved.mixed_precision is False
    assert model.layers[-1].dtype_policy.name == "float32"  # untrained, of the chosen settings: reused


def test_a_verdict_cached_on_another_boot_is_measured_again(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    monkeypatch.setattr(autotune, "machine_identity", lambda: "boot-a")
    config = tiny_config(tmp_path, channels=1, mixed_precision=None)
    resolved, _, _ = _resolve(config, FakeTimer())
    assert resolved.mixed_precision is True
    # Same CPU model and flags, another host: bfloat16 is slower there, and must be found so.
    monkeypatch.setattr(autotune, "machine_identity", lambda: "boot-b")
    other = FakeTimer(bfloat16=50.0)
    resolved, event, _ = _resolve(config, other)
    assert other.timed == ["float32", "mixed_bfloat16"] and event["source"] == "measured"
    assert resolved.mixed_precision is False


def test_the_machine_identity_is_the_boot_id_or_else_the_host_name(tmp_path, monkeypatch):
    boot = tmp_path / "boot_id"
    boot.write_text("6f1c0d2e-boot\n")
    monkeypatch.setattr(autotune, "BOOT_ID", str(boot))
    assert autotune.machine_identity() == "6f1c0d2e-boot"
    monkeypatch.setattr(autotune, "BOOT_ID", str(tmp_path / "missing"))
    monkeypatch.setattr(autotune.platform, "node", lambda: "host-7")
    assert autotune.machine_identity() == "host-7"


def test_a_corrupt_cache_file_is_ignored_and_replaced(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    config = tiny_config(tmp_path, channels=1, mixed_precision=None)
    _, event, _ = _resolve(config, FakeTimer())
    cached = isolated_cache / autotune.CACHE_FOLDER / Path(event["cache"]).name
    for garbage in ("{not json", "[]", json.dumps({"choice": {"mixed_precision": "yes"}, "rates": {}}),
                    json.dumps({"choice": BF16, "rates": {"bfloat16": [1.0]}})):
        cached.write_text(garbage)
        timer = FakeTimer()
        resolved, _, _ = _resolve(config, timer)
        assert timer.timed == ["float32", "mixed_bfloat16"] and resolved.mixed_precision is True
        assert json.loads(cached.read_text())["choice"] == BF16


def test_the_fingerprint_follows_shapes_not_layer_names(tmp_path):
    config = tiny_config(tmp_path, channels=1)
    one, two = build_gan(config), build_gan(config)  # the second gets other automatic layer names
    assert autotune.model_fingerprint(one) == autotune.model_fingerprint(two)
    assert autotune.model_fingerprint(one) != autotune.model_fingerprint(build_gan(config.replace(width=0.25)))


def test_the_step_timer_runs_the_compiled_train_step(tmp_path):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    batch = (tf.ones((8, 4)), tf.zeros((8, 1)))
    time_round = timing.step_timer(model, batch, images_per_step=8, seconds=0.0, min_steps=3)
    assert int(model.optimizer.iterations.numpy()) == 1 + timing.WARMUP_CALLS
    assert time_round() > 0
    assert int(model.optimizer.iterations.numpy()) == 1 + timing.WARMUP_CALLS + 1 + 3


@pytest.mark.slow  # two tiny training runs
def test_a_run_left_at_auto_records_the_measured_choice_and_resume_keeps_it(tmp_path, monkeypatch, isolated_cache):
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    timer = FakeTimer(float32=150.0, bfloat16=100.0)
    monkeypatch.setattr(timing, "step_timer", timer)
    run = train(tiny_config(tmp_path, mixed_precision=None, steps=1), progress=False)
    saved = json.loads((run / rundir.CONFIG).read_text())
    assert saved["mixed_precision"] is False and saved["speed_choice"].startswith("float32 [float32 150 img/s")
    events = [json.loads(line) for line in (run / rundir.LOG).read_text().splitlines()]
    speed = [e for e in events if e.get("event") == "speed_choice"]
    assert len(speed) == 1 and speed[0]["rates"] == {"float32": [150.0, 150.0], "bfloat16": [100.0, 100.0]}
    assert timer.timed == ["float32", "mixed_bfloat16"]

    train(resume_config(run, {"steps": 2}), run_dir=run, progress=False)
    assert timer.timed == ["float32", "mixed_bfloat16"]  # not measured again
    assert json.loads((run / rundir.CONFIG).read_text())["speed_choice"] == saved["speed_choice"]
