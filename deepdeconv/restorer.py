"""The restorer as a `keras.Model`: `fit` compiles `train_step` into a tf.function.

Like `gan.GAN`, overriding `train_step` keeps what Keras gives for free (`jit_compile`,
`steps_per_execution`, callbacks, every `tf.distribute` strategy, mixed precision). The data
are (degraded inputs, clean target) pairs made by `data.patches.restoration_batches`, which
degrades the global batch on the host keyed by (seed, step): the draws do not depend on the
number of replicas, JPEG re-encoding (a CPU-only op) works, and resuming is exact. A batch of
clean patches alone is degraded inside the step by the `degrade` callable instead.
"""
import keras
import tensorflow as tf

from deepdeconv import distribute, losses, precision, rundir
from deepdeconv.ema import update_ema
from deepdeconv.errors import UserError
from deepdeconv.models import build_discriminator
from deepdeconv.models.restorer import build_restorer

_TRACKERS = ("loss", "pixel", "psnr_train")
_ADVERSARIAL_TRACKERS = ("d_loss", "g_adv")


class Restorer(keras.Model):
    """A restoration network trained on a weighted pixel loss, optionally with a GAN loss.

    Args:
        network: model degraded inputs -> restored images in [-1, 1] (float32 output).
        ema_network: a float32 clone of `network` holding the moving average, or None.
        discriminator: model images -> [B, 1] logits for `--adversarial`, or None.
        degrade: callable(clean [B, P, P, C], seed int64 [2]) -> (inputs, target), used only
            when the data yields clean patches alone; None when it yields pairs.
        seed: base seed; draws are keyed by (seed, step).
    """

    def __init__(self, network, ema_network=None, discriminator=None, degrade=None, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.ema_network = ema_network
        self.discriminator = discriminator
        self.degrade = degrade
        self.seed = seed
        # Steps taken; it keys every random draw, so it is the whole RNG state.
        self.step = keras.Variable(0, dtype="int64", trainable=False, name="step",
                                   aggregation="only_first_replica")

    def compile(self, optimizer, loss_terms=(("l1", 1.0),), d_optimizer=None, adversarial=0.0, gan_loss="nsgan",
                ema_decay=0.999, ema_rampup=0.05, **kwargs):
        """Configures training.

        Args:
            optimizer: Keras optimizer of the restorer.
            loss_terms: ((name, weight), ...) of `losses.PIXEL_LOSSES`, summed.
            d_optimizer: the discriminator's optimizer (with `adversarial` > 0).
            adversarial: weight of the generator's GAN loss added to the pixel loss; 0 = off.
            gan_loss: a key of `losses.LOSSES` without a gradient penalty (nsgan, hinge, lsgan).
            ema_decay, ema_rampup: as for `gan.GAN.compile`.
        """
        super().compile(optimizer=optimizer, **kwargs)
        unknown = [name for name, _ in loss_terms if name not in losses.PIXEL_LOSSES]
        if unknown:
            raise ValueError(f"unknown pixel loss {unknown[0]!r}")
        self.loss_terms = tuple(loss_terms)
        self.adversarial = float(adversarial) if self.discriminator is not None else 0.0
        self.d_optimizer = d_optimizer
        self.d_loss_fn, self.g_loss_fn = losses.LOSSES[gan_loss]
        self.ema_decay = ema_decay
        self.ema_rampup = ema_rampup
        names = _TRACKERS + (_ADVERSARIAL_TRACKERS if self.adversarial else ())
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}
        # Slots are built now, not on the first step, so a checkpoint can be restored first.
        self.optimizer.build(self.network.trainable_variables)
        if self.adversarial:
            self.d_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        return  # nothing to build; see gan.GAN._maybe_symbolic_build

    @property
    def metrics(self):
        return list(self.trackers.values())

    def call(self, inputs, training=False):
        return self.network(inputs, training=training)

    @property
    def inference_network(self):
        """The network to restore with: the EMA copy when there is one."""
        return self.ema_network if self.ema_network is not None else self.network

    # --- one training step -----------------------------------------------------------------

    def _pairs(self, data):
        if isinstance(data, (tuple, list)) and len(data) == 2:
            return data
        if self.degrade is None:
            raise ValueError("the data yields clean patches but the Restorer has no `degrade`")
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        # One stream per replica: each degrades its own slice of the batch.
        seed = tf.stack([tf.constant(self.seed, tf.int64) * 16 + tf.cast(replica, tf.int64),
                         tf.convert_to_tensor(self.step.value)])
        return self.degrade(data, seed)

    def _discriminator_step(self, target, output, scale):
        with tf.GradientTape() as tape:
            # Scored separately: a batch-norm discriminator would mix real and fake statistics.
            real_logits = self.discriminator(target, training=True)
            fake_logits = self.discriminator(output, training=True)
            d_loss = self.d_loss_fn(real_logits, fake_logits)
            scaled = self.d_optimizer.scale_loss(d_loss * scale)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        return d_loss

    def train_step(self, data):
        inputs, target = self._pairs(data)
        target = tf.cast(target, tf.float32)
        ctx = tf.distribute.get_replica_context()
        # Gradients are summed over replicas; dividing by their number makes the sum the
        # gradient of the global-batch mean, so N replicas train like one device.
        scale = 1.0 / (ctx.num_replicas_in_sync if ctx is not None else 1)
        values = {}
        with tf.GradientTape() as tape:
            output = tf.cast(self.network(inputs, training=True), tf.float32)
            pixel = losses.pixel_loss(self.loss_terms, target, output)
            loss = pixel
            if self.adversarial:
                with tape.stop_recording():
                    values["d_loss"] = self._discriminator_step(target, tf.stop_gradient(output), scale)
                values["g_adv"] = self.g_loss_fn(tf.cast(self.discriminator(output, training=True), tf.float32))
                loss = pixel + self.adversarial * values["g_adv"]
            scaled = self.optimizer.scale_loss(loss * scale)
        grads = tape.gradient(scaled, self.network.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.network.trainable_variables))
        if self.ema_network is not None:
            update_ema(self.ema_network, self.network, self.step.value, self.ema_decay, self.ema_rampup)
        self.step.assign_add(1)
        values.update(loss=loss, pixel=pixel, psnr_train=losses.psnr_unit(target, output))
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return distribute.reducible_logs({name: tracker.result() for name, tracker in self.trackers.items()})

    # --- state -----------------------------------------------------------------------------

    def checkpoint_groups(self):
        """Every variable of the training state, by group name (see `checkpoint.save_checkpoint`)."""
        groups = {"restorer": self.network.weights, "optimizer": self.optimizer,
                  "step": [self.step]}
        if self.ema_network is not None:
            groups["restorer_ema"] = self.ema_network.weights
        if self.adversarial:
            groups["discriminator"] = self.discriminator.weights
            groups["d_optimizer"] = self.d_optimizer
        return groups

    def exported_networks(self):
        """{run-directory file name: network} of the networks saved as `.keras` files."""
        networks = {rundir.RESTORER: self.network}
        if self.ema_network is not None:
            networks[rundir.RESTORER_EMA] = self.ema_network
        return networks


def _networks(config, name):
    r = config.restore
    return build_restorer(config.task, config.channels, config.width, r.depth, r.scale, r.upsample, name=name)


def build_restorer_model(config, degrade=None):
    """Builds and compiles the Restorer a TrainConfig describes (call inside a strategy scope).

    As for `gan.build_gan`, the strategy decides precision, XLA and batch-norm
    synchronisation; initial weights come from the config's seed; the EMA copy stays float32.

    Args:
        config: a TrainConfig with a restoration task and resolved `channels`.
        degrade: see `Restorer`; None when the data yields (inputs, target) pairs.

    Returns:
        A compiled Restorer.

    Raises:
        UserError: `--adversarial` with a patch size the discriminator cannot take, or with
            a loss that needs a gradient penalty.
    """
    r = config.restore
    if r.adversarial and (r.patch < 8 or r.patch & (r.patch - 1)):
        raise UserError(f"--adversarial needs a --patch that is a power of two (the discriminator halves it down "
                        f"to 4 pixels), got {r.patch}.")
    if r.adversarial and config.loss == "wgan-gp":
        raise UserError("--adversarial works with --loss nsgan, hinge or lsgan, not wgan-gp.")
    keras.utils.set_random_seed(config.seed)
    strategy = tf.distribute.get_strategy()
    policy = precision.precision_policy(config.mixed_precision, strategy)
    discriminator = None
    with precision.dtype_policy(policy):
        network = _networks(config, "restorer")
        if r.adversarial:
            discriminator = build_discriminator(r.patch, config.channels, config.d_width, config.discriminator_norm)
            distribute.synchronize_batch_statistics(discriminator, strategy)
    ema = None
    if config.ema:
        ema = _networks(config, "restorer_ema")
        ema.set_weights(network.get_weights())

    def adam(lr):
        return precision.loss_scaled(keras.optimizers.Adam(lr, beta_1=config.beta1, beta_2=config.beta2), policy)

    model = Restorer(network, ema, discriminator, degrade=degrade, seed=config.seed)
    model.compile(optimizer=adam(config.g_lr), loss_terms=r.pixel_loss_terms(),
                  d_optimizer=adam(config.d_lr) if r.adversarial else None, adversarial=r.adversarial,
                  gan_loss=config.loss, ema_decay=config.ema_decay, ema_rampup=config.ema_rampup,
                  jit_compile=precision.resolve_jit(config.jit, strategy),
                  steps_per_execution=config.steps_per_execution)
    return model
