"""`--data` -> ImageSource: the one place that knows how a data spec is spelled."""
from pathlib import Path

from deepdeconv import remote
from deepdeconv.data.builtin import DATASETS, NAMES, load_builtin
from deepdeconv.data.folder import load_folder
from deepdeconv.data.source import ImageSource
from deepdeconv.errors import UserError


def load_source(spec: str, resolution: int, channels=None, cache_dir=None) -> ImageSource:
    """Loads the images named by a `--data` value, decoded and squared to `resolution`.

    Args:
        spec: one of
            - a folder of images (searched recursively; see `deepdeconv.data.folder`), local
              or a gs:// URL (downloaded once into the user cache);
            - `digits`, `mnist`, `fashion_mnist`, `cifar10` (see `deepdeconv.data.builtin`);
            - `NAME:PATH` for a Keras data set read from a local file or folder.
            A built-in name wins over a folder of the same name: write `./mnist` for the folder.
        resolution: output side in pixels.
        channels: 1 or 3 to force (1 takes luminance, 3 repeats grey); None: 1 when every
            image is grey, else 3.
        cache_dir: where decoded images are cached when they are too large for memory; None
            decodes them again on every read in that case.

    Raises:
        UserError: unknown name, missing or empty folder, unreadable or unverifiable data set file.
    """
    if channels not in (None, 1, 3):
        raise UserError(f"--channels must be 1 or 3, got {channels}.")
    if not isinstance(resolution, int) or resolution < 1:
        raise UserError(f"--resolution must be a positive integer, got {resolution}.")
    if spec in NAMES:
        return load_builtin(spec, resolution, channels, cache_dir)
    name, colon, rest = spec.partition(":")
    if colon and name in DATASETS and rest:
        return load_builtin(name, resolution, channels, cache_dir, local_path=rest)
    if remote.is_url(spec):
        if not remote.remote_files(spec):
            raise UserError(f"--data {spec}: no such folder, or it holds no files.")
        local = remote.download_tree(spec, remote.staging_dir(spec) / remote.basename(spec))
        return load_folder(local, resolution, channels, cache_dir)
    path = Path(spec).expanduser()
    if path.is_dir():
        return load_folder(path, resolution, channels, cache_dir)
    if path.exists():
        raise UserError(f"--data {spec} is a file; give a folder of images or one of {', '.join(NAMES)}.")
    raise UserError(f"--data {spec}: no such folder, and not a built-in data set ({', '.join(NAMES)}).")
