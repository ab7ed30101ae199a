"""Training throughput: our GAN step vs the TensorFlow DCGAN tutorial's, on the same networks.

Every variant trains the tutorial's own networks (generator Dense(7*7*256) + BN + LeakyReLU ->
Conv2DTranspose 128/64/1 with kernel 5; discriminator Conv2D 64/128 with kernel 5 + LeakyReLU
+ Dropout(0.3) -> Dense(1)) with BCE-from-logits losses, Adam(1e-4) for both, batch 256 and
100-dimensional noise, on 28x28 grey images (the scikit-learn digits upscaled and tiled to
MNIST's 60,000). The rows:

  tutorial           the tutorial's `train_step` (one tape per network, `@tf.function`) fed by
                     `from_tensor_slices(x).shuffle(60000).batch(256)` from a Python loop
  tutorial+prefetch  the same with `.prefetch(AUTOTUNE)`: what the input pipeline costs
  tutorial+concat-D  the same step scoring real and fake in one discriminator call
  ours               the same networks trained by `deepdeconv.gan.GAN` through `fit` on
                     `deepdeconv.data.training_batches` (float32, no XLA, no EMA/augmentation),
                     with our default update (`--update simultaneous`, the tutorial's order, so
                     the compute matches the tutorial's step)
  ours+seq           the same with `--update sequential`: one discriminator pass on the fakes
                     more than the tutorial's step
  ours+bf16          ours under mixed_bfloat16 (output layers and losses float32)
  ours+xla           ours with `jit_compile=True`
  ours+bf16+xla      both
  default[+bf16|+xla]  our default model and config (what `train.py` with no options trains)
                     in float32 / mixed_bfloat16 / XLA
  default+auto       the default with the precision `auto` chooses on this machine
                     (`deepdeconv.autotune`, measured or cached; the choice and the seconds it
                     took are printed): it should match the faster of default and default+bf16
  default+wide-d     the default with the discriminator as wide as the generator (`--d-width`
                     equal to `--width`, the default before the narrower discriminator)

Timings on a shared machine are noisy, so the variants run in alternation, `--rounds` times
`--steps` steps each after one warm-up of `--warmup` steps; each ratio is taken within a round
and the median over rounds is reported, with images/s for scale. Each round starts one variant
later (a rotation), because on a loaded machine the position in the round alone moved the
rate; use `--rounds` a multiple of the number of
variants so that each takes every position.

    python bench/train_throughput.py [--steps 10] [--rounds 3] [--variants ours,tutorial]
"""
import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepdeconv.cli.common import quiet_tensorflow  # noqa: E402

quiet_tensorflow()
import keras  # noqa: E402  (after quiet_tensorflow, which must precede TensorFlow's import)

BATCH = 256
NOISE_DIM = 100
NUM_IMAGES = 60000
VARIANTS = ("tutorial", "tutorial+prefetch", "tutorial+concat-D", "ours", "ours+seq", "ours+bf16", "ours+bf16+seq",
            "ours+xla", "ours+bf16+xla",
            "default", "default+bf16", "default+xla", "default+auto", "default+wide-d")


def digits_28(num_images=NUM_IMAGES):
    """uint8 [num_images, 28, 28, 1]: the 1,797 scikit-learn digits upscaled, tiled."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    small = np.rint(load_digits().images * (255.0 / 16.0)).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(d).resize((28, 28), Image.BICUBIC)) for d in small])
    return np.resize(big, (num_images, 28, 28))[..., None]


def tutorial_generator():
    """The DCGAN tutorial's generator; its output layer stays float32 under mixed precision."""
    from keras import Sequential, layers

    return Sequential([
        layers.Input((NOISE_DIM,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, 5, strides=1, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, 5, strides=2, padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, 5, strides=2, padding="same", use_bias=False, activation="tanh",
                               dtype="float32"),
    ], name="generator")


def tutorial_discriminator():
    """The DCGAN tutorial's discriminator; its logit layer stays float32 under mixed precision."""
    from keras import Sequential, layers

    return Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(64, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, 5, strides=2, padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1, dtype="float32"),
    ], name="discriminator")


class Tutorial:
    """The tutorial's training loop, optionally with one of two changes (for attribution)."""

    def __init__(self, pixels, prefetch=False, concat_d=False):
        import tensorflow as tf

        from deepdeconv.pixels import from_uint8

        self.generator, self.discriminator = tutorial_generator(), tutorial_discriminator()
        g_opt, d_opt = keras.optimizers.Adam(1e-4), keras.optimizers.Adam(1e-4)
        bce = keras.losses.BinaryCrossentropy(from_logits=True)
        dataset = tf.data.Dataset.from_tensor_slices(from_uint8(pixels)).shuffle(NUM_IMAGES).batch(BATCH)
        self.dataset = dataset.prefetch(tf.data.AUTOTUNE) if prefetch else dataset
        generator, discriminator = self.generator, self.discriminator

        @tf.function
        def train_step(images):
            noise = tf.random.normal([BATCH, NOISE_DIM])
            with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
                generated = generator(noise, training=True)
                if concat_d:
                    logits = discriminator(tf.concat([images, generated], 0), training=True)
                    real_output, fake_output = logits[:tf.shape(images)[0]], logits[tf.shape(images)[0]:]
                else:
                    real_output = discriminator(images, training=True)
                    fake_output = discriminator(generated, training=True)
                gen_loss = bce(tf.ones_like(fake_output), fake_output)
                disc_loss = bce(tf.ones_like(real_output), real_output) + bce(tf.zeros_like(fake_output),
                                                                              fake_output)
            g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
            d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
            g_opt.apply_gradients(zip(g_grads, generator.trainable_variables))
            d_opt.apply_gradients(zip(d_grads, discriminator.trainable_variables))

        self.train_step = train_step
        self.batches = self._epochs()

    def _epochs(self):
        for _ in itertools.count():  # the tutorial's `for epoch in range(EPOCHS)`
            for image_batch in self.dataset:
                yield image_batch

    def run(self, steps):
        """Trains `steps` steps; returns (images, seconds)."""
        images = 0
        start = time.perf_counter()
        for _ in range(steps):
            batch = next(self.batches)
            self.train_step(batch)
            images += int(batch.shape[0])
        self.generator.weights[0].numpy()  # wait for the last step
        return images, time.perf_counter() - start


class StepTimer(keras.callbacks.Callback):
    """Times `fit` from the start of its first step to the end of its last (of `steps`)."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if batch == self.steps - 1:
            self.model.generator.weights[0].numpy()  # the last step has finished
            self.end = time.perf_counter()


class Ours:
    """The same networks trained by our GAN class through `fit` on our data pipeline."""

    def __init__(self, pixels, policy="float32", jit=False, update="simultaneous"):
        from deepdeconv.data import ImageSource, training_batches
        from deepdeconv.precision import dtype_policy
        from deepdeconv.gan import GAN

        with dtype_policy(policy):
            generator, discriminator = tutorial_generator(), tutorial_discriminator()
        self.gan = GAN(generator, discriminator, None, z_dim=NOISE_DIM, seed=0)
        self.gan.compile(d_optimizer=keras.optimizers.Adam(1e-4), g_optimizer=keras.optimizers.Adam(1e-4),
                         loss="nsgan", augment=(), jit_compile=jit, update=update)
        self.dataset = training_batches(ImageSource.from_arrays("digits28", pixels), BATCH, seed=0)

    def run(self, steps):
        """Trains `steps` steps; returns (images, seconds).

        Timed from the first step to the end of the last: `fit`'s own set-up (iterator,
        callbacks) is paid once per training run, like the tutorial's, not once per round.
        """
        timer = StepTimer(steps)
        self.gan.fit(self.dataset, epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[timer])
        return steps * BATCH, timer.end - timer.start


class Default(Ours):
    """Our default model and training config, as `train.py` with no options builds them."""

    def __init__(self, mixed_precision=False, jit=False, wide_d=False):
        import tensorflow as tf

        from deepdeconv import autotune
        from deepdeconv.config import TrainConfig
        from deepdeconv.data import training_batches
        from deepdeconv.gan import build_gan
        from deepdeconv.training import load_data, resolve_config

        # Resolved as train.py resolves it: channels, and the self-conditioning clusters.
        d_width = TrainConfig().width if wide_d else None
        config, source = resolve_config(TrainConfig(mixed_precision=mixed_precision, jit=jit, d_width=d_width).validate(),
                                        load_data(TrainConfig()))
        self.batch = config.batch
        self.dataset = training_batches(source, config.batch, config.seed)
        model = None
        if mixed_precision is None:  # what a run left at auto trains; prints its choice
            start = time.perf_counter()
            config, _, model = autotune.resolve(config, tf.distribute.get_strategy(), build_gan,
                                                lambda: next(iter(self.dataset)), config.batch)
            self.choice = f"{config.speed_choice}; start-up {time.perf_counter() - start:.1f} s"
        self.gan = model if model is not None else build_gan(config)

    def run(self, steps):
        """Trains `steps` steps; returns (images, seconds)."""
        return steps * self.batch, super().run(steps)[1]


def make(variant, pixels):
    """The trainer for one row of the table."""
    if variant.startswith("tutorial"):
        return Tutorial(pixels, prefetch="prefetch" in variant, concat_d="concat" in variant)
    if variant.startswith("default"):
        return Default(mixed_precision=None if "auto" in variant else "bf16" in variant, jit="xla" in variant,
                       wide_d="wide-d" in variant)
    return Ours(pixels, policy="mixed_bfloat16" if "bf16" in variant else "float32", jit="xla" in variant,
                update="sequential" if "seq" in variant else "simultaneous")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternations of all variants")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (tracing, XLA, buffers)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated subset of: "
                                                                        + ", ".join(VARIANTS))
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(sorted(unknown))}")

    from deepdeconv.autotune import cpu_description
    from deepdeconv.precision import cpu_supports_bfloat16

    pixels = digits_28()
    trainers = {}
    for v in variants:
        trainers[v] = make(v, pixels)
        trainers[v].run(args.warmup)
    rates = {v: [] for v in variants}
    with tqdm.tqdm(total=args.rounds * len(variants), desc="timing", unit="variant") as bar:
        for r in range(args.rounds):
            for v in variants[r % len(variants):] + variants[:r % len(variants)]:
                images, seconds = trainers[v].run(args.steps)
                rates[v].append(images / seconds)
                bar.update()

    def ratio(v, base):
        return statistics.median(a / b for a, b in zip(rates[v], rates[base]))

    def spread(v, base):
        per_round = [a / b for a, b in zip(rates[v], rates[base])]
        return f"{min(per_round):.2f}-{max(per_round):.2f}"

    def versus(v, rounds=True):
        """The ratio to the row this variant is a change of: tutorial, ours or default."""
        base = v.split("+")[0] if v.startswith("default") or v.startswith("tutorial") else "ours"
        if base not in rates or base == v:
            return ""
        return f"{ratio(v, base):.2f}x {base}" + (f" (rounds {spread(v, base)})" if rounds else "")

    print(f"batch {BATCH} (default*: --batch's default), {args.steps} steps x {args.rounds} rounds per variant; "
          f"CPU {cpu_description()[0]!r}, bfloat16 instructions: {cpu_supports_bfloat16()}")
    for v in variants:
        if getattr(trainers[v], "choice", None):
            print(f"{v}: auto chose {trainers[v].choice}")
    print(f"{'variant':<20}{'img/s (median)':>16}   {'vs tutorial (rounds)':<22}vs its base")
    for v in variants:
        vs_tut = (f"{ratio(v, 'tutorial'):.2f}x ({spread(v, 'tutorial')})"
                  if "tutorial" in rates and not v.startswith("default") else "-")
        print(f"{v:<20}{statistics.median(rates[v]):>16.1f}   {vs_tut:<22}{versus(v)}")
    def short(v):
        parts = [versus(v, rounds=False)]
        if "tutorial" in rates and v.startswith("ours"):
            parts.insert(0, f"{ratio(v, 'tutorial'):.2f}x tutorial")
        return ", ".join(p for p in parts if p)

    print("summary: " + "; ".join(f"{v} {statistics.median(rates[v]):.0f} img/s"
                                  + (f" ({short(v)})" if short(v) else "") for v in variants))
    return 0


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
