"""Each loss against values computed by hand; penalties against finite differences."""
import math

import numpy as np
import pytest
import tensorflow as tf

from deepdeconv import losses

REAL = tf.constant([[2.0], [-1.0]])
FAKE = tf.constant([[0.5], [-3.0]])


def softplus(x):
    return math.log1p(math.exp(x))


def test_nsgan_losses_match_binary_cross_entropy_by_hand():
    d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
    g = (softplus(-0.5) + softplus(3.0)) / 2
    assert float(losses.nsgan_discriminator_loss(REAL, FAKE)) == pytest.approx(d, rel=1e-6)
    assert float(losses.nsgan_generator_loss(FAKE)) == pytest.approx(g, rel=1e-6)


def test_nsgan_loss_is_log_four_at_chance():
    zeros = tf.zeros((4, 1))
    assert float(losses.nsgan_discriminator_loss(zeros, zeros)) == pytest.approx(2 * math.log(2), rel=1e-6)


def test_hinge_losses_by_hand():
    # relu(1-2)=0, relu(1+1)=2 -> 1 ; relu(1+0.5)=1.5, relu(1-3)=0 -> 0.75
    assert float(losses.hinge_discriminator_loss(REAL, FAKE)) == pytest.approx(1.75)
    assert float(losses.hinge_generator_loss(FAKE)) == pytest.approx(1.25)


def test_wasserstein_losses_by_hand():
    assert float(losses.wasserstein_discriminator_loss(REAL, FAKE)) == pytest.approx(-1.25 - 0.5)
    assert float(losses.wasserstein_generator_loss(FAKE)) == pytest.approx(1.25)


def test_lsgan_losses_by_hand():
    d = 0.5 * ((2 - 1) ** 2 + (-1 - 1) ** 2) / 2 + 0.5 * (0.5 ** 2 + 3.0 ** 2) / 2
    g = 0.5 * ((0.5 - 1) ** 2 + (-3 - 1) ** 2) / 2
    assert float(losses.lsgan_discriminator_loss(REAL, FAKE)) == pytest.approx(d)
    assert float(losses.lsgan_generator_loss(FAKE)) == pytest.approx(g)


def _quadratic_critic(w):
    # D(x) = sum(w * x^2): gradient 2 w x, known in closed form.
    return lambda x, training=True: tf.reduce_sum(w * tf.square(x), axis=[1, 2, 3])[:, None]


def test_gradient_penalty_matches_closed_form_and_finite_differences():
    rng = np.random.RandomState(0)
    w = tf.constant(rng.uniform(0.5, 1.5, (1, 3, 3, 1)), tf.float64)
    real = tf.constant(rng.randn(2, 3, 3, 1))
    fake = tf.constant(rng.randn(2, 3, 3, 1))
    alpha = tf.constant([[[[0.25]]], [[[0.8]]]], tf.float64)
    critic = _quadratic_critic(w)
    gp = float(losses.gradient_penalty(critic, real, fake, alpha, eps=0.0))

    x_hat = (alpha * real + (1 - alpha) * fake).numpy()
    closed = np.mean([(np.linalg.norm(2 * w.numpy()[0] * x) - 1) ** 2 for x in x_hat])
    assert gp == pytest.approx(closed, rel=1e-9)

    # Finite differences of the critic itself, independent of the closed form.
    h = 1e-6
    fd_norms = []
    for x in x_hat:
        grad = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[idx] += h
            down[idx] -= h
            grad[idx] = (float(critic(up[None])[0, 0]) - float(critic(down[None])[0, 0])) / (2 * h)
        fd_norms.append(np.linalg.norm(grad))
    assert gp == pytest.approx(np.mean([(n - 1) ** 2 for n in fd_norms]), rel=1e-5)


def test_gradient_penalty_is_finite_where_the_gradient_vanishes():
    # D(x) = sum(x^2) has zero gradient at x = 0: without eps, d||grad||/dx is 0/0 there.
    critic = _quadratic_critic(tf.ones((1, 2, 2, 1)))
    x = tf.zeros((2, 2, 2, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        gp = losses.gradient_penalty(critic, x, x, tf.fill((2, 1, 1, 1), 0.5))
    assert float(gp) == pytest.approx(1.0, rel=1e-5)
    assert np.all(np.isfinite(tape.gradient(gp, x).numpy()))


def test_r1_penalty_is_mean_squared_gradient_norm():
    w = tf.constant(np.full((1, 2, 2, 1), 0.5))
    real = tf.constant(np.arange(8, dtype=np.float64).reshape(2, 2, 2, 1))
    expected = np.mean([np.sum((2 * 0.5 * x) ** 2) for x in real.numpy()])
    assert float(losses.r1_penalty(_quadratic_critic(w), real)) == pytest.approx(expected)
