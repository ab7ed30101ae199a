"""A folder of image files as an ImageSource.

The folder is searched recursively for image files (`fileio.IMAGE_SUFFIXES`, any case);
hidden files and folders (names starting with ".") are ignored, symlinked folders are
followed (each real folder once, so a link loop ends). When every image lives
in an immediate subfolder and there are at least two such subfolders, each subfolder is a
class: labels follow the subfolder names sorted by name. Otherwise the data is unlabelled.
"""
from pathlib import Path

import numpy as np

from deepdeconv.data.decode import open_image
from deepdeconv.data.materialise import decode_all
from deepdeconv.data.source import ImageSource
from deepdeconv.errors import UserError
from deepdeconv.fileio import IMAGE_SUFFIXES, is_image_file
from deepdeconv.paths import walk_dirs


def load_folder(folder, resolution, channels=None, cache_dir=None) -> ImageSource:
    """Decodes every image under `folder` (in parallel, with a progress bar).

    Undecodable files are skipped and listed in `ImageSource.skipped`.

    Raises:
        UserError: the folder holds no image file, or none that decodes.
    """
    folder = Path(folder)
    files = find_images(folder)
    if not files:
        raise UserError(f"--data folder {folder} contains no images ({', '.join(IMAGE_SUFFIXES)}).")
    labels, class_names = class_labels(folder, files)
    name = folder.resolve().name or "data"

    def cache_key():
        lines = (f"{f.relative_to(folder).as_posix()}|{s.st_size}|{s.st_mtime_ns}" for f, s in
                 ((f, f.stat()) for f in files))
        return "\n".join(lines)

    decoded = decode_all(lambda i, size: open_image(files[i], draft_size=size), len(files), resolution,
                         name=name, desc=f"Decoding {name}", channels=channels, cache_dir=cache_dir,
                         cache_key=cache_key)
    skipped = tuple((str(files[i]), reason) for i, reason in decoded.failures)
    if len(decoded.kept) == 0:
        path, reason = skipped[0]
        raise UserError(f"None of the {len(files)} image files in --data folder {folder} could be decoded "
                        f"(for example {path}: {reason}).")
    return ImageSource(name=name, resolution=resolution, channels=decoded.channels, num_images=len(decoded.kept),
                       class_names=class_names, skipped=skipped, _store=decoded.store,
                       _labels=labels[decoded.kept])


def find_images(folder):
    """Image files under `folder`, recursively, sorted by their path relative to it."""
    found = []
    for root, dirs, names in walk_dirs(folder):  # symlinked class folders count, loops do not
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root, n) for n in names if is_image_file(n)]
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


def class_labels(folder, files):
    """(int32 labels [N], class names) from immediate subfolders, or (zeros, ()) if unlabelled."""
    tops = [f.relative_to(folder).parts for f in files]
    class_names = tuple(sorted({parts[0] for parts in tops}))
    if any(len(parts) == 1 for parts in tops) or len(class_names) < 2:
        return np.zeros(len(files), np.int32), ()
    index = {name: i for i, name in enumerate(class_names)}
    return np.array([index[parts[0]] for parts in tops], np.int32), class_names
