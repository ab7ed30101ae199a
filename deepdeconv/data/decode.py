"""One image file (or array) -> a square uint8 array at the training resolution, with PIL.

Every source goes through `fit_square`, so folders, the built-in datasets and the streamed
path all resize identically. Images come out of `open_image` as mode "L" or "RGB" only: the
many ways a file can store its pixels (palette, alpha, CMYK, 16 bits, EXIF orientation) are
settled here, once.
"""
import numpy as np
from PIL import Image, ImageOps

# Grey levels stored in more than 8 bits (PNG opens 16-bit grey as "I;16").
_SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def open_image(path, draft_size=None):
    """Decodes the first frame of an image file as an upright "L" or "RGB" PIL image.

    Args:
        path: image file.
        draft_size: if given, lets JPEG decode at a reduced scale (1/2, 1/4, 1/8) as long as
            both sides stay at least this large; decoding a 4000-pixel photo for a 64-pixel
            model is then several times faster and the final resize is unchanged in kind.

    Returns:
        A loaded PIL image in mode "L" or "RGB".

    Raises:
        Exception: whatever PIL raises for a file it cannot decode (callers skip the file).
    """
    with Image.open(path) as im:
        if draft_size:
            im.draft(None, (draft_size, draft_size))
        im.load()
        try:
            # Cameras store portrait photos as landscape pixels plus an orientation tag.
            im = ImageOps.exif_transpose(im)
        except Exception:  # a malformed EXIF block should not cost us the picture
            pass
        return to_l_or_rgb(im)


def to_l_or_rgb(im):
    """Converts any PIL mode to "L" (grey) or "RGB", compositing transparency onto white.

    16-bit grey is scaled to 8 bits (value / 257, rounded) rather than clipped, which is
    what PIL's own `convert("L")` would do and which turns most 16-bit images white.
    """
    if im.mode in _SIXTEEN_BIT:
        grey = np.rint(np.asarray(im, dtype=np.float64) / 257.0)
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8), mode="L")
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        grey = im.mode in ("L", "LA", "La")
        im = im.convert("LA" if grey else "RGBA")
        background = Image.new("L" if grey else "RGB", im.size, 255 if grey else (255, 255, 255))
        background.paste(im.convert(background.mode), mask=im.getchannel("A"))
        return background
    if im.mode in ("1", "L", "F"):
        return im.convert("L")
    return im.convert("RGB")  # P, CMYK, YCbCr, RGB, ...


def fit_square(im, resolution):
    """Resizes so the short side equals `resolution`, keeping the aspect ratio, then centre-crops.

    Both steps are one PIL resize of the central square, so no pixels outside the crop are
    ever resampled. Upscaling uses bicubic (less ringing than Lanczos on the hard strokes of
    small digit images); downscaling uses Lanczos, which PIL widens into a proper low-pass
    filter so that thin details do not alias.

    Args:
        im: PIL image in mode "L" or "RGB".
        resolution: output side in pixels.

    Returns:
        uint8 numpy array [resolution, resolution] ("L") or [resolution, resolution, 3].
    """
    w, h = im.size
    side = min(w, h)
    if not (w == h == resolution):
        box = ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
        resample = Image.Resampling.BICUBIC if side < resolution else Image.Resampling.LANCZOS
        im = im.resize((resolution, resolution), resample, box=box)
    return np.asarray(im, dtype=np.uint8)


def is_grey(pixels):
    """True when an image (from `fit_square`) has one channel or three identical ones."""
    if pixels.ndim == 2 or pixels.shape[-1] == 1:
        return True
    return bool(np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]))


def luminance(rgb):
    """ITU-R 601 luma of uint8 RGB pixels [..., 3] -> [..., 1], bit-exact with PIL's convert("L").

    Being exact with PIL means a grey image stored as RGB converts back to itself, and an
    image converted here equals the same image converted while decoding.
    """
    rgb = np.asarray(rgb, dtype=np.uint32)
    y = (rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16
    return y.astype(np.uint8)[..., None]


def to_channels(pixels, channels):
    """Brings uint8 images [..., 1 or 3] (or [H, W] grey) to `channels` (1: luma, 3: repeated grey)."""
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    have = pixels.shape[-1]
    if have == channels:
        return pixels
    if channels == 1:
        return luminance(pixels)
    return np.repeat(pixels, 3, axis=-1)
