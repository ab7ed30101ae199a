"""The user's own images in a notebook: uploaded through Colab's file picker, or on Google Drive;
results downloaded through the browser."""
import importlib
import importlib.util
import io
import zipfile
from pathlib import Path, PurePosixPath

from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path

DRIVE_MOUNT = "/content/drive"


def on_colab():
    """True inside a Google Colab runtime."""
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ModuleNotFoundError:  # no "google" package at all
        return False


def _colab_module(name, what):
    try:
        return importlib.import_module(f"google.colab.{name}")
    except ImportError:
        raise UserError(f"{what} works on Google Colab only; here, set DATA to a folder of images "
                        "instead.") from None


def _write(path, data):
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _extract_zip(data, folder):
    """Unpacks a zip archive's files under `folder`, keeping subfolders (classes); returns the count.

    Entries that would land outside `folder` (absolute paths, "..") and macOS metadata are skipped.
    """
    count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            parts = PurePosixPath(info.filename).parts
            if (info.is_dir() or not parts or info.filename.startswith("/") or ".." in parts
                    or parts[0] == "__MACOSX" or parts[-1].startswith(".")):
                continue
            _write(Path(folder).joinpath(*parts), archive.read(info))
            count += 1
    return count


def upload_images(folder="my_images", upload=None):
    """Asks for image files or a .zip of them and stores them in `folder`.

    Args:
        folder: where the images go (created if needed).
        upload: callable returning {file name: bytes}; default Colab's `files.upload`, which
            shows a file picker in the notebook.

    Returns:
        `folder` as a Path.

    Raises:
        UserError: not on Colab (without `upload`), or nothing was uploaded.
    """
    if upload is None:
        upload = _colab_module("files", "Uploading files").upload
    folder = Path(folder)
    count = 0
    for name, data in upload().items():
        if name.lower().endswith(".zip"):
            count += _extract_zip(data, folder)
        else:
            _write(folder / Path(name).name, data)
            count += 1
    if not count:
        raise UserError("No files were uploaded; choose image files or a .zip archive of them.")
    print(f"{count} file(s) stored in {folder}")
    return folder


def mount_drive(mount_point=DRIVE_MOUNT):
    """Mounts Google Drive (Colab asks for permission) and returns the mount point."""
    _colab_module("drive", "Google Drive mounting").mount(mount_point)
    return Path(mount_point)


def data_source(data="digits", upload=False, drive_folder="", upload_folder="my_images", uploader=None):
    """The `data` option for training: a built-in name, an uploaded folder or a Drive folder.

    Args:
        data: used as it is unless `upload` or `drive_folder` says otherwise.
        upload: ask for files (see `upload_images`) and train on them.
        drive_folder: a folder inside Google Drive, e.g. "MyDrive/datasets/faces".
        upload_folder: where uploaded files go.
        uploader: passed to `upload_images` as `upload`.

    Raises:
        UserError: the Drive folder does not exist.
    """
    if upload:
        return str(upload_images(upload_folder, uploader))
    if drive_folder:
        path = mount_drive() / drive_folder
        if not path.is_dir():
            raise UserError(f"DRIVE_FOLDER {drive_folder!r} is not a folder in Google Drive ({path}).")
        return str(path)
    return data


def download_files(paths, download=None):
    """Sends files to the browser's downloads (Colab), one by one.

    Args:
        paths: files to download.
        download: callable(path as str); default Colab's `files.download`.

    Returns:
        The list of paths sent.

    Raises:
        UserError: not on Colab (without `download`), or a file does not exist.
    """
    paths = [Path(p) for p in paths]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"Cannot download {missing[0]}: no such file.")
    if download is None:
        download = _colab_module("files", "Downloading files").download
    for path in paths:
        download(str(path))
    return paths
