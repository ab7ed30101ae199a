"""tf.distribute, mixed precision and XLA: N replicas train like one device; choices by name."""
import json
import re
import shutil
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepdeconv import distribute, precision, rundir
from deepdeconv.augment import StatelessRandom, diff_augment
from deepdeconv.errors import UserError
from deepdeconv.gan import build_gan
from deepdeconv.training import resume_config, train
from helpers import tiny_config


def _two_logical_cpus():
    """Splits the CPU into two logical devices, so MirroredStrategy has two replicas.

    This only works before TensorFlow starts its runtime; when another test module started it
    first, tests/conftest.py must make the split at start-up.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    except RuntimeError:
        pass  # already started: whatever conftest.py configured stands
    return len(tf.config.list_logical_devices("CPU"))


LOGICAL_CPUS = _two_logical_cpus()


def _checkpoint(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files if not k.startswith("__")}


def _losses(run_dir):
    records = [json.loads(line) for line in (run_dir / rundir.LOG).read_text().splitlines()]
    return {r["step"]: (r["d_loss"], r["g_loss"]) for r in records if "d_loss" in r}


def _null_directions(keys):
    """Checkpoint keys of weights whose gradient is zero: a convolution bias followed by batch
    norm, which subtracts it again, and the moving mean that tracks it. Adam turns rounding
    noise in their zero gradient into steps of the full learning rate, so they differ between
    any two summation orders and say nothing about the training."""
    return {k for k in keys if re.fullmatch(r"discriminator/(down\d+/bias|down\d+_bn/moving_mean)", k)}


@pytest.mark.slow
def test_mirrored_run_on_two_devices_resumes_and_trains_like_one_device(tmp_path):
    assert LOGICAL_CPUS >= 2, "tests/conftest.py must split the CPU into two logical devices at start-up"
    # The reference: one device, four steps, a checkpoint after each. DiffAugment is on, so the
    # per-example random draws must reach the same images on two replicas as on one; two
    # discriminator steps per step, so each must get the same slice of the batch.
    config = tiny_config(tmp_path / "single", steps=4, checkpoint_every=1, keep_checkpoints=4,
                         augment="translation", d_norm="batch", d_steps=2, strategy="default")
    single = train(config, progress=False)
    # The same run resumed after step 1 on two replicas: a per-replica batch of 4, synchronised
    # batch norm (generator and discriminator), gradients summed over replicas, losses logged
    # as global means.
    mirrored = tmp_path / "mirrored" / single.name
    mirrored.mkdir(parents=True)
    shutil.copy(single / rundir.CONFIG, mirrored / rundir.CONFIG)
    first = rundir.checkpoint_path(single, 1)
    rundir.checkpoint_path(mirrored, 1).parent.mkdir()
    shutil.copy(first, rundir.checkpoint_path(mirrored, 1))
    config = resume_config(mirrored, {"strategy": "mirrored"})
    train(config, run_dir=mirrored, progress=False)

    start = _checkpoint(first)
    want = _checkpoint(rundir.checkpoint_path(single, 4))
    got = _checkpoint(rundir.checkpoint_path(mirrored, 4))
    assert int(got["step/step"]) == 4
    null = _null_directions(want)
    for group in ("generator", "discriminator", "generator_ema", "g_optimizer", "d_optimizer"):
        keys = [k for k in want if k.startswith(group + "/") and k not in null]
        change = np.sqrt(sum(np.sum((want[k] - start[k]) ** 2.0) for k in keys))
        error = np.sqrt(sum(np.sum((got[k] - want[k]) ** 2.0) for k in keys))
        # Without synchronised batch norm the error is as large as the change itself.
        assert change > 0 and error < 1e-3 * change, (group, error, change)
    want_losses, got_losses = _losses(single), _losses(mirrored)
    assert sorted(got_losses) == [2, 3, 4]
    for step in (2, 3, 4):
        np.testing.assert_allclose(got_losses[step], want_losses[step], rtol=1e-4)


def test_augmentation_draws_on_each_replica_are_its_slice_of_the_global_draws():
    x = tf.constant(np.random.RandomState(0).uniform(-1, 1, (8, 32, 32, 3)).astype("float32"))
    seed = tf.constant([17, 3], tf.int64)
    policy = ("color", "translation", "cutout")
    one = diff_augment(x, policy, StatelessRandom(seed))
    two = [diff_augment(x[r * 4:(r + 1) * 4], policy, StatelessRandom(seed, r, 2)) for r in range(2)]
    np.testing.assert_array_equal(tf.concat(two, 0).numpy(), one.numpy())
    # A replica drawing as if it were alone would reuse replica 0's numbers.
    assert not np.array_equal(two[1].numpy(), diff_augment(x[4:], policy, StatelessRandom(seed)).numpy())


@pytest.mark.slow
@pytest.mark.parametrize("device,policy", [("gpu", "mixed_float16"), ("cpu", "mixed_bfloat16")])
def test_mixed_precision_step_keeps_float32_variables_and_returns_finite_losses(tmp_path, monkeypatch, device,
                                                                               policy):
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: device)
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    gan = build_gan(tiny_config(tmp_path, channels=1, mixed_precision=True, r1_gamma=1.0, jit=False))
    assert gan.generator.dtype_policy.name == policy and gan.discriminator.dtype_policy.name == policy
    assert gan.ema_generator.dtype_policy.name == "float32"  # sampling stays full precision
    scaled = isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert scaled == isinstance(gan.d_optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    before = [w.numpy().copy() for w in gan.generator.trainable_weights]

    x = np.random.RandomState(0).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    data = tf.data.Dataset.from_tensors((x, np.zeros(8, "int32"))).repeat()
    history = gan.fit(data, steps_per_epoch=2, epochs=1, verbose=0).history

    assert all(np.isfinite(v[-1]) for v in history.values()), history
    assert history["penalty"][-1] > 0
    models = (gan.generator, gan.discriminator, gan.ema_generator)
    assert {v.dtype for m in models for v in m.weights} == {"float32"}
    optimizer_floats = {v.dtype for v in gan.g_optimizer.variables + gan.d_optimizer.variables if "float" in v.dtype}
    assert optimizer_floats == {"float32"}
    assert gan.generator(tf.zeros((2, 16))).dtype == tf.float32
    assert gan.discriminator(tf.zeros((2, 32, 32, 1))).dtype == tf.float32
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(before, gan.generator.trainable_weights))
    if scaled:
        assert np.isfinite(gan.g_optimizer.dynamic_scale.numpy())


def test_auto_strategy_prefers_tpu_then_a_tf_config_cluster_then_several_gpus(monkeypatch):
    for key in ("TPU_NAME", "COLAB_TPU_ADDR", "TF_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(distribute, "_TPU_DEVICE_AUTO", "/nonexistent/accel0")
    assert distribute.resolve_strategy_name("auto") == "default"
    assert distribute.resolve_strategy_name("auto", tpu="grpc://10.0.0.2:8470") == "tpu"
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1", "b:2"]},
                                                "task": {"type": "worker", "index": 0}}))
    assert distribute.resolve_strategy_name("auto") == "multiworker"
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert distribute.resolve_strategy_name("auto") == "tpu"
    assert distribute.resolve_strategy_name("mirrored") == "mirrored"  # explicit choices stand


def test_strategy_mistakes_are_one_sentence_user_errors(monkeypatch):
    with pytest.raises(UserError, match="--strategy"):
        distribute.make_strategy("horovod")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(UserError, match="TF_CONFIG"):
        distribute.make_strategy("multiworker")


def test_precision_follows_the_option_else_the_device(monkeypatch):
    strategy = tf.distribute.get_strategy()
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: True)
    assert precision.precision_policy(False, strategy) == "float32"
    assert precision.precision_policy(None, strategy) == "float32"  # unmeasured; training measures (autotune)
    monkeypatch.setattr(precision, "cpu_supports_bfloat16", lambda: False)
    assert precision.precision_policy(None, strategy) == "float32"
    with pytest.raises(UserError, match="--mixed-precision"):
        precision.precision_policy(True, strategy)
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: "gpu")
    assert precision.precision_policy(True, strategy) == "mixed_float16"
    assert precision.precision_policy(None, strategy) == "float32"
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: "tpu")
    assert precision.precision_policy(True, strategy) == "mixed_bfloat16"


def test_jit_follows_the_option_else_the_device(monkeypatch):
    strategy = tf.distribute.get_strategy()
    assert precision.resolve_jit(True, strategy) and not precision.resolve_jit(False, strategy)
    for default in (True, False):
        monkeypatch.setattr(precision, "JIT_ON_CPU", default)
        assert precision.resolve_jit(None, strategy) is default
    monkeypatch.setattr(distribute, "accelerator", lambda strategy: "gpu")
    assert precision.resolve_jit(None, strategy)


def _fake_worker(task_type, task_id, cluster):
    spec = tf.train.ClusterSpec(cluster)
    resolver = SimpleNamespace(task_type=task_type, task_id=task_id, cluster_spec=lambda: spec)
    return SimpleNamespace(cluster_resolver=resolver)


def test_the_chief_is_the_chief_task_or_else_worker_zero():
    workers = {"worker": ["a:1", "b:2"]}
    with_chief = {"chief": ["c:3"], "worker": ["a:1", "b:2"]}
    assert distribute.is_chief(tf.distribute.get_strategy())
    assert distribute.is_chief(_fake_worker("worker", 0, workers))
    assert not distribute.is_chief(_fake_worker("worker", 1, workers))
    assert distribute.is_chief(_fake_worker("chief", 0, with_chief))
    assert not distribute.is_chief(_fake_worker("worker", 0, with_chief))


def test_other_workers_write_into_a_scratch_folder_that_is_removed(tmp_path):
    with distribute.output_dir(tf.distribute.get_strategy(), tmp_path / "run", tmp_path) as out:
        assert out == tmp_path / "run"
    with distribute.output_dir(_fake_worker("worker", 1, {"worker": ["a:1", "b:2"]}), None, tmp_path) as out:
        assert out.parent == tmp_path
        (out / "samples").mkdir()
        (out / "samples" / "grid.png").write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("d_steps,replicas", [(1, 2), (2, 2), (3, 4)])
def test_replicas_cut_a_reordered_batch_into_the_same_discriminator_slices_as_one_device(d_steps, replicas):
    batch = 8
    rows = np.array(distribute.replica_order(batch, d_steps, replicas))
    assert sorted(rows) == list(range(batch * d_steps))
    blocks = rows.reshape(replicas, d_steps, batch // replicas)  # contiguous per replica, then per step
    for step in range(d_steps):
        assert list(blocks[:, step].ravel()) == list(range(step * batch, (step + 1) * batch))


def test_mirrored_strategy_hands_each_replica_a_contiguous_block_of_the_global_batch():
    # `replica_order` and the per-replica slices of the random draws rely on it.
    assert LOGICAL_CPUS >= 2, "tests/conftest.py must split the CPU into two logical devices at start-up"
    strategy = distribute.make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    dataset = tf.data.Dataset.range(16).batch(8)
    first = next(iter(strategy.experimental_distribute_dataset(dataset)))
    assert [list(t.numpy()) for t in strategy.experimental_local_results(first)] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    distribute.check_batch(8, strategy)
    with pytest.raises(UserError, match="--batch 7"):
        distribute.check_batch(7, strategy)


def test_one_mirrored_strategy_per_process_so_a_second_run_can_all_reduce():
    # A second MirroredStrategy over the same devices fails its first all-reduce when an
    # earlier one has run (a notebook training twice); the process keeps one.
    assert distribute.make_strategy("mirrored") is distribute.make_strategy("mirrored")
