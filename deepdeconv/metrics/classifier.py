"""A small CNN trained on the evaluation data itself: offline, domain-specific metrics.

The Inception graph was trained on ImageNet photographs and needs a download; for digits,
sketches or any folder of images on an offline machine, a classifier trained on the real
data gives features that matter for that domain. Its penultimate layer (128-d) gives
classifier-FID and classifier-KID, its softmax gives classifier-IS and the class
histogram of generated samples (mode coverage).

Labelled data (a dataset with classes, or a folder with one subfolder per class) trains a
supervised classifier. Unlabelled data trains the same network to predict which of four
rotations an image was given (Gidaris et al. 2018): its features still separate realistic
from broken images, but there are no classes, so classifier-IS is not available.

Trained networks are cached under the user cache dir, keyed by dataset (plus a content
fingerprint for folders), resolution and channels.
"""
import json
import math
import warnings
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from tqdm import tqdm

from deepdeconv.data import load_source
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path, write_json
from deepdeconv.cache import cache_dir
from deepdeconv.fingerprint import source_key
from deepdeconv.metrics.identity import weights_sha256
from deepdeconv.metrics.resize import Uint8Network, legacy_resize
from deepdeconv.pixels import from_uint8, to_uint8

# Bump when the architecture or training recipe changes: cached networks are then retrained.
VERSION = 2  # 2: batch-norm statistics measured on the training images after training
FEATURE_DIM = 128
TRAIN_STEPS = 600
MAX_TRAIN_IMAGES = 50000
WEAK_ACCURACY_FACTOR = 1.5  # held-out accuracy under this many times chance: see weak_classifier_note
# Keras' default 0.99 leaves the moving statistics far from the data after a few hundred
# steps; `measure_batch_statistics` replaces them after training in any case.
BN_MOMENTUM = 0.9


def build_classifier(resolution, channels, num_classes):
    """The classifier: strided convolutions down to 4x4, global pooling, 128-d features, logits.

    Args:
        resolution: input side in pixels (a power of two >= 8).
        channels: 1 or 3.
        num_classes: number of output classes.

    Returns:
        A keras.Model mapping [B, R, R, C] floats in [-1, 1] to logits [B, num_classes]; the
        layer named "features" is the penultimate layer.
    """
    inputs = keras.Input((resolution, resolution, channels), name="image")
    x = layers.Conv2D(32, 3, padding="same", name="conv0")(inputs)
    x = layers.LeakyReLU(0.2)(x)
    for i in range(max(1, int(math.log2(resolution // 4)))):
        x = layers.Conv2D(min(32 * 2 ** i, 128), 3, strides=2, padding="same", name=f"down{i}")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"down{i}_bn")(x)
        x = layers.LeakyReLU(0.2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    features = layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    x = layers.Dropout(0.3)(features)
    logits = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, logits, name="metric_classifier")


def rotation_task(images):
    """Each image in its four rotations, labelled 0-3: the pretext task for unlabelled data."""
    rotated = np.concatenate([np.rot90(images, k, axes=(1, 2)) for k in range(4)])
    labels = np.repeat(np.arange(4, dtype=np.int32), len(images))
    return rotated, labels


def train_classifier(images, labels, num_classes, steps=TRAIN_STEPS, batch_size=64, seed=0, progress=True):
    """Trains the classifier on uint8 images with integer labels.

    10% of the images (at most 5,000) are held out to report accuracy.

    Args:
        images: uint8 [N, R, R, C].
        labels: int [N] in [0, num_classes).
        num_classes: number of classes.
        steps: optimisation steps.
        batch_size: images per step.
        seed: seeds weights, split and data order.
        progress: show a progress bar.

    Returns:
        (model, info) where info holds accuracy and training details.
    """
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels, np.int32)
    keras.utils.set_random_seed(seed)
    order = np.random.RandomState(seed).permutation(len(images))
    n_val = min(5000, len(images) // 10)
    val, train = order[:n_val], order[n_val:]
    model = build_classifier(images.shape[1], images.shape[3], num_classes)
    model.compile(optimizer=keras.optimizers.Adam(2e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    data = (tf.data.Dataset.from_tensor_slices((images[train], labels[train]))
            .shuffle(min(len(train), 20000), seed=seed).repeat().batch(batch_size)
            .map(lambda x, y: (from_uint8(x), y), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))
    with tqdm(total=steps, unit="step", desc="training metric classifier", leave=False, disable=not progress) as bar:
        def advance(batch, logs):
            bar.update(1)
            if logs and "loss" in logs:
                bar.set_postfix(loss=f"{float(logs['loss']):.3f}", refresh=False)

        callbacks = [keras.callbacks.LambdaCallback(on_train_batch_end=advance)] if progress else []
        model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=callbacks, shuffle=False)
    measure_batch_statistics(model, images[train], prepare=from_uint8)
    accuracy = None
    if n_val:
        _, accuracy = model.evaluate(from_uint8(images[val]), labels[val], batch_size=256, verbose=0)
    info = {"num_classes": int(num_classes), "num_train": int(len(train)), "num_val": int(n_val),
            "val_accuracy": None if accuracy is None else float(accuracy), "steps": int(steps), "version": VERSION}
    return model, info


def measure_batch_statistics(model, images, batch_size=500, prepare=None):
    """Sets each batch-norm layer's moving statistics to its inputs' statistics over `images`.

    A moving average over the last training batches is a noisy estimate that a short run
    leaves behind the weights; inference-mode features (and accuracy) then differ from the
    ones the network learned ("precise BN", Wu & Johnson 2021). Layers are measured in order,
    each with the ones before it already set, so the statistics are those inference sees.

    Args:
        model: a functional keras.Model; its BatchNormalization layers are updated in place.
        images: inputs [N, ...], as the model takes them or as `prepare` does.
        batch_size: images per forward pass.
        prepare: applied to each batch before the model (e.g. `pixels.from_uint8`), so that
            the whole set is never held as floats.
    """
    for layer in [l for l in model.layers if isinstance(l, layers.BatchNormalization)]:
        probe = keras.Model(model.inputs, layer.input)
        count, total, squares = 0, 0.0, 0.0
        for start in range(0, len(images), batch_size):
            batch = images[start:start + batch_size]
            x = np.asarray(probe(prepare(batch) if prepare else batch, training=False), np.float64)
            x = x.reshape(-1, x.shape[-1])
            count, total, squares = count + len(x), total + x.sum(0), squares + np.square(x).sum(0)
        mean = total / count
        layer.moving_mean.assign(mean.astype(np.float32))
        layer.moving_variance.assign(np.maximum(squares / count - np.square(mean), 0.0).astype(np.float32))


def weak_classifier_note(info):
    """A warning when a classifier scores barely above chance on its held-out images, else None.

    Its features then hardly tell one image from another, and every metric built on them reads
    near zero whatever the generator draws (a rotation task on textures can end this way).
    """
    accuracy, classes = info.get("val_accuracy"), info.get("num_classes") or len(info.get("class_names", ()))
    if accuracy is None or not classes or accuracy >= WEAK_ACCURACY_FACTOR / classes:
        return None
    return (f"the metric classifier for {info.get('data', 'this data')} reached {accuracy:.0%} accuracy on its "
            f"{info.get('task', 'classes')} task against {1 / classes:.0%} by chance, so classifier metrics on "
            f"it mean little; prefer FID/KID on Inception features here.")


class ClassifierNetwork(Uint8Network):
    """Features [B, 128] and logits [B, K] of a trained classifier, from uint8 batches."""

    def __init__(self, model, info):
        self.model = model
        self.info = dict(info)
        self.name = f"classifier-{info.get('key', 'custom')}"
        self.sha256 = weights_sha256(model)  # in the statistics cache key (see evaluate.py)
        self.supervised = info.get("task", "classes") == "classes"
        self.class_names = list(info.get("class_names", []))
        self.resolution = model.inputs[0].shape[1]
        self.channels = model.inputs[0].shape[3]
        self._both = keras.Model(model.inputs, [model.get_layer("features").output, model.outputs[0]])
        self.resize = "none"
        self.note = weak_classifier_note(self.info)

    def forward_float(self, x):
        """Features and logits for floats in [-1, 1] of the classifier's size and channels."""
        features, logits = self._both(x, training=False)
        return features, logits

    def to_input(self, pixels):
        """Float 0..255 pixels -> [-1, 1] at the classifier's size and channels."""
        x = from_uint8(pixels)
        if x.shape[-1] != self.channels:
            x = tf.image.rgb_to_grayscale(x) if self.channels == 1 else tf.tile(x, [1, 1, 1, 3])
        return legacy_resize(x, (self.resolution, self.resolution))

    def __call__(self, images):
        """Features and logits for a uint8 batch, as numpy float32 arrays."""
        images = np.asarray(images, np.uint8)
        if images.shape[1] != self.resolution:
            self.resize = f"tf1-bilinear-{self.resolution}"
        return super().__call__(images)

    def describe(self):
        """What a result records about this network."""
        out = {"network": self.name, "resize": self.resize, "classifier_task": self.info.get("task"),
               "classifier_val_accuracy": self.info.get("val_accuracy")}
        return out


def _labelled_arrays(source, limit=MAX_TRAIN_IMAGES):
    """Images (uint8, quantised exactly like generated samples) and labels of an ImageSource."""
    images, labels = [], []
    for x, y in source.images().take(limit).batch(512):
        images.append(to_uint8(x.numpy()))
        labels.append(y.numpy())
    if not images:
        raise UserError(f"The data {source.name!r} has no images to train the metric classifier on.")
    return np.concatenate(images), np.concatenate(labels).astype(np.int32)


def classifier_for(data, resolution, channels, cache=True, progress=True, steps=TRAIN_STEPS):
    """The classifier network for a dataset: loaded from the cache, or trained (and cached).

    Args:
        data: a data spec (folder path, "digits", "mnist", "fashion_mnist", "cifar10"), or an
            ImageSource (never cached: it does not say where its images came from).
        resolution: image side the generator produces.
        channels: 1 or 3.
        cache: read and write the user cache (only for a data spec).
        progress: show progress bars.
        steps: training steps when it has to be trained.

    Returns:
        A ClassifierNetwork.
    """
    spec = data if isinstance(data, (str, Path)) else None
    key = f"{source_key(spec) if spec else data.name}-{resolution}px-{channels}ch-v{VERSION}"
    cache = cache and spec is not None
    folder = cache_dir("classifiers", key)
    model_path, info_path = folder / "model.keras", folder / "info.json"
    if cache and model_path.is_file() and info_path.is_file():
        return ClassifierNetwork(keras.models.load_model(model_path, compile=False), json.loads(info_path.read_text()))
    if spec is not None:
        source = load_source(str(spec), resolution, channels)
    else:
        source = data
    images, labels = _labelled_arrays(source)
    class_names = list(source.class_names or ())
    task = "classes" if len(class_names) >= 2 else "rotation"
    if task == "rotation":
        images, labels = rotation_task(images[: MAX_TRAIN_IMAGES // 4])
        class_names = ["0", "90", "180", "270"]
    model, info = train_classifier(images, labels, len(class_names), steps=steps, progress=progress)
    info.update(key=key, task=task, class_names=class_names, data=str(spec or source.name),
                resolution=int(resolution), channels=int(channels))
    if (note := weak_classifier_note(info)) is not None:
        warnings.warn(note[0].upper() + note[1:], stacklevel=2)
    if cache:
        with atomic_path(model_path) as tmp:
            model.save(tmp)
        write_json(info_path, info)  # written last: its presence marks a complete entry
    return ClassifierNetwork(model, info)
