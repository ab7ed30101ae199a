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


# --- pixel losses of the restorers ------------------------------------------------------
# Every pixel loss takes (target, output) in the networks' [-1, 1] range, maps both to [0, 1]
# first (the range the restoration papers state their losses and epsilons in) and returns the
# batch mean; the restorer's step scales by the number of replicas as the GAN step does.

CHARBONNIER_EPS = 1e-3  # LapSRN (Lai et al. 2017), on [0, 1] images
SSIM_WINDOW = 11  # Wang et al. 2004: 11x11 Gaussian window, sigma 1.5
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)  # Wang et al. 2003, as tf.image


def _unit(images):
    return (tf.cast(images, tf.float32) + 1.0) / 2.0


def mse_loss(target, output):
    """Mean squared error on [0, 1]-mapped images."""
    return tf.reduce_mean(tf.square(_unit(output) - _unit(target)))


def l1_loss(target, output):
    """Mean absolute error on [0, 1]-mapped images."""
    return tf.reduce_mean(tf.abs(_unit(output) - _unit(target)))


def charbonnier_loss(target, output, eps=CHARBONNIER_EPS):
    """Charbonnier loss mean(sqrt(d^2 + eps^2)) on [0, 1]-mapped images: L1 with a smooth minimum."""
    d = _unit(output) - _unit(target)
    return tf.reduce_mean(tf.sqrt(tf.square(d) + eps * eps))


def _ssim_filter_size(side):
    # tf.image.ssim needs images at least as large as its window; patches smaller than 11
    # pixels get a window of their own size (odd, for a centred window).
    return min(SSIM_WINDOW, side - (1 - side % 2))


def ssim_loss(target, output):
    """1 - SSIM (tf.image.ssim, max_val 1 on [0, 1]-mapped images, 11x11 window, sigma 1.5)."""
    side = min(output.shape[1], output.shape[2])
    ssim = tf.image.ssim(_unit(output), _unit(target), max_val=1.0, filter_size=_ssim_filter_size(side))
    return 1.0 - tf.reduce_mean(ssim)


def ms_ssim_scales(side):
    """Scales MS-SSIM can use on `side`-pixel images: the coarsest must still hold an 11x11 window.

    Five scales (the published weights) need 176 pixels; smaller patches use the finest
    `scales` weights renormalised to sum to 1 (64-pixel patches: 3 scales). Returns 1 for
    patches below 22 pixels, where MS-SSIM is plain SSIM.
    """
    scales = 1
    while scales < len(MS_SSIM_WEIGHTS) and side >= SSIM_WINDOW * 2 ** scales:
        scales += 1
    return scales


def _gaussian_window(channels, size, sigma=1.5):
    x = tf.range(size, dtype=tf.float32) - (size - 1) / 2.0
    g = tf.exp(-tf.square(x) / (2.0 * sigma * sigma))
    g = g / tf.reduce_sum(g)
    window = g[:, tf.newaxis] * g[tf.newaxis, :]
    return tf.tile(window[:, :, tf.newaxis, tf.newaxis], [1, 1, channels, 1])


def _ssim_terms(x, y, window, c1, c2):
    """Per-image, per-channel mean SSIM and contrast-structure term cs ([B, C] each)."""
    def blur(v):
        return tf.nn.depthwise_conv2d(v, window, [1, 1, 1, 1], "VALID")

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cov = blur(x * y) - mx * my
    luminance = (2.0 * mx * my + c1) / (mx * mx + my * my + c1)
    cs = (2.0 * cov + c2) / (vx + vy + c2)
    return tf.reduce_mean(luminance * cs, axis=[1, 2]), tf.reduce_mean(cs, axis=[1, 2])


def ms_ssim_loss(target, output, floor=1e-6):
    """1 - MS-SSIM (Wang et al. 2003) on [0, 1]-mapped images, with as many scales as fit.

    Equal to `1 - tf.image.ssim_multiscale` (same window, constants, 2x2 average pooling and
    weights) wherever every term is positive. Written out because tf.image clips negative
    terms to 0 with a ReLU before raising them to fractional powers, whose gradient at 0 is
    NaN: one anti-correlated patch would end training. Here terms are floored at `floor`.
    See `ms_ssim_scales` for small patches.
    """
    x, y = _unit(output), _unit(target)
    side = min(x.shape[1], x.shape[2])
    scales = ms_ssim_scales(side)
    weights = tf.constant(MS_SSIM_WEIGHTS[:scales], tf.float32)
    weights = weights / tf.reduce_sum(weights)
    size = _ssim_filter_size(side)
    window = _gaussian_window(x.shape[-1], size)
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    values = []
    for i in range(scales):
        ssim, cs = _ssim_terms(x, y, window, c1, c2)
        values.append(ssim if i == scales - 1 else cs)
        if i < scales - 1:
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
            y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
    terms = tf.maximum(tf.stack(values, axis=-1), floor)  # [B, C, scales]
    per_channel = tf.reduce_prod(tf.pow(terms, weights), axis=-1)
    return 1.0 - tf.reduce_mean(per_channel)


PIXEL_LOSSES = {"mse": mse_loss, "l1": l1_loss, "charbonnier": charbonnier_loss, "ssim": ssim_loss,
                "msssim": ms_ssim_loss}


def pixel_loss(terms, target, output):
    """The weighted sum of pixel losses `terms` = ((name, weight), ...), a scalar."""
    return tf.add_n([weight * PIXEL_LOSSES[name](target, output) for name, weight in terms])


def psnr_unit(target, output):
    """Mean PSNR in dB over the batch, on [0, 1]-mapped images clipped to [0, 1] (a training signal)."""
    mse = tf.reduce_mean(tf.square(tf.clip_by_value(_unit(output), 0.0, 1.0) - _unit(target)), axis=[1, 2, 3])
    return tf.reduce_mean(-10.0 * tf.math.log(tf.maximum(mse, 1e-10)) / tf.math.log(10.0))
