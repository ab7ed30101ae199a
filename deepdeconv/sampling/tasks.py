"""What sample.py does, as functions with explicit paths: each writes its files or nothing."""
import contextlib
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from deepdeconv import rundir
from deepdeconv.errors import UserError
from deepdeconv.sampling.generate import generate, generate_from_seeds, z_dim_of
from deepdeconv.sampling.images import grid_shape, make_grid, save_gif, save_png
from deepdeconv.sampling.latents import interpolation_latents, latents_from_seeds
from deepdeconv.sampling.streams import NpzStream, PngFolder, seed_filename



def write_seed_images(generator, seeds, *, grid_path=None, grid=None, pad=2, scale=1, outdir=None,
                      npz_path=None, labels=None, trunc=None, batch_size=256, progress=True):
    """Generates one image per seed and writes any of: a grid PNG, a PNG per seed, an .npz.

    Images are generated once and handed to every requested writer batch by batch; only
    the grid keeps its images in memory, so an outdir or .npz of any size runs in flat
    memory.

    Args:
        generator: Keras generator.
        seeds: sequence of seeds (a `range` for bulk sampling).
        grid_path: grid PNG destination, or None.
        grid: (rows, cols) or None to fit; `pad` and `scale` as in `make_grid`.
        outdir: folder for `seedNNNN.png` files, or None.
        npz_path: .npz destination (see `NpzStream`), or None.
        labels: class index per seed for a conditional generator.
        trunc: truncation threshold (see `latents_from_seeds`).
        batch_size: images per model call.
        progress: show a progress bar.
    """
    if grid_path is not None:
        grid_shape(len(seeds), grid)  # refuse a small grid before generating anything
    grid_images = []
    with contextlib.ExitStack() as stack:
        folder = stack.enter_context(PngFolder(outdir)) if outdir is not None else None
        npz = stack.enter_context(NpzStream(npz_path, len(seeds))) if npz_path is not None else None
        bar = stack.enter_context(tqdm(total=len(seeds), unit="img", desc="sampling", disable=not progress))
        done = 0
        for batch_seeds, images in generate_from_seeds(generator, seeds, batch_size, labels, trunc):
            batch_labels = None if labels is None else labels[done:done + len(images)]
            if folder is not None:
                folder.add(images, [seed_filename(s) for s in batch_seeds])
            if npz is not None:
                npz.add(images, batch_seeds, batch_labels)
            if grid_path is not None:
                grid_images.append(images)
            done += len(images)
            bar.update(len(images))
        if grid_path is not None:
            save_png(grid_path, make_grid(np.concatenate(grid_images), grid=grid, pad=pad, scale=scale))


def write_interpolation(generator, seeds, frames, strip_path, gif_path, *, label=None, trunc=None,
                        pad=2, scale=1, duration_ms=80, batch_size=256):
    """Slerps through the seeds' latents: a strip PNG (a row per segment) and a looping GIF.

    Args:
        seeds: waypoint seeds, at least two; segment i runs from seeds[i] to seeds[i + 1].
        frames: frames per segment, endpoints included.
        strip_path, gif_path: destinations.
        label: the class index of the whole path for a conditional generator.
        duration_ms: GIF frame time.
    """
    z = latents_from_seeds(seeds, z_dim_of(generator), trunc=trunc)
    path = interpolation_latents(z, frames)  # [segments, frames, z_dim]
    segments = len(seeds) - 1
    path_labels = None if label is None else np.full(segments * frames, label)
    images = np.concatenate(list(generate(generator, path.reshape(segments * frames, -1), batch_size,
                                          path_labels)))
    save_png(strip_path, make_grid(images, grid=(segments, frames), pad=pad, scale=scale))
    # Each segment after the first starts on the previous one's last frame: drop the repeat.
    keep = [i for i in range(len(images)) if i == 0 or i % frames != 0]
    save_gif(gif_path, [make_grid(images[i:i + 1], pad=0, scale=scale) for i in keep], duration_ms)


def write_trunc_sweep(generator, seeds, thresholds, path, *, labels=None, pad=2, scale=1, batch_size=256):
    """A grid with one row per truncation threshold and one column per seed."""
    z_dim = z_dim_of(generator)
    latents = np.concatenate([latents_from_seeds(seeds, z_dim, trunc=t) for t in thresholds])
    labels = None if labels is None else np.tile(labels, len(thresholds))
    images = np.concatenate(list(generate(generator, latents, batch_size, labels)))
    save_png(path, make_grid(images, grid=(len(thresholds), len(seeds)), pad=pad, scale=scale))


def write_class_grid(generator, seeds, classes, path, *, trunc=None, pad=2, scale=1, batch_size=256):
    """A grid with one row per class and one column per seed (the same latents in every row)."""
    z = latents_from_seeds(seeds, z_dim_of(generator), trunc=trunc)
    latents = np.tile(z, (len(classes), 1))
    labels = np.repeat(np.asarray(classes), len(seeds))
    images = np.concatenate(list(generate(generator, latents, batch_size, labels)))
    save_png(path, make_grid(images, grid=(len(classes), len(seeds)), pad=pad, scale=scale))


def training_grids(run_dir):
    """The sample grids written during training, `samples/grid-NNNNNNNNN.png`, in step order."""
    return rundir.list_grids(run_dir)


def write_progress_gif(run_dir, path, duration_ms=250, hold_last_ms=2000):
    """Assembles the run's training grids, oldest first, into a GIF that pauses on the last.

    Raises:
        UserError: if the run has no training grids yet or their sizes differ.
    """
    grids = training_grids(run_dir)
    if not grids:
        raise UserError(f"{Path(run_dir) / rundir.SAMPLES} holds no training grids (grid-*.png) yet.")
    frames = []
    for p in grids:
        with Image.open(p) as im:
            frames.append(np.asarray(im.convert("L" if im.mode == "L" else "RGB")))
        if frames[-1].shape != frames[0].shape:
            raise UserError(f"{p} is {frames[-1].shape[1]}x{frames[-1].shape[0]} pixels but {grids[0]} is "
                            f"{frames[0].shape[1]}x{frames[0].shape[0]}; a GIF needs frames of one size.")
    save_gif(path, frames, duration_ms=[duration_ms] * (len(frames) - 1) + [hold_last_ms])
    return len(frames)
