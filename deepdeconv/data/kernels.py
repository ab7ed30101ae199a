"""Blur kernels (PSFs) and per-image blurring, in TensorFlow, for the deblur task.

Public API:
    kernel_size(sigma_max) -> int: 2 * ceil(3 * sigma_max) + 1, odd, covers +-3 sigma.
    gaussian_kernels(sigma, size) -> float32 [B, size, size], each summing to 1.
    motion_kernels(sigma, size, seed) -> float32 [B, size, size], each summing to 1.
    blur(images, kernels) -> images convolved, image b with kernel b.

Motion kernels are camera-shake-like paths: a random walk of `_STEPS` unit steps whose
heading turns by a normal amount each step, scaled so that the path is 4 sigma long (the
width of the central 95 % of a Gaussian of that sigma, so one `--blur` value sets a similar
extent for both kinds), centred on its centroid and drawn into the kernel with bilinear
weights. `blur` is a true convolution (the kernel is flipped for TF's correlation), so a
baseline given the same kernel (Wiener, Richardson-Lucy) inverts exactly what was applied.

Borders: the image is extended by half-sample symmetric reflection (`tf.pad` mode
"SYMMETRIC": ...c b a | a b c...), which is scipy.ndimage's mode="reflect" and MATLAB
imfilter's "symmetric": no dark frame as zero padding would give, and no wrap-around seams.
"""
import math

import tensorflow as tf

_STEPS = 24
_TURN = 0.6  # std of the heading change per step, radians: curved but mostly directed paths


def kernel_size(sigma_max) -> int:
    """Odd kernel side that holds +-3 sigma_max (and every motion path of that --blur)."""
    return 2 * math.ceil(3 * float(sigma_max)) + 1


def _axis(size):
    return tf.range(size, dtype=tf.float32) - (size // 2)


def gaussian_kernels(sigma, size):
    """Isotropic Gaussian PSFs, one per sigma.

    Args:
        sigma: float tensor [B], standard deviations in pixels.
        size: odd kernel side (`kernel_size`).

    Returns:
        float32 [B, size, size], symmetric, each summing to 1.
    """
    r = _axis(size)
    g = tf.exp(-tf.square(r)[None, :] / (2.0 * tf.square(tf.cast(sigma, tf.float32))[:, None]))
    g = g / tf.reduce_sum(g, axis=1, keepdims=True)
    return g[:, :, None] * g[:, None, :]


def motion_kernels(sigma, size, seed):
    """Random camera-shake paths 4 sigma long, one per sigma (see the module docstring).

    Args:
        sigma: float tensor [B].
        size: odd kernel side.
        seed: stateless seed [2].

    Returns:
        float32 [B, size, size], non-negative, each summing to 1.
    """
    sigma = tf.cast(sigma, tf.float32)
    batch = tf.shape(sigma)[0]
    s_head, s_turn = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    heading = tf.random.stateless_uniform([batch, 1], s_head, 0.0, 2.0 * math.pi)
    turns = tf.random.stateless_normal([batch, _STEPS], s_turn, stddev=_TURN)
    angle = heading + tf.cumsum(turns, axis=1)
    steps = tf.stack([tf.sin(angle), tf.cos(angle)], axis=-1)  # [B, T, 2]
    path = tf.concat([tf.zeros([batch, 1, 2]), tf.cumsum(steps, axis=1)], axis=1)
    path = (path - tf.reduce_mean(path, axis=1, keepdims=True)) * (4.0 * sigma / _STEPS)[:, None, None]
    half = float(size // 2)
    path = tf.clip_by_value(path, -half, half)
    r = _axis(size)
    # Bilinear splat of each path point onto the grid, separable in y and x.
    wy = tf.nn.relu(1.0 - tf.abs(path[:, :, 0, None] - r))  # [B, T+1, size]
    wx = tf.nn.relu(1.0 - tf.abs(path[:, :, 1, None] - r))
    k = tf.einsum("bti,btj->bij", wy, wx)
    return k / tf.reduce_sum(k, axis=[1, 2], keepdims=True)


def blur(images, kernels):
    """Convolves image b of a batch with kernel b, extending borders symmetrically.

    Args:
        images: float32 [B, H, W, C].
        kernels: float32 [B, k, k], k odd and k // 2 <= min(H, W).

    Returns:
        float32 [B, H, W, C].
    """
    shape = tf.shape(images)
    b, c = shape[0], images.shape[-1]
    k = kernels.shape[-1]
    pad = k // 2
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode="SYMMETRIC")
    # Batch folded into channels so that one depthwise convolution applies a kernel per image.
    hp, wp = tf.shape(padded)[1], tf.shape(padded)[2]
    folded = tf.reshape(tf.transpose(padded, [1, 2, 0, 3]), [1, hp, wp, b * c])
    flipped = tf.reverse(kernels, axis=[1, 2])  # correlation with the flipped kernel = convolution
    depthwise = tf.repeat(tf.transpose(flipped, [1, 2, 0]), c, axis=2)[..., None]  # [k, k, B*C, 1]
    out = tf.nn.depthwise_conv2d(folded, depthwise, strides=[1, 1, 1, 1], padding="VALID")
    out = tf.reshape(out, [shape[1], shape[2], b, c])
    return tf.transpose(out, [2, 0, 1, 3])
