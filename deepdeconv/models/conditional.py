"""Class conditioning for both networks, composed from standard Keras layers.

- Generator: a learned class embedding concatenated to z, and conditional batch norm in the
  up-sampling blocks: batch norm without its own affine parameters, followed by a per-class
  gain and bias looked up from the label (de Vries et al. 2017; Miyato & Koyama 2018).
- Discriminator: a projection head (Miyato & Koyama 2018): logit = linear(h) + <embed(y), h>,
  where h are the discriminator's final features.

Every piece is built from standard layers (Embedding, BatchNormalization, Reshape, Multiply,
Add, CategoryEncoding, Dense, Dot), so an exported conditional generator loads anywhere with plain
`keras.models.load_model`, without custom objects or even deepdeconv installed. The label
input is int32 of shape [B]; `sampling.num_classes_of` reads the class count from the
Embedding layers' `input_dim`.
"""
import keras
import numpy as np
from keras import layers
from scipy import special

from deepdeconv.models.layers import dcgan_init

LABEL_INPUT = "label"
CLASS_CODE_DIM = 16  # class embedding size at the generator's input (see `embed_and_concat`)


def num_classes(config):
    """Number of classes (or self-conditioning clusters) the networks of a TrainConfig are conditioned on.

    0 when they are unconditional.
    """
    return len(config.class_names) if config.conditional else config.clusters or 0


def for_sampling(generator, config):
    """The model users sample from: `generator`, or its `self_conditioned` wrapper under `--clusters`."""
    return self_conditioned(generator, config.cluster_frequencies) if config.clusters else generator


def label_input():
    """The int32 class-index input, shape [B]."""
    return keras.Input((), dtype="int32", name=LABEL_INPUT)


def embed_and_concat(z, labels, classes, name="class_embedding"):
    """[z, embed(labels)]: the generator's input with a small class code appended.

    The code is small on purpose: `CLASS_CODE_DIM` values starting near zero (DCGAN's
    N(0, 0.02)), so the latent drives the first layer and the class is mostly drawn by the
    conditional batch norm. A code as large as z (128 values from N(0, 1)) made the generator
    ignore z on digits: every seed of a class gave the same image (bench/conditional_accuracy.py
    measures it; figures in the README).

    Args:
        z: latent tensor [B, z_dim].
        labels: int32 labels [B].
        classes: number of classes.
        name: name of the Embedding layer.

    Returns:
        A [B, z_dim + CLASS_CODE_DIM] tensor.
    """
    code = layers.Embedding(classes, CLASS_CODE_DIM, embeddings_initializer=dcgan_init(), name=name)(labels)
    return layers.Concatenate(name=f"{name}_concat")([z, code])


def conditional_batch_norm(x, labels, classes, gamma_initializer, name):
    """Batch norm whose gain and bias are looked up per class: gamma[y] * BN(x) + beta[y].

    The statistics are shared by all classes (one BatchNormalization layer without its own
    affine parameters); only the affine transform depends on the class, which is what lets a
    single set of convolutions draw every class.

    Args:
        x: feature map [B, H, W, C].
        labels: int32 labels [B].
        classes: number of classes.
        gamma_initializer: initial gains (DCGAN: N(1, 0.02)); biases start at zero.
        name: the BatchNormalization layer's name; the gain and bias tables are
            `<name>_gamma` and `<name>_beta`.

    Returns:
        The normalised, class-modulated feature map, same shape as `x`.
    """
    channels = x.shape[-1]
    x = layers.BatchNormalization(center=False, scale=False, name=name)(x)
    gamma = layers.Embedding(classes, channels, embeddings_initializer=gamma_initializer, name=f"{name}_gamma")(labels)
    beta = layers.Embedding(classes, channels, embeddings_initializer="zeros", name=f"{name}_beta")(labels)
    x = layers.Multiply(name=f"{name}_scale")([x, layers.Reshape((1, 1, channels))(gamma)])
    return layers.Add(name=f"{name}_shift")([x, layers.Reshape((1, 1, channels))(beta)])


def projection_logit(features, labels, classes, linear_logit, wrap=lambda layer: layer):
    """The projection discriminator's output: linear(h) + <embed(y), h>.

    Args:
        features: the final features h [B, F].
        labels: int32 labels [B].
        classes: number of classes.
        linear_logit: the unconditional term linear(h), [B, 1].
        wrap: applied to the embedding layer (spectral normalisation when the discriminator
            uses it, as in the paper).

    Returns:
        float32 logits [B, 1] (float32 under mixed precision too, like the unconditional head).
    """
    # A bias-free Dense layer on one-hot labels is an embedding lookup, embed(y) = W[y]. Unlike
    # an Embedding layer it can take Keras' SpectralNormalization wrapper, which casts the
    # wrapped layer's output to its input's dtype: int32 labels would zero the gradient.
    one_hot = layers.CategoryEncoding(classes, output_mode="one_hot", name="label_one_hot")(labels)
    embed = wrap(layers.Dense(features.shape[-1], use_bias=False, kernel_initializer=dcgan_init(),
                              name="class_projection"))(one_hot)
    projection = layers.Dot(axes=1, dtype="float32", name="projection")([embed, features])
    return layers.Add(dtype="float32", name="projected_logit")([linear_logit, projection])


# Where the remapped first entry is pinned down in each cluster: a normal quantile every 0.05
# between -4.5 and 4.5 (beyond, float32 cannot resolve a narrow cluster's interval).
_REMAP_GRID = np.linspace(-4.5, 4.5, 181)


def self_conditioned(generator, frequencies):
    """Wraps a cluster-conditional generator as one that takes z alone.

    A self-conditioned GAN (Liu et al. 2020) trains like a conditional one on cluster labels of
    unlabelled data; users sample it like an unconditional one. The wrapper picks each
    sample's cluster from z's first entry: for z ~ N(0, I) it falls between the normal
    quantiles of the cumulative frequencies exactly as often as the data holds each cluster,
    and the same z always gives the same cluster. The generator trained on latents drawn
    regardless of the cluster, so the wrapper then maps that entry back to a full standard
    normal, Φ⁻¹ of where it falls within its cluster's interval: otherwise every cluster would
    see only its own narrow slice of it, and the clusters at the ends only extreme values.
    So sample grids, seeds, metrics and exported files see a plain z -> image model that shares
    the weights of `generator`, built from standard layers only (fixed Dense layers,
    Discretization, Embedding tables of the remap's linear pieces, Reshape and arithmetic
    merges), so it too loads without deepdeconv.

    Args:
        generator: a model [z, labels] -> images, as `build_generator(num_classes=K)` builds.
        frequencies: the K clusters' shares of the data (positive, summing to 1).

    Returns:
        A `keras.Model` z [B, z_dim] -> images, named like `generator`.
    """
    z_dim = generator.inputs[0].shape[-1]
    edges, breaks, anchors_x, anchors_t, slopes = first_entry_remap(frequencies)
    z = keras.Input((z_dim,), name="z")
    first = layers.Dense(1, use_bias=False, trainable=False, dtype="float32", name="cluster_coordinate",
                         kernel_initializer=keras.initializers.Constant(np.eye(z_dim, 1)))(z)
    # float32 throughout, whatever the global policy: a bfloat16 z0 would land in the wrong
    # cluster or piece near an edge, and z0 - anchor cancels.
    f32 = {"dtype": "float32"}
    labels = layers.Discretization(bin_boundaries=edges, output_mode="int", name="cluster", **f32)(first)
    labels = layers.Reshape((), name="cluster_index", **f32)(labels)
    piece = layers.Discretization(bin_boundaries=breaks, output_mode="int", name="remap_piece", **f32)(first)
    tables = {}
    for name, values in (("remap_x", anchors_x), ("remap_t", anchors_t), ("remap_slope", slopes)):
        table = layers.Embedding(len(values), 1, trainable=False, name=name, **f32)
        tables[name] = layers.Reshape((1,), name=f"{name}_value", **f32)(table(piece))
        table.set_weights([np.asarray(values, np.float32)[:, None]])
    offset = layers.Subtract(name="remap_offset", **f32)([first, tables["remap_x"]])
    scaled = layers.Multiply(name="remap_scaled", **f32)([tables["remap_slope"], offset])
    remapped = layers.Add(name="remap_first", **f32)([tables["remap_t"], scaled])
    change = layers.Subtract(name="remap_change", **f32)([remapped, first])
    # z + e0 * (remapped - first): z with its first entry replaced.
    moved = layers.Add(name="remapped_z", **f32)([z, layers.Dense(
        z_dim, use_bias=False, trainable=False, name="remap_into_z",
        kernel_initializer=keras.initializers.Constant(np.eye(1, z_dim)), **f32)(change)])
    return keras.Model(z, generator([moved, labels]), name=generator.name)


def first_entry_remap(frequencies):
    """The cluster edges in z and the piecewise-linear map of z's first entry `self_conditioned` uses.

    Within cluster k, whose interval is [lo, hi] in probability, the exact map is
    z0 -> Φ⁻¹((Φ(z0) - lo) / (hi - lo)). It is pinned at the points where it equals each value t
    of `_REMAP_GRID` (z0 = Φ⁻¹(lo + Φ(t) (hi - lo))) and linear in between; the first and last
    pieces of a cluster extend its neighbouring piece's line to the cluster's edges.

    Args:
        frequencies: the K clusters' shares of the data (positive).

    Returns:
        (edges: K - 1 cluster edges in z, breaks: the pieces' boundaries in z (the edges
        included), and for each of the len(breaks) + 1 pieces: the z0 and the value it is
        anchored at, and its slope).
    """
    cumulative = np.cumsum(frequencies, dtype=np.float64) / np.sum(frequencies, dtype=np.float64)
    bounds = np.concatenate([[0.0], cumulative[:-1], [1.0]])
    edges = special.ndtri(np.clip(bounds[1:-1], 1e-12, 1 - 1e-12))
    grid = _REMAP_GRID
    # Pieces of every cluster: below its first point (the first segment's line), the segments,
    # above its last point (the last segment's line).
    piece_of = np.concatenate([[0], np.arange(len(grid) - 1), [len(grid) - 2]])
    breaks, anchors_x, anchors_t, slopes = [], [], [], []
    for k, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        x = special.ndtri(lo + special.ndtr(grid) * (hi - lo))
        slope = np.diff(grid) / np.maximum(np.diff(x), 1e-300)  # a tiny cluster's points may coincide
        anchors_x.extend(x[piece_of])
        anchors_t.extend(grid[piece_of])
        slopes.extend(slope[piece_of])
        breaks.extend(x)
        if k < len(edges):
            breaks.append(edges[k])
    return edges.tolist(), breaks, anchors_x, anchors_t, slopes
