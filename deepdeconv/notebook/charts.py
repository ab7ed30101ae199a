"""A run's JSONL logs as columns, and line charts of them drawn with Pillow."""
import json
import math
from pathlib import Path

from deepdeconv.errors import UserError

# Matplotlib's "tab10" colours: distinguishable, also for most colour-blind readers.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def _flatten(record, prefix=""):
    flat = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def read_columns(path, event=None):
    """Reads a JSONL file (log.jsonl, metrics.jsonl) into columns, one value per record.

    Nested fields get dotted names: an evaluation's FID is the column "metrics.fid". A
    record without a field has None in that column, so all columns line up.

    Args:
        path: the file; a missing file gives no columns (a run that has not logged yet).
        event: keep only records whose "event" field equals this (e.g. "eval").

    Returns:
        {column name: list of values}, columns in order of first appearance.
    """
    path = Path(path)
    if not path.is_file():
        return {}
    rows = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a line cut short by a crash
        if isinstance(record, dict) and (event is None or record.get("event") == event):
            rows.append(_flatten(record))
    names = list(dict.fromkeys(name for row in rows for name in row))
    return {name: [row.get(name) for row in rows] for name in names}


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_names(columns):
    """The metric columns of metrics.jsonl records ("metrics.cfid", ...) that hold numbers.

    Spreads (`*_std`) and per-class histograms are left out: they are not curves to follow.
    """
    return [name for name, values in columns.items()
            if name.startswith("metrics.") and name.count(".") == 1 and not name.endswith("_std")
            and any(_number(v) for v in values)]


def _label(value):
    return f"{value:.4g}"


def line_chart(columns, x, ys, title="", size=(480, 280)):
    """Draws columns `ys` against column `x` as lines on one pair of axes.

    Points where either value is missing or not a finite number are skipped.

    Args:
        columns: {name: values}, e.g. from `read_columns`.
        x: name of the horizontal column (usually "step").
        ys: names of the columns to draw, one coloured line each.
        title: text above the plot.
        size: (width, height) in pixels.

    Returns:
        A PIL image.

    Raises:
        UserError: a named column does not exist.
    """
    from PIL import Image, ImageDraw, ImageFont

    ys = [ys] if isinstance(ys, str) else list(ys)
    missing = [name for name in (x, *ys) if name not in columns]
    if missing:
        raise UserError(f"There is no column {missing[0]!r} to plot; the columns are "
                        f"{', '.join(columns) or 'none (nothing was logged)'}.")
    series = {name: [(float(a), float(b)) for a, b in zip(columns[x], columns[name]) if _number(a) and _number(b)]
              for name in ys}
    width, height = size
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((8, 6), title, fill="black", font=font)
    points = [p for line in series.values() for p in line]
    if not points:
        draw.text((width // 3, height // 2), "no data yet", fill="gray", font=font)
        return image
    left, right, top, bottom = 64, width - 12, 26, height - 24
    x0, x1 = _span(p[0] for p in points)
    y0, y1 = _span(p[1] for p in points)
    inset = 6  # keeps lines and markers off the frame

    def at(px, py):
        return (left + inset + (px - x0) / (x1 - x0) * (right - left - 2 * inset),
                bottom - inset - (py - y0) / (y1 - y0) * (bottom - top - 2 * inset))

    draw.rectangle((left, top, right, bottom), outline="black")
    for value in (y0, (y0 + y1) / 2, y1):
        y = at(x0, value)[1]
        draw.line((left + 1, y, right - 1, y), fill="#e0e0e0")
        _text(draw, (left - 6, y), _label(value), "black", font, h=1.0, v=0.5)
    for value in (x0, x1):
        _text(draw, (at(value, y0)[0], bottom + 4), _label(value), "black", font, h=0.5, v=0.0)
    _text(draw, ((left + right) / 2, bottom + 4), x, "gray", font, h=0.5, v=0.0)
    for i, (name, line) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        pixels = [at(*p) for p in line]
        if len(pixels) > 1:
            draw.line(pixels, fill=colour, width=2)
        if len(pixels) <= 30:  # few points: mark each, a lone one would be invisible otherwise
            for px, py in pixels:
                draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=colour)
    # The legend sits in the top margin, right-aligned, so it never covers a line.
    legend_right = right
    for i, name in reversed(list(enumerate(series))):
        _text(draw, (legend_right, 6), name, COLOURS[i % len(COLOURS)], font, h=1.0, v=0.0)
        legend_right -= draw.textbbox((0, 0), name, font=font)[2] + 14
    return image


def _text(draw, xy, text, colour, font, h, v):
    """Draws `text` with the point `xy` at fraction (h, v) of its box (Pillow's bitmap default
    font does not support anchors)."""
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    draw.text((xy[0] - h * (x1 - x0) - x0, xy[1] - v * (y1 - y0) - y0), text, fill=colour, font=font)


def _span(values):
    """(low, high) of the values, widened so that a constant series still has a height."""
    values = list(values)
    low, high = min(values), max(values)
    if high == low:
        pad = abs(low) * 0.05 or 0.5
        return low - pad, high + pad
    return low, high
