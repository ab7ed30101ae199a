"""DiffAugment: shapes, determinism from the seed, differentiability, what each op does."""
import numpy as np
import tensorflow as tf

from deepdeconv.augment import StatelessRandom, cutout, diff_augment, translation


def rng(step=0):
    return StatelessRandom(tf.constant([1, step], tf.int64))


def test_augmentation_is_reproducible_from_the_seed_and_changes_with_the_step():
    x = tf.random.stateless_uniform((4, 16, 16, 3), seed=[0, 0], minval=-1, maxval=1)
    policy = ("color", "translation", "cutout")
    a, b, c = diff_augment(x, policy, rng(0)), diff_augment(x, policy, rng(0)), diff_augment(x, policy, rng(1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy(), c.numpy())
    assert a.shape == x.shape


def test_gradients_flow_through_every_augmentation():
    x = tf.random.stateless_uniform((2, 8, 8, 3), seed=[0, 1])
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(diff_augment(x, ("color", "translation", "cutout"), rng()))
    grad = tape.gradient(total, x)
    assert grad is not None and np.any(grad.numpy() != 0)


def test_translation_moves_content_without_scaling_it():
    x = np.zeros((8, 16, 16, 1), np.float32)
    x[:, 8, 8, 0] = 1.0
    y = translation(tf.constant(x), rng(3)).numpy()
    for img in y:
        # the single bright pixel either moved within 2 px (1/8 of 16) or nothing else changed
        ys, xs = np.nonzero(img[..., 0])
        assert len(ys) == 1 and abs(ys[0] - 8) <= 2 and abs(xs[0] - 8) <= 2


def _shift_of(a, b, r=2):
    """The (dy, dx) within r pixels that moves image a onto b (compared away from the border), or None."""
    h, w = a.shape[:2]
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            if np.array_equal(b[r:h - r, r:w - r], a[r - dy:h - r - dy, r - dx:w - r - dx]):
                return dy, dx
    return None


def test_translations_shift_each_image_by_its_own_offset():
    x = tf.constant(np.random.RandomState(0).rand(16, 16, 16, 1).astype(np.float32))
    y = translation(x, rng(5)).numpy()
    shifts = [_shift_of(a, b) for a, b in zip(x.numpy(), y)]
    assert None not in shifts  # every image is a whole-pixel shift of at most 1/8 of its side
    assert len(set(shifts)) > 1


def test_cutout_zeroes_a_quarter_of_each_image():
    x = tf.ones((6, 16, 16, 1))
    y = cutout(x, rng(2)).numpy()
    zeros = (y == 0).reshape(6, -1).sum(axis=1)
    # an 8x8 square, clipped where it crosses the border
    assert np.all(zeros <= 64) and np.all(zeros >= 16)


def test_draws_for_one_replica_are_its_slice_of_the_global_draw():
    seed = tf.constant([3, 4], tf.int64)
    whole = StatelessRandom(seed).uniform(8)
    parts = [StatelessRandom(seed, replica_id=i, num_replicas=2).uniform(4) for i in range(2)]
    np.testing.assert_array_equal(whole.numpy(), np.concatenate([p.numpy() for p in parts]))
