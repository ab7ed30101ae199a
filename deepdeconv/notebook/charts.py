"""A run's JSONL logs as columns, and line charts of them (matplotlib)."""
import math

import numpy as np
from PIL import Image

from deepdeconv.errors import UserError
from deepdeconv.fileio import read_jsonl


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
    rows = [_flatten(record) for record in read_jsonl(path, event=event)]
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
    # Deferred: matplotlib is only needed for notebook charts (the `notebooks` extra), and the
    # figure is drawn off-screen (Agg) so no display or pyplot state is involved.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ys = [ys] if isinstance(ys, str) else list(ys)
    missing = [name for name in (x, *ys) if name not in columns]
    if missing:
        raise UserError(f"There is no column {missing[0]!r} to plot; the columns are "
                        f"{', '.join(columns) or 'none (nothing was logged)'}.")
    figure = Figure(figsize=(size[0] / 100, size[1] / 100), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=9)
    axes.set_xlabel(x, fontsize=8)
    axes.tick_params(labelsize=7)
    axes.grid(alpha=0.3)
    drawn = False
    for name in ys:
        points = [(float(a), float(b)) for a, b in zip(columns[x], columns[name]) if _number(a) and _number(b)]
        if points:
            # Few points: mark each, a lone one would be invisible otherwise.
            axes.plot(*zip(*points), label=name, marker="o" if len(points) <= 30 else None, markersize=3)
            drawn = True
    if drawn:
        axes.legend(fontsize=7)
    else:
        axes.text(0.5, 0.5, "no data yet", ha="center", va="center", color="gray", transform=axes.transAxes)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3].copy())
