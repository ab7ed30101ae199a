"""The GAN as a `keras.Model`: `fit` compiles `train_step` into a tf.function.

Overriding `train_step` (rather than writing a loop) keeps what Keras gives for free:
`jit_compile`, `steps_per_execution`, callbacks and every `tf.distribute` strategy.
"""
import functools

import keras
import tensorflow as tf

from deepdeconv import distribute, losses, precision, rundir
from deepdeconv.augment import StatelessRandom, diff_augment
from deepdeconv.config import UPDATES, default_update
from deepdeconv.ema import update_ema
from deepdeconv.models import build_discriminator, generator_for
from deepdeconv.models.conditional import for_sampling, num_classes


# Random streams of one step: latents, the generator's augmentation, then one per discriminator
# update. Stream numbers are packed into the seed as `seed * NUM_STREAMS + stream`, so there are
# at most NUM_STREAMS of them (`--d-steps` is bounded to leave room).
_NOISE, _G_AUGMENT, _D_STEP = 0, 1, 2
NUM_STREAMS = 16
MAX_D_STEPS = NUM_STREAMS - _D_STEP


class GAN(keras.Model):
    """Generator + discriminator trained adversarially, with an EMA copy of the generator.

    Args:
        generator: model z -> images in [-1, 1], or [z, labels] -> images when conditional.
        discriminator: model images -> [B, 1] logits, or [images, labels] -> logits when
            conditional (then the data must yield (images, int labels)).
        ema_generator: a clone of `generator` holding the moving average, or None.
        z_dim: latent size.
        seed: base seed for latents and augmentation; draws are keyed by (seed, step).
        view: network -> the model users sample and export (default: the network itself).
    """

    def __init__(self, generator, discriminator, ema_generator=None, z_dim=128, seed=0, view=None, **kwargs):
        super().__init__(**kwargs)
        self._view = view or (lambda network: network)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.z_dim = z_dim
        self.seed = seed
        self.conditional = len(generator.inputs) == 2
        # Generator steps taken. It keys every random draw, so it is the whole RNG state.
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step",
                                   aggregation="only_first_replica")

    def compile(self, d_optimizer, g_optimizer, loss="nsgan", d_steps=1, gp_weight=10.0, r1_gamma=0.0,
                augment=(), ema_decay=0.999, ema_rampup=0.05, update=None, **kwargs):
        """Configures training.

        Args:
            d_optimizer, g_optimizer: Keras optimizers for each network.
            loss: a key of `losses.LOSSES`; "wgan-gp" adds the gradient penalty.
            d_steps: discriminator updates per generator update; each one consumes its own
                slice of the real batch, so the data batch is `d_steps` x the model batch.
            gp_weight: WGAN-GP penalty weight (used with "wgan-gp").
            r1_gamma: R1 penalty weight; 0 turns it off.
            augment: DiffAugment policy, a tuple of names.
            ema_decay: per-step decay of the generator moving average.
            ema_rampup: the average's half-life is capped at this fraction of the steps taken
                so far (StyleGAN2-ADA's ramp-up), so that the average forgets the random
                initial weights quickly; 0 = always `ema_decay`.
            update: "sequential" (the discriminator learns, then the generator learns through
                the updated discriminator, as in the PyTorch DCGAN example) or "simultaneous"
                (both from one forward pass, as in the TensorFlow DCGAN tutorial; needs
                d_steps == 1); None = `config.default_update(d_steps)`, as `--update` auto.
        """
        super().compile(**kwargs)
        update = update or default_update(d_steps)
        if loss not in losses.LOSSES:
            raise ValueError(f"unknown loss {loss!r}")
        if not 1 <= d_steps <= MAX_D_STEPS:
            raise ValueError(f"d_steps must be in 1..{MAX_D_STEPS}, got {d_steps}")
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_name = loss
        self.d_loss_fn, self.g_loss_fn = losses.LOSSES[loss]
        self.d_steps = d_steps
        if update not in UPDATES or (update == "simultaneous" and d_steps != 1):
            raise ValueError(f"update must be sequential, or simultaneous with d_steps 1; got {update!r}")
        self.simultaneous = update == "simultaneous"
        self.gp_weight = gp_weight if loss == "wgan-gp" else 0.0
        self.r1_gamma = r1_gamma
        self.augment = tuple(augment)
        self.ema_decay = ema_decay
        self.ema_rampup = ema_rampup
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("d_loss", "g_loss", "d_real", "d_fake", "penalty")}
        # Optimisers build their slots now, not on the first step, so that a checkpoint can be
        # restored before training starts.
        self.d_optimizer.build(self.discriminator.trainable_variables)
        self.g_optimizer.build(self.generator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Under a distribution strategy Keras builds a model before `fit` by tracing `call` on
        # a data batch reduced across replicas, which fails under MultiWorkerMirroredStrategy
        # (Keras 3.15). Nothing needs building: the networks come built and `compile` builds
        # both optimisers.
        return

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, z, training=False):
        return self.generator(z, training=training)

    # --- one training step -----------------------------------------------------------------

    def _replica(self):
        ctx = tf.distribute.get_replica_context()
        if ctx is None:
            return 0, 1
        return ctx.replica_id_in_sync_group, ctx.num_replicas_in_sync

    def _rng(self, stream):
        replica_id, num_replicas = self._replica()
        seed = tf.stack([tf.constant(self.seed, tf.int64) * NUM_STREAMS + stream, tf.convert_to_tensor(self.step.value)])
        return StatelessRandom(seed, replica_id, num_replicas)

    def _generate(self, z, labels):
        return self.generator(z if labels is None else [z, labels], training=True)

    def _discriminate(self, images, labels, training=True):
        # Only images are augmented, never labels: an augmented "7" is still a 7.
        return self.discriminator(images if labels is None else [images, labels], training=training)

    def _scores(self, real, fake, labels, rng):
        """Discriminator logits on augmented real and fake images (fakes share the real labels)."""
        real = diff_augment(real, self.augment, rng)
        fake = diff_augment(fake, self.augment, rng)
        # Real and fake are scored in separate calls: batch norm or the minibatch-std feature
        # would mix their statistics in a joint batch, and without either one joint call was
        # still slower on a CPU (bench/train_throughput.py, tutorial+concat-D).
        return self._discriminate(real, labels), self._discriminate(fake, labels)

    def _discriminator_loss(self, real, fake, labels, rng, scale):
        """Logits and the discriminator's losses; call under the tape that differentiates them."""
        real_logits, fake_logits = self._scores(real, fake, labels, rng)
        d_loss = self.d_loss_fn(real_logits, fake_logits)
        penalty = tf.zeros((), tf.float32)
        critic = functools.partial(self._discriminate, labels=labels)
        if self.gp_weight > 0:
            alpha = rng.uniform(tf.shape(real)[0], (1, 1, 1))
            penalty += self.gp_weight * losses.gradient_penalty(critic, real, tf.stop_gradient(fake), alpha)
        if self.r1_gamma > 0:
            penalty += 0.5 * self.r1_gamma * losses.r1_penalty(critic, real)
        total = self.d_optimizer.scale_loss((d_loss + penalty) * scale)  # loss scaling: float16 only
        return total, d_loss, penalty, real_logits, fake_logits

    def _apply(self, optimizer, tape, loss, model):
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))

    def _simultaneous_step(self, real, labels, noise, scale):
        """Both networks learn from one forward pass, the generator through the discriminator
        as it was before its update (the TensorFlow DCGAN tutorial's step): one discriminator
        pass on the fakes fewer than the sequential update."""
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = self._generate(noise.normal(tf.shape(real)[0], (self.z_dim,)), labels)
            total, d_loss, penalty, real_logits, fake_logits = self._discriminator_loss(
                real, fake, labels, self._rng(_D_STEP), scale)
            g_loss = self.g_loss_fn(fake_logits)
            g_scaled = self.g_optimizer.scale_loss(g_loss * scale)
        self._apply(self.d_optimizer, d_tape, total, self.discriminator)
        self._apply(self.g_optimizer, g_tape, g_scaled, self.generator)
        return d_loss, g_loss, penalty, real_logits, fake_logits

    def _sequential_step(self, real, labels, noise, scale):
        """The discriminator learns (`d_steps` times, each on its own slice of the real batch),
        then the generator learns through the updated discriminator on the same fakes, as in
        the PyTorch DCGAN example; the generator is run once per step."""
        batch = tf.shape(real)[0] // self.d_steps
        # Fakes are drawn for the labels of the real slice they are scored against (the data's
        # class distribution; see `_labels`). The last slice's fakes also train the generator.
        label_slices = [None if labels is None else labels[i * batch:(i + 1) * batch]
                        for i in range(self.d_steps)]
        with tf.GradientTape() as g_tape:
            fake = self._generate(noise.normal(batch, (self.z_dim,)), label_slices[-1])
            with g_tape.stop_recording():
                for i in range(self.d_steps):
                    fake_i = fake if i == self.d_steps - 1 else self._generate(
                        noise.normal(batch, (self.z_dim,)), label_slices[i])
                    with tf.GradientTape() as d_tape:
                        total, d_loss, penalty, real_logits, fake_logits = self._discriminator_loss(
                            real[i * batch:(i + 1) * batch], tf.stop_gradient(fake_i), label_slices[i],
                            self._rng(_D_STEP + i), scale)
                    self._apply(self.d_optimizer, d_tape, total, self.discriminator)
            g_logits = self._discriminate(diff_augment(fake, self.augment, self._rng(_G_AUGMENT)), label_slices[-1])
            g_loss = self.g_loss_fn(g_logits)
            g_scaled = self.g_optimizer.scale_loss(g_loss * scale)
        self._apply(self.g_optimizer, g_tape, g_scaled, self.generator)
        return d_loss, g_loss, penalty, real_logits, fake_logits

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        _, num_replicas = self._replica()
        # Gradients are summed over replicas; dividing by their number makes the sum the
        # gradient of the global-batch mean, so N replicas train like one device.
        scale = 1.0 / num_replicas
        step = self._simultaneous_step if self.simultaneous else self._sequential_step
        d_loss, g_loss, penalty, real_logits, fake_logits = step(real, self._labels(data), self._rng(_NOISE), scale)
        self._update_ema()
        self.step.assign_add(1)
        values = {"d_loss": d_loss, "g_loss": g_loss, "d_real": tf.reduce_mean(real_logits),
                  "d_fake": tf.reduce_mean(fake_logits), "penalty": penalty}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return distribute.reducible_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    def _labels(self, data):
        """The real batch's int32 labels when conditional, else None.

        Fakes reuse these labels rather than drawing their own: they then follow the data's
        class distribution, every discriminator batch holds real and fake images of exactly
        the same classes (so the projection term cannot separate them by class frequency),
        the gradient penalty interpolates within a class, and no extra randomness is needed.
        """
        if not self.conditional:
            return None
        if not isinstance(data, (tuple, list)) or len(data) < 2:
            raise ValueError("a conditional GAN needs (images, labels) batches")
        return tf.cast(tf.reshape(data[1], [-1]), tf.int32)

    def _update_ema(self):
        if self.ema_generator is not None:
            update_ema(self.ema_generator, self.generator, self.step.value, self.ema_decay, self.ema_rampup)

    def exported_networks(self):
        """{run-directory file name: network} of the networks saved as `.keras` files."""
        networks = {rundir.GENERATOR: self._view(self.generator)}
        if self.ema_generator is not None:
            networks[rundir.GENERATOR_EMA] = self._view(self.ema_generator)
        return networks

    def checkpoint_groups(self):
        """What a checkpoint holds (see `deepdeconv.checkpoint`): every network, optimiser and the step."""
        groups = {"generator": self.generator.weights, "discriminator": self.discriminator.weights,
                  "g_optimizer": self.g_optimizer, "d_optimizer": self.d_optimizer, "step": [self.step]}
        if self.ema_generator is not None:
            groups["generator_ema"] = self.ema_generator.weights
        return groups

    @property
    def sampling_generator(self):
        """The generator to sample from: the EMA copy when there is one."""
        return self._view(self.ema_generator if self.ema_generator is not None else self.generator)


def build_gan(config):
    """Builds and compiles the GAN a TrainConfig describes (call inside a strategy scope).

    The strategy decides the precision policy (`--mixed-precision`), XLA (`--jit`) and whether
    batch norm synchronises across replicas; the EMA generator, used only for sampling, stays
    float32.

    Args:
        config: a TrainConfig whose `channels` is resolved (not None).

    Returns:
        A compiled GAN.
    """
    classes = num_classes(config)
    # Initial weights come from the config's seed too, so a run is reproducible from config.json.
    keras.utils.set_random_seed(config.seed)
    strategy = tf.distribute.get_strategy()
    policy = precision.precision_policy(config.mixed_precision, strategy)
    with precision.dtype_policy(policy):
        generator = generator_for(config)
        discriminator = build_discriminator(config.resolution, config.channels, config.d_width, config.discriminator_norm,
                                            num_classes=classes, mbstd=config.mbstd)
    for model in (generator, discriminator):
        distribute.synchronize_batch_statistics(model, strategy)
    ema = None
    if config.ema:
        ema = generator_for(config, name="generator_ema")
        ema.set_weights(generator.get_weights())
    view = functools.lru_cache(maxsize=None)(functools.partial(for_sampling, config=config))
    gan = GAN(generator, discriminator, ema, z_dim=config.z_dim, seed=config.seed, view=view)
    gan.compile(
        d_optimizer=precision.loss_scaled(keras.optimizers.Adam(config.d_lr, beta_1=config.beta1,
                                                                 beta_2=config.beta2), policy),
        g_optimizer=precision.loss_scaled(keras.optimizers.Adam(config.g_lr, beta_1=config.beta1,
                                                                 beta_2=config.beta2), policy),
        loss=config.loss, d_steps=config.d_steps, gp_weight=config.gp_weight, r1_gamma=config.r1_gamma,
        augment=config.augment_policy, ema_decay=config.ema_decay, ema_rampup=config.ema_rampup,
        update=config.update,
        jit_compile=precision.resolve_jit(config.jit, strategy), steps_per_execution=config.steps_per_execution)
    return gan
