"""Image files: grids of uint8 images, PNG and animated GIF writing (all atomic)."""
import math
import re

import numpy as np
from PIL import Image

from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path
from deepdeconv.sampling.generate import generate

_GRID = re.compile(r"^(\d+)x(\d+)$")


def parse_grid(text):
    """Parses "ROWSxCOLS" (e.g. "8x8") into (rows, cols); "auto" or None gives None."""
    if text in (None, "auto"):
        return None
    m = _GRID.match(str(text).strip().lower())
    if not m or int(m.group(1)) < 1 or int(m.group(2)) < 1:
        raise UserError(f"--grid takes ROWSxCOLS such as 8x8 (or nothing, to fit the images), got {text!r}.")
    return int(m.group(1)), int(m.group(2))


def grid_shape(n, grid=None):
    """Rows and columns for `n` images: as given, or the most square layout that fits.

    Args:
        n: number of images.
        grid: (rows, cols), or None to choose.

    Raises:
        UserError: if the given grid holds fewer than `n` images.
    """
    if grid is None:
        cols = max(1, math.ceil(math.sqrt(n)))
        return max(1, math.ceil(n / cols)), cols
    rows, cols = grid
    if rows * cols < n:
        raise UserError(f"--grid {rows}x{cols} holds {rows * cols} images but {n} were asked for; "
                        "enlarge the grid or ask for fewer seeds.")
    return rows, cols


def make_grid(images, grid=None, pad=2, scale=1, pad_value=0):
    """Tiles images row by row into one picture, with `pad` pixels around every tile.

    Args:
        images: uint8 [N, H, W, C] with C = 1 or 3 (or [N, H, W] for grayscale).
        grid: (rows, cols), or None for the most square layout; unused cells are pad colour.
        pad: pixels between tiles and around the border (after scaling).
        scale: integer nearest-neighbour upscale of each tile, for looking at small images.
        pad_value: uint8 value of the padding.

    Returns:
        uint8 array [rows * (H * scale + pad) + pad, cols * (W * scale + pad) + pad, C].
    """
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"make_grid expects uint8 images, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"make_grid expects [N, H, W, 1 or 3] images, got shape {images.shape}")
    if scale > 1:
        images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    n, h, w, c = images.shape
    rows, cols = grid_shape(n, grid)
    out = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), pad_value, np.uint8)
    for i, image in enumerate(images):
        y, x = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        out[y:y + h, x:x + w] = image
    return out


def to_pil(array):
    """A PIL image of a uint8 [H, W], [H, W, 1] or [H, W, 3] array."""
    array = np.asarray(array)
    if array.dtype != np.uint8:
        raise ValueError(f"image arrays must be uint8, got {array.dtype}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    return Image.fromarray(array)


def save_png(path, array):
    """Writes a uint8 image array as a PNG, atomically."""
    with atomic_path(path) as tmp:
        to_pil(array).save(tmp, format="PNG")
    return path


def save_gif(path, frames, duration_ms=80, loop=0):
    """Writes uint8 frames as an animated GIF (looping forever by default), atomically.

    Pillow merges consecutive identical frames into one longer frame, so the file may hold
    fewer frames than given when the picture stands still.

    Args:
        path: destination `.gif`.
        frames: sequence of uint8 [H, W, C] arrays of one size.
        duration_ms: display time of each frame, or a list with one per frame.
        loop: GIF loop count; 0 repeats forever.
    """
    images = [to_pil(f) for f in frames]
    if not images:
        raise ValueError("save_gif needs at least one frame")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                       duration=duration_ms, loop=loop)
    return path


def write_grid(generator, latents, path, labels=None, batch_size=256, **grid_opts):
    """Generates one image per latent and saves them as a grid PNG (the training callback's writer).

    Args:
        generator: Keras generator (see `generate`).
        latents: float32 [N, z_dim].
        path: destination PNG.
        labels: class indices [N] for a conditional generator.
        batch_size: images per model call.
        **grid_opts: `grid`, `pad`, `scale`, `pad_value` for `make_grid`.

    Returns:
        The grid as a uint8 array, e.g. for TensorBoard.
    """
    images = np.concatenate(list(generate(generator, latents, batch_size=batch_size, labels=labels)))
    grid = make_grid(images, **grid_opts)
    save_png(path, grid)
    return grid
