"""Applying a restorer to image files: any size, any mode, one file or a folder tree.

Colour policy (the README repeats it):
- A grayscale restorer given a colour photo restores its luma and keeps its chroma: the image
  is split into Y, Cb, Cr (JPEG/BT.601 full range, PIL's "YCbCr", whose Y is the same luma
  the grayscale training images were made with), Y is restored, Cb and Cr are kept (upscaled
  bicubically for sr, as the SR literature does), and the three are turned back into RGB.
  Noise, blur and blocking live mostly in the luma, where the eye sees detail.
- A colour restorer given a grayscale image sees it as three equal channels, and the mean of
  its three output channels is written as a grayscale image: a grey input stays grey (a
  colour network may tint it slightly; averaging removes the tint rather than inventing colour).
- Inpainting restorers need the holes: `masks` gives one mask image per input (non-zero or
  white = missing); the holes are set to mid-grey and the mask is appended as the last channel,
  exactly as in training.

Small images of one size are restored together, `batch` per network call; an image larger
than the tile is restored in exactly stitched tiles (`tiles.restore_array`).
"""
import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from deepdeconv.data.decode import open_image
from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path
from deepdeconv.pixels import from_uint8, to_uint8
from deepdeconv.restoring import tiles


@dataclasses.dataclass
class Prepared:
    """One decoded image on its way through the network."""

    pixels: np.ndarray  # uint8 [H, W, C] as decoded
    inputs: np.ndarray  # float32 [H, W, C'] network input in [-1, 1]
    chroma: object = None  # (Cb, Cr) uint8 planes kept for a grey model on a colour image
    mean_channels: bool = False  # colour model on a grey image: average its output


def prepare(spec, pixels, mask=None) -> Prepared:
    """The network input for uint8 `pixels` [H, W] or [H, W, C] under the colour policy above."""
    pixels = np.asarray(pixels, np.uint8)
    pixels = pixels[..., None] if pixels.ndim == 2 else pixels
    chroma, mean_channels, net = None, False, pixels
    if spec.channels == 1 and pixels.shape[-1] == 3:
        ycbcr = np.asarray(Image.fromarray(pixels).convert("YCbCr"))
        net, chroma = ycbcr[..., :1], (ycbcr[..., 1], ycbcr[..., 2])
    elif spec.channels == 3 and pixels.shape[-1] == 1:
        net, mean_channels = np.repeat(pixels, 3, axis=-1), True
    x = from_uint8(net).numpy()
    if spec.task == "inpaint":
        if mask is None:
            raise UserError("An inpainting restorer needs the holes: give --mask (an image, or a folder of images "
                            "named like the inputs, white = missing).")
        m = np.asarray(mask, np.float32).reshape(x.shape[:2] + (1,))
        x = np.concatenate([x * (1.0 - m), m], axis=-1)
    return Prepared(pixels=pixels, inputs=x, chroma=chroma, mean_channels=mean_channels)


def finish(spec, prepared, output) -> np.ndarray:
    """The uint8 result [sH, sW, C] of a network output [sH, sW, C_model] for `prepared`."""
    if prepared.mean_channels:
        output = output.mean(axis=-1, keepdims=True)
    out = to_uint8(output)
    if prepared.chroma is not None:
        size = (out.shape[1], out.shape[0])
        planes = [Image.fromarray(out[..., 0])] + [
            Image.fromarray(c).resize(size, Image.Resampling.BICUBIC) if c.shape != out.shape[:2] else Image.fromarray(c)
            for c in prepared.chroma]
        out = np.asarray(Image.merge("YCbCr", planes).convert("RGB"))
    return out


def restore_pixels(spec, images, masks=None, tile=None, batch=4):
    """Restores uint8 images; those that fit the tile and share a size go through together.

    Args:
        spec: a `load.RestorerSpec`.
        images: list of uint8 arrays [H, W] or [H, W, C] (any mix of sizes).
        masks: inpaint only: a list of [H, W] masks (1 = missing), one per image.
        tile: see `tiles.restore_array`.
        batch: images (or tiles) per network call.

    Returns:
        List of uint8 results, in order.
    """
    masks = masks if masks is not None else [None] * len(images)
    prepared = [prepare(spec, im, m) for im, m in zip(images, masks)]
    limit = tiles.DEFAULT_TILE if tile is None else tile
    results = [None] * len(images)
    groups = {}
    for i, p in enumerate(prepared):
        h, w = p.inputs.shape[:2]
        if max(h, w) <= limit:
            groups.setdefault(p.inputs.shape, []).append(i)
        else:
            out = tiles.restore_array(spec.model, p.inputs, spec.scale, tile=tile, batch=batch)
            results[i] = finish(spec, p, out)
    for idx in groups.values():
        outs = tiles.restore_batch(spec.model, np.stack([prepared[i].inputs for i in idx]), batch=batch)
        for i, out in zip(idx, outs):
            results[i] = finish(spec, prepared[i], out)
    return results


def read_mask(path, shape):
    """A mask file as bool [H, W] (non-zero after conversion to grey = missing); one sentence if unusable."""
    try:
        mask = np.asarray(open_image(path).convert("L")) > 127
    except Exception as e:  # PIL raises many types for a bad file
        raise UserError(f"Mask {path} cannot be read ({type(e).__name__}).") from None
    if mask.shape != tuple(shape[:2]):
        raise UserError(f"Mask {path} is {mask.shape[1]}x{mask.shape[0]} but its image is {shape[1]}x{shape[0]}.")
    return mask.astype(np.uint8)


def compare_strip(spec, pixels, baseline, restored, labels=("input", "baseline", "ours")):
    """input (nearest-upscaled for sr) | classical baseline | ours, side by side with labels.

    `baseline` may be None (a task whose baseline is the input itself): then two panels.
    """
    shown = pixels
    if spec.scale > 1:
        shown = pixels.repeat(spec.scale, axis=0).repeat(spec.scale, axis=1)
    panels = [(labels[0], shown)] + ([(labels[1], baseline)] if baseline is not None else []) + [(labels[2], restored)]
    colour = any(p.ndim == 3 and p.shape[-1] == 3 for _, p in panels)
    rgb = [np.repeat(p.reshape(p.shape[:2] + (-1,)), 3 if colour and p.shape[-1:] != (3,) else 1, axis=-1)
           for _, p in panels]
    gap, band = 4, 16
    h, w = restored.shape[:2]
    strip = np.full((h + band, len(rgb) * w + gap * (len(rgb) - 1), 3 if colour else 1), 255, np.uint8)
    for k, p in enumerate(rgb):
        strip[band:, k * (w + gap):k * (w + gap) + w] = p[:h, :w]
    image = Image.fromarray(strip if colour else strip[..., 0])

    draw = ImageDraw.Draw(image)
    for k, (label, _) in enumerate(panels):
        draw.text((k * (w + gap) + 2, 2), label, fill=(0, 0, 0) if colour else 0)
    return np.asarray(image)


def decode(path):
    """uint8 [H, W, 1 or 3] pixels of an image file (any mode PIL reads, EXIF-upright)."""
    im = open_image(path)
    pixels = np.asarray(im, np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def output_pixels_to_pil(pixels):
    """A PIL image ("L" or "RGB") of uint8 [H, W, 1 or 3]."""
    return Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)


def suffix_format(path):
    """PIL's format name for a file suffix, or UserError naming the file."""
    Image.init()
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise UserError(f"Cannot write {path}: its suffix names no image format PIL writes (use .png, .jpg, .tif, ...).")
    return fmt


def save_image(path, pixels):
    """Writes uint8 pixels atomically in the format the suffix names (JPEG at quality 95)."""
    fmt = suffix_format(path)
    im = output_pixels_to_pil(pixels)
    with atomic_path(path) as tmp:
        im.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return path
