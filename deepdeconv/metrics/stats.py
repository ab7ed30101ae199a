"""Feature statistics: streaming float64 mean/covariance and the TTUR `.npz` format.

A statistics file holds `mu` [D] and `sigma` [D, D] exactly as TTUR and pytorch-fid write
them, so their published reference statistics can be used directly and ours can be read by
them. We add optional keys (`n`, `network`, `reference`, `features`) that those readers ignore.
Real statistics are also cached in the user cache, keyed by network and data (`cached_stats`).
"""
import json
from pathlib import Path

import numpy as np

from deepdeconv.cache import cache_dir
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path


class StreamingStats:
    """Mean and covariance accumulated batch by batch in float64.

    Memory is O(D^2) whatever the number of samples. Batches are merged with Chan et al.'s
    pairwise update (each batch centred on its own mean, then combined), which avoids the
    cancellation of the naive `sum(x x^T) - n mu mu^T` when features have a large mean.
    """

    def __init__(self):
        self.n = 0
        self._mean = None
        self._m2 = None

    def update(self, batch):
        """Adds a [B, D] batch of feature vectors."""
        x = np.asarray(batch, dtype=np.float64)
        if x.ndim != 2:
            x = x.reshape(len(x), -1)
        b = len(x)
        if b == 0:
            return
        batch_mean = x.mean(axis=0)
        centred = x - batch_mean
        batch_m2 = centred.T @ centred
        if self.n == 0:
            self._mean, self._m2 = batch_mean, batch_m2
        else:
            total = self.n + b
            delta = batch_mean - self._mean
            self._mean = self._mean + delta * (b / total)
            self._m2 += batch_m2 + np.outer(delta, delta) * (self.n * b / total)
        self.n += b

    @property
    def mu(self):
        """Mean feature vector [D], float64."""
        self._require(1)
        return self._mean.copy()

    @property
    def sigma(self):
        """Unbiased (N-1) covariance [D, D], float64, as numpy.cov computes it."""
        self._require(2)
        return self._m2 / (self.n - 1)

    def _require(self, n):
        if self.n < n:
            raise ValueError(f"statistics need at least {n} sample(s), got {self.n}")


def save_stats(path, mu, sigma, n=None, network=None, reference=None, features=None):
    """Writes a TTUR/pytorch-fid compatible `.npz` (keys `mu`, `sigma`), atomically.

    Args:
        path: destination; should end in `.npz`.
        mu: mean [D].
        sigma: covariance [D, D].
        n: number of images the statistics were computed from.
        network: name of the feature network, recorded so mismatches can be detected.
        reference: JSON-serialisable description of the data.
        features: optional [N, D] features (kept for KID and precision/recall).
    """
    arrays = {"mu": np.asarray(mu, np.float64), "sigma": np.asarray(sigma, np.float64)}
    if n is not None:
        arrays["n"] = np.int64(n)
    if network is not None:
        arrays["network"] = np.str_(network)
    if reference is not None:
        arrays["reference"] = np.str_(json.dumps(reference, sort_keys=True))
    if features is not None:
        arrays["features"] = np.asarray(features, np.float32)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_stats(path):
    """Reads a statistics `.npz` written by us, TTUR or pytorch-fid.

    Returns:
        A dict with `mu`, `sigma` (float64) and, when present, `n`, `network`, `reference`
        and `features`.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise UserError(f"Statistics file {path} does not exist.") from None
    except Exception as e:  # numpy and zipfile raise many types (EOFError, BadZipFile, ...) for a damaged file
        raise UserError(f"{path} is not a readable .npz statistics file ({type(e).__name__}: {e}).") from None
    if "mu" not in data or "sigma" not in data:
        raise UserError(f"{path} has no 'mu' and 'sigma' arrays; it is not a FID statistics file.")
    mu, sigma = data["mu"].astype(np.float64), data["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (len(mu), len(mu)):
        raise UserError(f"{path} has mu of shape {mu.shape} and sigma of shape {sigma.shape}; expected [D] and [D, D].")
    out = {"mu": mu, "sigma": sigma}
    if "n" in data:
        out["n"] = int(data["n"])
    if "network" in data:
        out["network"] = str(data["network"])
    if "reference" in data:
        out["reference"] = json.loads(str(data["reference"]))
    if "features" in data:
        out["features"] = data["features"]
    return out


# --- the disk cache of real statistics, shared by every run on the same data -----------------

def _cache_path(network, cache_key):
    tag = network.name + (f"-{network.sha256[:12]}" if getattr(network, "sha256", None) else "")
    return cache_dir("stats", f"{tag}-{cache_key}.npz")


def cached_stats(network, cache_key, need_features=False):
    """The cached real statistics of the data `cache_key` under `network`, or None.

    A damaged entry, or one without the features a metric needs, counts as missing (it is
    recomputed and overwritten).
    """
    path = _cache_path(network, cache_key)
    if not path.is_file():
        return None
    try:
        cached = load_stats(path)
    except UserError:
        return None
    if need_features and "features" not in cached:
        return None
    return cached


def store_cached_stats(network, cache_key, result, reference):
    """Caches real statistics ({"mu", "sigma", "n", optional "features"}) for `cached_stats`."""
    save_stats(_cache_path(network, cache_key), result["mu"], result["sigma"], n=result["n"],
               network=network.name, reference=reference, features=result.get("features"))
