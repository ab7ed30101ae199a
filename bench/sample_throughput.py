"""How fast `sample.py grid --outdir` writes PNGs, and whether generation or writing limits it.

For each resolution it times, on the same 10,000 seeds:
  generation alone   latents + generator + uint8, images dropped;
  writing alone      PNG encoding + files, from one batch of ready images;
  end to end         what `sample.py grid --outdir` runs (`tasks.write_seed_images`).
If writing overlaps generation, end to end beats the serial rate 1 / (1/gen + 1/write).
Peak RSS during end to end shows that memory stays flat (compare: all images held at once).

    python bench/sample_throughput.py [--n 10000] [--resolutions 32,128] [--width 0.125]
"""
import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from deepdeconv.cli.common import quiet_tensorflow  # noqa: E402

quiet_tensorflow()


def rss_mb():
    """Resident memory of this process in MB (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples RSS every 10 ms on a thread; `.peak` is the highest value seen."""

    def __enter__(self):
        self.peak, self._stop = rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def timed(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def textured_generator(resolution, width):
    """An untrained RGB generator whose images have texture.

    DCGAN's N(0, 0.02) initialisation renders flat gray, which compresses far better than
    real samples and would flatter the PNG writer; He-initialised kernels give busy images
    that compress about as badly as real samples do.
    """
    import keras

    from deepdeconv.models import build_generator

    generator = build_generator(resolution=resolution, channels=3, z_dim=128, width=width)
    for layer in generator.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(keras.initializers.HeNormal(seed=0)(layer.kernel.shape))
    return generator


def measure(resolution, n, width, batch, workdir):
    """Rates in images/s and RSS figures for one resolution."""
    from deepdeconv.sampling import PngFolder, generate_from_seeds, seed_filename
    from deepdeconv.sampling.tasks import write_seed_images

    generator = textured_generator(resolution, width)
    seeds = range(n)
    _, ready = next(generate_from_seeds(generator, range(batch), batch))  # also traces predict once

    gen_s = timed(lambda: [None for _ in generate_from_seeds(generator, seeds, batch)])

    def write_only():
        with PngFolder(workdir / f"write-{resolution}") as out:
            for start in range(0, n, batch):
                count = min(batch, n - start)
                out.add(ready[:count], [seed_filename(s) for s in range(start, start + count)])

    write_s = timed(write_only)
    base = rss_mb()
    with PeakRss() as rss:
        e2e_s = timed(lambda: write_seed_images(generator, seeds, outdir=workdir / f"e2e-{resolution}",
                                                batch_size=batch, progress=False))
    assert len(os.listdir(workdir / f"e2e-{resolution}")) == n
    gen, write, e2e = n / gen_s, n / write_s, n / e2e_s
    return dict(gen=gen, write=write, e2e=e2e, serial=1 / (1 / gen + 1 / write), peak=rss.peak,
                grow=rss.peak - base, all_mb=n * resolution * resolution * 3 / 2**20)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=10000, help="images per resolution (default 10000)")
    p.add_argument("--resolutions", default="32,128", help="comma-separated sides (default 32,128)")
    p.add_argument("--width", type=float, default=0.125, help="generator width multiplier (default 0.125)")
    p.add_argument("--batch", type=int, default=256, help="images per generator call (default 256)")
    args = p.parse_args(argv)
    load = os.getloadavg()[0]
    parts = []
    with tempfile.TemporaryDirectory(prefix="sample-bench-") as tmp:
        for res in (int(r) for r in args.resolutions.split(",")):
            m = measure(res, args.n, args.width, args.batch, Path(tmp))
            parts.append(
                f"{res}x{res}: {args.n} PNGs end to end {m['e2e']:.0f} img/s (generation alone {m['gen']:.0f}, "
                f"writing alone {m['write']:.0f}, serial would be {m['serial']:.0f}: "
                f"{m['e2e'] / m['serial']:.2f}x), peak RSS {m['peak']:.0f} MB (+{m['grow']:.0f} MB while "
                f"writing; all images at once {m['all_mb']:.0f} MB)")
    print(f"sample_throughput ({os.cpu_count()} CPUs, load average {load:.1f} at start, width {args.width}, "
          f"batch {args.batch}): " + "; ".join(parts))


if __name__ == "__main__":
    from deepdeconv.cli.common import run_cli
    sys.exit(run_cli(main))
