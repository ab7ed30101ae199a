"""Fréchet distance on 10,000 x 2048 features: ours (Cholesky + symmetric eigenvalues) vs scipy sqrtm.

    python bench/fid_speed.py [--n 10000] [--dims 2048] [--repeat 3]

Prints one JSON line: the time of each method (best of --repeat for ours), their ratio, and
the absolute and relative difference of the two FIDs. Goal: ours <= 1 s, >= 10x faster than
scipy.linalg.sqrtm, equal to 1e-6 relative. CPU times are reported too; on a shared,
oversubscribed machine run it with OPENBLAS_NUM_THREADS=1, since OpenBLAS threads that spin
waiting for a busy core make wall times meaningless.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import scipy
import scipy.linalg

from deepdeconv.metrics.fid import frechet_distance
from deepdeconv.metrics.stats import StreamingStats


def features(n, dims, seed, scale=1.0, shift=0.0):
    """Inception-like features: non-negative, correlated (low-rank mixing plus noise), float32."""
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(1234).standard_normal((128, dims)).astype(np.float32) / np.sqrt(128)
    x = rng.standard_normal((n, 128)).astype(np.float32) @ mixing
    x += 0.5 * rng.standard_normal((n, dims)).astype(np.float32)
    return np.maximum(x * scale + shift, 0)


def stats_of(x, batch=1000):
    s = StreamingStats()
    for i in range(0, len(x), batch):
        s.update(x[i:i + batch])
    return s.mu, s.sigma


def scipy_fid(mu1, s1, mu2, s2):
    """What TTUR / pytorch-fid compute (without the disp=False scipy >= 1.18 removed)."""
    covmean = scipy.linalg.sqrtm(s1.dot(s2))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    diff = mu1 - mu2
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--dims", type=int, default=2048)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)

    t = time.perf_counter()
    mu1, s1 = stats_of(features(args.n, args.dims, 0))
    mu2, s2 = stats_of(features(args.n, args.dims, 1, scale=1.1, shift=0.05))
    stats_s = time.perf_counter() - t

    ours_times, ours_cpu = [], []
    for _ in range(args.repeat):
        t, c = time.perf_counter(), time.process_time()
        ours = frechet_distance(mu1, s1, mu2, s2)
        ours_times.append(time.perf_counter() - t)
        ours_cpu.append(time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    reference = scipy_fid(mu1, s1, mu2, s2)
    scipy_s, scipy_cpu = time.perf_counter() - t, time.process_time() - c
    ours_s = min(ours_times)
    print(json.dumps({
        "n": args.n, "dims": args.dims, "stats_s_both_sets": round(stats_s, 3),
        "ours_s": round(ours_s, 4), "ours_s_all": [round(x, 4) for x in ours_times],
        "scipy_sqrtm_s": round(scipy_s, 3),
        "speedup": round(scipy_s / ours_s, 1), "ours_cpu_s": round(min(ours_cpu), 3),
        "scipy_cpu_s": round(scipy_cpu, 3), "speedup_cpu": round(scipy_cpu / min(ours_cpu), 1),
        "fid_ours": ours, "fid_scipy": reference,
        "abs_diff": abs(ours - reference), "rel_diff": abs(ours - reference) / abs(reference),
        "scipy_version": scipy.__version__, "numpy_version": np.__version__,
        "load_average": os.getloadavg()[0],
    }))


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
