"""Per-seed latents inside a TensorFlow graph, identical to `sampling.latents_from_seeds`.

`sample.py` names an image by a seed whose latent is numpy's legacy
`RandomState(seed).randn(z_dim)`: MT19937 seeded with `init_genrand(seed)`, two 32-bit words
per 53-bit double, and Marsaglia's polar method, which returns the second value of each
accepted pair first and the cached first value on the next draw. A SavedModel cannot call
numpy, and TF's own generators (Philox, ThreeFry) give other numbers, so this module re-states
the same algorithm in integer and float64 TF ops: a served `generate(seeds)` then draws the
same image as `sample.py grid --seeds` for every seed, not merely an image of the same distribution.

Words are held in int64 and masked to 32 bits: int64 bitwise and multiply kernels exist
everywhere, and the seeding product (< 2**31 * 2**32) cannot overflow. The one step not
guaranteed bit-for-bit is float64 `log` (TF's kernel vs the C library's); both are within an
ulp, and such a difference changes the float32 latent only when the double lies within an
ulp of a float32 rounding boundary.
"""
import tensorflow as tf

_N = 624  # MT19937 state words
_MASK32 = 0xFFFFFFFF
_ATTEMPTS_PER_BLOCK = _N // 4  # a polar-method attempt consumes two doubles = four words


def _c(value):
    return tf.constant(value, tf.int64)


def _shr(x, n):
    return tf.bitwise.right_shift(x, _c(n))


def _shl(x, n):
    return tf.bitwise.left_shift(x, _c(n))


def _and(x, mask):
    return tf.bitwise.bitwise_and(x, _c(mask))


def _init_genrand(seeds):
    """MT19937 state [B, 624] from 32-bit seeds (Matsumoto & Nishimura's init_genrand)."""
    first = _and(tf.cast(seeds, tf.int64), _MASK32)

    def next_word(prev, i):
        return _and(1812433253 * tf.bitwise.bitwise_xor(prev, _shr(prev, 30)) + i, _MASK32)

    rest = tf.scan(next_word, tf.range(1, _N, dtype=tf.int64), initializer=first)  # [623, B]
    return tf.transpose(tf.concat([first[None], rest], 0))


def _twist(mt):
    """The next 624 state words. Word i reads words i+1 and i+397 (mod 624), of which those
    already replaced must be the new values; four slices respect that order."""
    def mix(current, following, far):
        y = tf.bitwise.bitwise_or(_and(current, 0x80000000), _and(following, 0x7FFFFFFF))
        odd = tf.where(_and(y, 1) == 1, _c(0x9908B0DF), _c(0))
        return tf.bitwise.bitwise_xor(tf.bitwise.bitwise_xor(far, _shr(y, 1)), odd)

    a = mix(mt[:, 0:227], mt[:, 1:228], mt[:, 397:624])
    b = mix(mt[:, 227:454], mt[:, 228:455], a)
    c = mix(mt[:, 454:623], mt[:, 455:624], b[:, :169])
    d = mix(mt[:, 623:624], a[:, 0:1], b[:, 169:170])
    return tf.concat([a, b, c, d], 1)


def _temper(y):
    y = tf.bitwise.bitwise_xor(y, _shr(y, 11))
    y = tf.bitwise.bitwise_xor(y, _and(_shl(y, 7), 0x9D2C5680))
    y = tf.bitwise.bitwise_xor(y, _and(_shl(y, 15), 0xEFC60000))
    return tf.bitwise.bitwise_xor(y, _shr(y, 18))


def _polar_attempts(words):
    """(accepted, f, x1, x2) of each polar-method attempt in a block of tempered words."""
    w = tf.reshape(words, [tf.shape(words)[0], _ATTEMPTS_PER_BLOCK, 4])

    def double(hi, lo):  # genrand_res53: 53 random bits in [0, 1)
        return tf.cast(_shr(hi, 5) * 67108864 + _shr(lo, 6), tf.float64) / 9007199254740992.0

    x1 = 2.0 * double(w[..., 0], w[..., 1]) - 1.0
    x2 = 2.0 * double(w[..., 2], w[..., 3]) - 1.0
    r2 = x1 * x1 + x2 * x2
    accepted = (r2 < 1.0) & (r2 > 0.0)
    safe = tf.where(accepted, r2, tf.constant(0.5, tf.float64))  # rejected attempts are dropped
    f = tf.sqrt(-2.0 * tf.math.log(safe) / safe)
    return accepted, f, x1, x2


def seed_latents(seeds, z_dim):
    """`RandomState(seed).randn(z_dim)` for each seed, as a float32 tensor [B, z_dim].

    Args:
        seeds: int tensor [B] of values in [0, 2**32) (larger values wrap, as they do not in
            numpy: callers check the range).
        z_dim: latent size (a Python int).

    Returns:
        float32 tensor [B, z_dim], equal to `sampling.latents_from_seeds(seeds, z_dim)`.
    """
    pairs = (z_dim + 1) // 2
    mt = _twist(_init_genrand(seeds))
    batch = tf.shape(mt)[0]
    accepted, f, x1, x2 = _polar_attempts(_temper(mt))

    def short(mt, accepted, f, x1, x2):
        return tf.reduce_any(tf.reduce_sum(tf.cast(accepted, tf.int32), axis=1) < pairs)

    def more(mt, accepted, f, x1, x2):
        mt = _twist(mt)
        block = _polar_attempts(_temper(mt))
        return (mt,) + tuple(tf.concat([old, new], 1) for old, new in zip((accepted, f, x1, x2), block))

    unknown = tf.TensorShape([None, None])
    mt, accepted, f, x1, x2 = tf.while_loop(
        short, more, (mt, accepted, f, x1, x2),
        shape_invariants=(tf.TensorShape([None, _N]), unknown, unknown, unknown, unknown))
    # The first `pairs` accepted attempts of each row, in draw order (a stable sort puts the
    # accepted ones first without reordering them).
    order = tf.argsort(tf.cast(~accepted, tf.int32), axis=1, stable=True)[:, :pairs]
    f, x1, x2 = (tf.gather(t, order, batch_dims=1) for t in (f, x1, x2))
    z = tf.reshape(tf.stack([f * x2, f * x1], -1), [batch, 2 * pairs])[:, :z_dim]
    return tf.cast(z, tf.float32)
