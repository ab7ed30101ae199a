"""Cluster labels for unlabelled data: what a self-conditioned GAN (`--clusters K`) trains on.

Self-conditioning (Liu et al. 2020) trains a conditional GAN on cluster indices: the
generator gets per-cluster batch norm and the discriminator a per-cluster projection, which
keeps every mode of the data in play, without anyone labelling the data. The clusters here
are k-means on a PCA of 16x16 thumbnails: cheap (seconds for tens of thousands of images),
deterministic for a seed, and independent of any network.
"""
import numpy as np

from deepdeconv.data.batches import real_uint8_batches

THUMBNAIL = 16  # side the images are averaged down to before PCA
PCA_DIMS = 32
MAX_FIT = 20_000  # images the PCA and k-means are fitted on; every image is then assigned
MAX_AUTO = 30
IMAGES_PER_CLUSTER = 50


def default_count(num_images):
    """`--clusters` auto: one cluster per 50 images up to 30; 0 (off) when that is under 2."""
    k = min(MAX_AUTO, num_images // IMAGES_PER_CLUSTER)
    return k if k >= 2 else 0


def thumbnails(images):
    """float32 [N, 16*16*C] block averages of uint8 or float images [N, R, R, C] (R a multiple of 16)."""
    images = np.asarray(images, np.float32)
    n, r, _, c = images.shape
    f = r // THUMBNAIL
    return images.reshape(n, THUMBNAIL, f, THUMBNAIL, f, c).mean(axis=(2, 4)).reshape(n, -1)


def cluster_labels(features, k, seed=0):
    """k-means cluster index of every row of `features`, after PCA.

    Args:
        features: float array [N, D].
        k: number of clusters, 2..N.
        seed: seeds the fit subset, PCA and k-means.

    Returns:
        int32 labels [N] in 0..k-1, every cluster non-empty, numbered from the middle outwards by
        decreasing size (see `centre_out`).
    """
    from sklearn.cluster import KMeans  # imported here: slow to import, and only this option needs it
    from sklearn.decomposition import PCA

    features = np.asarray(features, np.float32)
    rng = np.random.default_rng(seed)
    fit = features[rng.permutation(len(features))[:MAX_FIT]] if len(features) > MAX_FIT else features
    pca = PCA(min(PCA_DIMS, *fit.shape), random_state=seed).fit(fit)
    kmeans = KMeans(k, n_init=3, random_state=seed).fit(pca.transform(fit))
    labels = kmeans.predict(pca.transform(features))
    counts = np.bincount(labels, minlength=k)
    if (counts == 0).any():  # every cluster holds a point of the fit subset, but not always of the rest
        labels[rng.permutation(len(labels))[:k]] = np.arange(k)
        counts = np.bincount(labels, minlength=k)
    position = np.empty(k, np.int64)
    position[np.argsort(-counts, kind="stable")] = centre_out(k)
    return position[labels].astype(np.int32)


def centre_out(k):
    """Label of the 1st, 2nd, ... largest of k clusters: the middle one, then alternately right and left.

    The sampler picks a cluster by where z[:, 0] falls, in label order
    (`models.conditional.self_conditioned`), so the most common clusters sit around z = 0.
    Truncated latents (`sample.py --trunc`) then keep the most common clusters, the typical
    samples truncation is asked for, rather than cutting off one end of the size order.
    """
    middle = (k - 1) // 2
    return np.array([middle + (r + 1) // 2 if r % 2 else middle - r // 2 for r in range(k)])


def self_conditioned_source(source, k, seed=0, chunk=500):
    """`source` with its labels replaced by k-means cluster indices of its images.

    Args:
        source: an ImageSource.
        k: number of clusters (at most the number of images).
        seed: seeds the clustering.
        chunk: images read at a time.

    Returns:
        The ImageSource with cluster labels (see `ImageSource.label_shares` for their sizes).
    """
    features = np.concatenate([thumbnails(batch) for batch in real_uint8_batches(source, chunk)])
    return source.with_labels(cluster_labels(features, k, seed))
