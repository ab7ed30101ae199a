"""GAN losses as small pure functions of discriminator logits, and gradient penalties.

Each `<kind>_discriminator_loss` / `<kind>_generator_loss` returns the batch mean; the GAN
step divides by the number of replicas so that gradients summed across replicas equal the
gradient of the global-batch mean (the tf.distribute convention).
"""
import tensorflow as tf


def nsgan_discriminator_loss(real_logits, fake_logits):
    """Standard GAN discriminator loss (Goodfellow et al. 2014), in logit form.

    -log sigmoid(real) - log(1 - sigmoid(fake)) = softplus(-real) + softplus(fake), which is
    numerically safe for logits of any size.
    """
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(tf.nn.softplus(fake_logits))


def nsgan_generator_loss(fake_logits):
    """Non-saturating generator loss -log sigmoid(fake) (Goodfellow et al. 2014, sec. 3)."""
    return tf.reduce_mean(tf.nn.softplus(-fake_logits))


def hinge_discriminator_loss(real_logits, fake_logits):
    """Hinge loss relu(1 - real) + relu(1 + fake) (Lim & Ye 2017; Miyato et al. 2018)."""
    return tf.reduce_mean(tf.nn.relu(1.0 - real_logits)) + tf.reduce_mean(tf.nn.relu(1.0 + fake_logits))


def hinge_generator_loss(fake_logits):
    """Hinge generator loss -fake (Lim & Ye 2017)."""
    return -tf.reduce_mean(fake_logits)


def wasserstein_discriminator_loss(real_logits, fake_logits):
    """Critic loss fake - real (Arjovsky et al. 2017); pair with `gradient_penalty`."""
    return tf.reduce_mean(fake_logits) - tf.reduce_mean(real_logits)


def wasserstein_generator_loss(fake_logits):
    """Wasserstein generator loss -fake (Arjovsky et al. 2017)."""
    return -tf.reduce_mean(fake_logits)


def lsgan_discriminator_loss(real_logits, fake_logits):
    """Least-squares loss 0.5 (real - 1)^2 + 0.5 fake^2 (Mao et al. 2017, a=0, b=c=1)."""
    return 0.5 * tf.reduce_mean(tf.square(real_logits - 1.0)) + 0.5 * tf.reduce_mean(tf.square(fake_logits))


def lsgan_generator_loss(fake_logits):
    """Least-squares generator loss 0.5 (fake - 1)^2 (Mao et al. 2017)."""
    return 0.5 * tf.reduce_mean(tf.square(fake_logits - 1.0))


LOSSES = {
    "nsgan": (nsgan_discriminator_loss, nsgan_generator_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
    "wgan-gp": (wasserstein_discriminator_loss, wasserstein_generator_loss),
    "lsgan": (lsgan_discriminator_loss, lsgan_generator_loss),
}


def _per_example_gradient_norm_sq(discriminator, images):
    with tf.GradientTape() as tape:
        tape.watch(images)
        total = tf.reduce_sum(discriminator(images, training=True))
    grads = tape.gradient(total, images)
    if grads.dtype in (tf.float16, tf.bfloat16):  # squares of small gradients underflow in half precision
        grads = tf.cast(grads, tf.float32)
    return tf.reduce_sum(tf.square(grads), axis=tf.range(1, tf.rank(grads)))


def gradient_penalty(discriminator, real, fake, alpha, eps=1e-12):
    """WGAN-GP penalty E[(||grad D(x_hat)||_2 - 1)^2] (Gulrajani et al. 2017).

    Args:
        discriminator: callable images -> logits.
        real, fake: [B, H, W, C] batches.
        alpha: [B, 1, 1, 1] mixing weights drawn from U(0, 1), one per example.
        eps: added under the square root, whose gradient is infinite at 0.

    Returns:
        Scalar penalty (not yet multiplied by its weight).
    """
    x_hat = alpha * real + (1.0 - alpha) * fake
    norm = tf.sqrt(_per_example_gradient_norm_sq(discriminator, x_hat) + eps)
    return tf.reduce_mean(tf.square(norm - 1.0))


def r1_penalty(discriminator, real):
    """R1 penalty E[||grad D(x_real)||^2] (Mescheder et al. 2018); multiply by gamma / 2."""
    return tf.reduce_mean(_per_example_gradient_norm_sq(discriminator, real))
