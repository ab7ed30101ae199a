"""Images inline in a notebook: PNGs, GIFs and Pillow images, and a live view of training grids.

Images are embedded as HTML `<img>` tags with base64 data, which Jupyter, Colab and VS Code
all render, animated GIFs included, and scaled with `image-rendering: pixelated` so that
32x32 samples are enlarged without blurring.
"""
import base64
import contextlib
import contextvars
import html
import io
import math
import threading
import time
from pathlib import Path

from PIL import Image

from deepdeconv import rundir
from deepdeconv.sampling import to_pil

# Pictures narrower than this are enlarged by a whole factor: 32-pixel samples are unreadable.
MIN_WIDTH = 256


def _encoded(image):
    """(bytes, format, natural width) of a path, a PIL image or a uint8 array."""
    if isinstance(image, (str, Path)):
        data = Path(image).read_bytes()
        with Image.open(io.BytesIO(data)) as im:
            return data, (im.format or "PNG").lower(), im.width
    if not isinstance(image, Image.Image):
        image = to_pil(image)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue(), "png", image.width


def image_html(image, width=None, caption=None):
    """An HTML `<img>` embedding `image`, optionally with a caption below it.

    Args:
        image: a PNG/GIF/JPEG path, a PIL image, or a uint8 array [H, W(, C)].
        width: display width in pixels; None enlarges small pictures by a whole factor to at
            least `MIN_WIDTH` and leaves larger ones at their size.
        caption: text shown under the picture.
    """
    data, fmt, natural = _encoded(image)
    if width is None:
        width = natural * max(1, math.ceil(MIN_WIDTH / max(natural, 1)))
    tag = (f'<img src="data:image/{fmt};base64,{base64.b64encode(data).decode()}" width="{int(width)}" '
           'style="image-rendering: pixelated"/>')
    if caption:
        tag = f"<figure style='margin: 0'>{tag}<figcaption>{html.escape(str(caption))}</figcaption></figure>"
    return tag


def show(image, width=None, caption=None):
    """Displays `image` (see `image_html`) in the notebook output."""
    # Deferred: IPython comes with the notebook, not with deepdeconv; the HTML helpers work without it.
    from IPython.display import HTML, display

    display(HTML(image_html(image, width, caption)))


def newest_grid(outdir, since=0.0):
    """The most recently written training grid `outdir/*/samples/grid-*.png`, or None.

    Args:
        outdir: parent of the run directories.
        since: ignore grids last modified before this time (seconds since the epoch).
    """
    newest, newest_time = None, since
    for path in Path(outdir).glob(f"*/{rundir.SAMPLES}/grid-*.png"):
        try:
            modified = path.stat().st_mtime
        except OSError:  # deleted meanwhile
            continue
        if modified >= newest_time and rundir.grid_step(path) is not None:
            newest, newest_time = path, modified
    return newest


def grid_caption(path):
    """"<run> step N" for a training grid path."""
    path = Path(path)
    step = rundir.grid_step(path)
    step = f"step {step}" if step is not None else path.name
    return f"{path.parent.parent.name} {step}"


def _updating_output():
    """A notebook output showing a placeholder, and a function that replaces it by a grid."""
    from IPython.display import HTML, display

    handle = display(HTML("<i>waiting for the first sample grid...</i>"), display_id=True)

    def update(path):
        handle.update(HTML(image_html(path, caption=grid_caption(path))))

    return update


@contextlib.contextmanager
def watch_samples(outdir="runs", every_s=2.0, show_grid=None):
    """Shows the newest sample grid under `outdir` while the `with` block trains, in one output.

    A background thread looks for new grids every `every_s` seconds; the last one is shown
    again when the block ends, so the output always ends on the final grid.

    Args:
        outdir: the training config's `outdir`.
        every_s: seconds between looks.
        show_grid: callable(path) that shows a grid; default: an updating notebook output.
    """
    since = time.time() - 1.0  # file times may be a little coarser than the clock
    show_grid = show_grid or _updating_output()
    shown = [None]
    stop = threading.Event()

    def refresh():
        path = newest_grid(outdir, since)
        if path is not None and path != shown[0]:
            shown[0] = path
            show_grid(path)

    def poll():
        while not stop.wait(every_s):
            refresh()

    # The copied context carries the notebook cell's identity, so the thread's updates land
    # in the output of the cell that started it.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(poll,), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        refresh()
