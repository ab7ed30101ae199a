"""Helpers for the notebooks in `notebooks/`: everything they do beyond calling the library.

The notebooks hold settings and calls only; the few things they need that the library does
not offer live here, where the tests reach them:

    small_run, choose,   the small-run switch ($DEEPDECONV_SMALL_RUN) that CI executes with
    when_small
    display              show images and GIFs inline; watch a run's sample grids while it trains
    charts               read log.jsonl / metrics.jsonl into columns; draw line charts (matplotlib)
    colab                the user's own images on Colab: upload them or mount Google Drive;
                         download results
    restoration          a restoration run's latest validation strips; a damaged copy of a
                         clean photo to restore
    workflow             Inception availability, real images to a folder, metric summaries,
                         execution options for CPU / GPU / TPU

Charts use matplotlib, which Colab and every notebook environment have (the `notebooks` extra
installs it elsewhere); it is imported only when a chart is drawn.
"""
import os

from deepdeconv.notebook.charts import line_chart, metric_names, read_columns
from deepdeconv.notebook.colab import data_source, download_files, mount_drive, on_colab, upload_images
from deepdeconv.notebook.display import image_html, newest_grid, show, watch_samples
from deepdeconv.notebook.restoration import latest_val_strips, write_degraded
from deepdeconv.notebook.workflow import (execution_options, hardware, inception_available, metrics_summary,
                                          write_real_images)

SMALL_RUN_ENV = "DEEPDECONV_SMALL_RUN"


def small_run():
    """True when $DEEPDECONV_SMALL_RUN asks for a run of a couple of minutes (CI, a quick look)."""
    return os.environ.get(SMALL_RUN_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def choose(full, small):
    """`small` under the small-run switch, else `full`: notebooks show both values side by side."""
    return small if small_run() else full


def when_small(**changes):
    """`changes` under the small-run switch, else nothing: `config.replace(**nb.when_small(steps=20))`.

    The full run then keeps TrainConfig's own defaults, which live in config.py alone.
    """
    return dict(changes) if small_run() else {}


__all__ = ["SMALL_RUN_ENV", "choose", "data_source", "download_files", "execution_options", "hardware",
           "image_html", "inception_available", "latest_val_strips", "line_chart", "metric_names", "metrics_summary",
           "mount_drive", "newest_grid", "on_colab", "read_columns", "show", "small_run", "upload_images",
           "watch_samples", "when_small", "write_degraded", "write_real_images"]
