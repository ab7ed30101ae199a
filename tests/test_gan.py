"""The GAN step: it trains, it is finite, EMA follows its formula, every loss runs."""
import numpy as np
import pytest
import tensorflow as tf

from deepdeconv.gan import build_gan
from helpers import tiny_config


def _batches(channels=1, batch=8, seed=0):
    x = np.random.RandomState(seed).uniform(-1, 1, (batch, 32, 32, channels)).astype("float32")
    return tf.data.Dataset.from_tensors((x, np.zeros(batch, "int32"))).repeat()


def _weights(model):
    return [w.numpy().copy() for w in model.weights]


@pytest.mark.slow
@pytest.mark.parametrize("loss,extra", [("nsgan", {}), ("hinge", {"d_norm": "spectral"}), ("lsgan", {"d_norm": "none"}),
                                        ("wgan-gp", {}), ("nsgan", {"r1_gamma": 1.0, "d_norm": "batch", "d_steps": 2})])
def test_one_real_step_changes_both_networks_and_returns_finite_losses(tmp_path, loss, extra):
    config = tiny_config(tmp_path, channels=1, loss=loss, **extra)
    gan = build_gan(config)
    g0, d0 = _weights(gan.generator), _weights(gan.discriminator)
    data = _batches(batch=config.batch * config.d_steps)
    history = gan.fit(data, steps_per_epoch=1, epochs=1, verbose=0)
    assert all(np.isfinite(v[-1]) for v in history.history.values())
    assert int(gan.step.numpy()) == 1
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(g0, gan.generator.trainable_weights))
    assert any(not np.array_equal(a, b.numpy()) for a, b in zip(d0, gan.discriminator.trainable_weights))
    if loss == "wgan-gp" or extra.get("r1_gamma"):
        assert history.history["penalty"][-1] > 0


def test_ema_keeps_decay_once_the_rampup_no_longer_caps_the_half_life():
    from deepdeconv.ema import decay_factor
    assert float(decay_factor(0, 0.999, 0.05)) == 0.0  # half-life 0: the first step copies
    # step 3,900: the half-life is capped at 0.05 * 3,900 = 195 steps, under decay 0.999's 692.8
    assert float(decay_factor(3900, 0.999, 0.05)) == pytest.approx(0.5 ** (1 / 195), abs=1e-7)
    assert float(decay_factor(100_000, 0.999, 0.05)) == pytest.approx(0.999, abs=1e-7)
    assert float(decay_factor(5, 0.999, 0.0)) == pytest.approx(0.999, abs=1e-7)


@pytest.mark.slow
def test_ema_is_the_decayed_average_of_the_generator_weights(tmp_path):
    config = tiny_config(tmp_path, channels=1, ema_decay=0.75, ema_rampup=0)
    gan = build_gan(config)
    ema_before = _weights(gan.ema_generator)
    gan.fit(_batches(), steps_per_epoch=1, epochs=1, verbose=0)
    for avg, before, now in zip(gan.ema_generator.weights, ema_before, gan.generator.weights):
        np.testing.assert_allclose(avg.numpy(), 0.75 * before + 0.25 * now.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.slow
def test_ema_rampup_starts_by_copying_the_weights(tmp_path):
    config = tiny_config(tmp_path, channels=1, ema_decay=0.999, ema_rampup=0.05)
    gan = build_gan(config)
    gan.fit(_batches(), steps_per_epoch=1, epochs=1, verbose=0)  # step 0: half-life capped at 0 -> a copy
    for avg, now in zip(gan.ema_generator.weights, gan.generator.weights):
        np.testing.assert_allclose(avg.numpy(), now.numpy(), rtol=1e-6)


@pytest.mark.slow
def test_same_seed_gives_the_same_training_and_another_seed_does_not(tmp_path):
    def run(seed):
        tf.keras.utils.set_random_seed(0)  # same initial weights
        gan = build_gan(tiny_config(tmp_path, channels=1, seed=seed))
        gan.fit(_batches(), steps_per_epoch=2, epochs=1, verbose=0)
        return gan.generator.get_weights()

    a, b, c = run(1), run(1), run(2)
    assert all(np.allclose(x, y, atol=1e-6) for x, y in zip(a, b))
    assert not all(np.allclose(x, y) for x, y in zip(a, c))


@pytest.mark.slow
def test_every_random_draw_of_a_step_has_its_own_stream_at_the_largest_d_steps(tmp_path, monkeypatch):
    from deepdeconv import gan as gan_module
    from deepdeconv.errors import UserError

    config = tiny_config(tmp_path, channels=1, d_steps=8, batch=2)
    gan = build_gan(config)
    streams = []
    rng = gan_module.GAN._rng
    monkeypatch.setattr(gan_module.GAN, "_rng", lambda self, stream: streams.append(stream) or rng(self, stream))
    x = np.zeros((config.batch * config.d_steps, 32, 32, 1), "float32")
    gan.train_step(tf.constant(x))  # eagerly: one call per draw
    assert len(streams) == len(set(streams)) == 2 + config.d_steps
    assert all(0 <= s < gan_module.NUM_STREAMS for s in streams)
    with pytest.raises(UserError, match="--d-steps must lie in 1..8"):
        tiny_config(tmp_path, d_steps=9)


def _one_step(tmp_path, update, d_lr):
    tf.keras.utils.set_random_seed(0)
    gan = build_gan(tiny_config(tmp_path, channels=1, update=update, d_lr=d_lr, ema=False))
    gan.fit(_batches(), steps_per_epoch=1, epochs=1, verbose=0)
    return _weights(gan.generator), [w.numpy() for w in gan.discriminator.trainable_weights]


@pytest.mark.slow
def test_simultaneous_update_trains_the_generator_through_the_discriminator_before_its_update(tmp_path):
    # With a learning rate far below float32's resolution the discriminator does not change
    # within the step, so the
    # generator's update is the same in either order; the discriminator's never depends on it.
    seq_g, seq_d = _one_step(tmp_path, "sequential", 1e-30)
    sim_g, sim_d = _one_step(tmp_path, "simultaneous", 1e-30)
    for a, b in zip(seq_g, sim_g):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    seq_g, seq_d = _one_step(tmp_path, "sequential", 2e-4)
    sim_g, sim_d = _one_step(tmp_path, "simultaneous", 2e-4)
    for a, b in zip(seq_d, sim_d):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(seq_g, sim_g))


def test_simultaneous_update_needs_one_discriminator_step(tmp_path):
    from deepdeconv.errors import UserError

    with pytest.raises(UserError, match="--update simultaneous needs --d-steps 1"):
        tiny_config(tmp_path, update="simultaneous", d_steps=2)
    with pytest.raises(UserError, match="--update must be one of"):
        tiny_config(tmp_path, update="alternating")


def test_update_auto_is_simultaneous_with_one_discriminator_step_else_sequential(tmp_path):
    assert tiny_config(tmp_path).update == "simultaneous"
    assert tiny_config(tmp_path, d_steps=2).update == "sequential"


def test_gan_compile_without_update_follows_the_same_auto_rule(tmp_path):
    import keras

    gan = build_gan(tiny_config(tmp_path, channels=1, ema=False))
    for d_steps, simultaneous in ((1, True), (2, False)):
        gan.compile(keras.optimizers.Adam(), keras.optimizers.Adam(), d_steps=d_steps)
        assert gan.simultaneous is simultaneous


def test_a_saved_config_from_before_the_update_default_changed_resumes_sequential(tmp_path):
    import json

    from deepdeconv.config import TrainConfig

    d = tiny_config(tmp_path).to_dict()
    del d["update"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TrainConfig.load(tmp_path / "config.json").update == "sequential"


def test_d_width_auto_is_half_the_generator_width_for_gan_and_equal_for_restoration(tmp_path):
    assert tiny_config(tmp_path, width=1.0).d_width == 0.5
    assert tiny_config(tmp_path, width=1.0, d_width=0.75).d_width == 0.75
    assert tiny_config(tmp_path, task="denoise", data="photos", width=1.0).d_width == 1.0


def test_discriminator_channels_follow_d_width_not_width(tmp_path):
    # DCGAN's first discriminator stage has 64 channels at width 1 (layers.channels_at).
    for d_width, first in ((None, 32), (1.0, 64), (0.25, 16)):
        gan = build_gan(tiny_config(tmp_path, channels=1, width=1.0, d_width=d_width, ema=False))
        assert gan.discriminator.get_layer("down16").filters == first


def test_a_saved_config_from_before_d_width_keeps_a_discriminator_as_wide_as_the_generator(tmp_path):
    import json

    from deepdeconv.config import TrainConfig

    d = tiny_config(tmp_path, width=0.5).to_dict()
    del d["d_width"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TrainConfig.load(tmp_path / "config.json").d_width == 0.5


def test_the_default_gan_discriminator_has_the_minibatch_std_feature_and_no_mbstd_removes_it(tmp_path):
    for mbstd in (True, False):
        config = tiny_config(tmp_path, channels=1, ema=False, **({} if mbstd else {"mbstd": False}))
        names = [layer.name for layer in build_gan(config).discriminator.layers]
        assert ("mbstd" in names) is mbstd


def test_a_saved_config_from_before_mbstd_was_on_by_default_keeps_its_discriminator_without_it(tmp_path):
    import json

    from deepdeconv.config import TrainConfig

    d = tiny_config(tmp_path).to_dict()
    del d["mbstd"]
    (tmp_path / "config.json").write_text(json.dumps(d))
    assert TrainConfig.load(tmp_path / "config.json").mbstd is False
