"""Turning latents into image files: the one path shared by sample.py and the training callbacks.

    latents.py   seeds -> latents (per-seed RandomState), truncation, slerp; class_of(seed)
    generate.py  generator in batches, [-1, 1] -> uint8 via `pixels.to_uint8`
    images.py    grids, PNG and GIF files, `write_grid` for the sample-grid callback
    streams.py   folders of PNGs and .npz arrays for any number of images, memory flat
    tasks.py     what sample.py writes (seed images, interpolations, sweeps, class grids, GIFs)
    outputs.py   classes per seed, default file names and output paths for sample.py
    load.py      which generator: a run's exported .keras, a checkpoint, or a bare .keras file
"""
from deepdeconv.sampling.generate import (generate, generate_from_seeds, is_conditional, label_input,
                                          num_classes_of, z_dim_of)
from deepdeconv.sampling.images import (grid_shape, make_grid, parse_grid, save_gif, save_png, to_pil,
                                        write_grid)
from deepdeconv.sampling.latents import (interpolation_latents, latents_from_seeds, parse_seeds, parse_thresholds,
                                         slerp)
from deepdeconv.sampling.streams import NpzStream, PngFolder, seed_filename

__all__ = [
    "NpzStream", "PngFolder", "generate", "generate_from_seeds", "grid_shape", "interpolation_latents",
    "is_conditional", "label_input", "latents_from_seeds", "make_grid", "num_classes_of", "parse_grid",
    "parse_seeds", "parse_thresholds", "save_gif", "save_png", "seed_filename", "slerp", "to_pil", "write_grid", "z_dim_of",
]
