"""`--data photos`: natural photographs shipped inside scikit-image and scikit-learn.

Public API:
    PHOTOS: tuple of `Photo` (name, package, file, split, origin, licence), the table below.
    photo_paths(split="all") -> list[Path]: the files of "train", "val" or "all" photos.

They are read straight from the installed packages' files (no pooch, no network), so a
restoration run works on a fresh machine. Only natural photographs are used: scikit-image's
synthetic or binary images (horse, chessboard, logo, text, page, phantom, colour wheel) would
teach a restorer flat regions and hard edges that real photos do not have. Left out as well:
`moon` (no source or licence stated), `retina` (a uniform black disc around the picture, and
at 1411x1411 it would supply a third of all area-weighted patches), `clock_motion` (already
motion-blurred), `cell` and `microaneurysms` (not photographs of scenes).

| name              | pkg | size (WxH), mode | split | origin                                 | licence           |
|-------------------|-----|------------------|-------|----------------------------------------|-------------------|
| astronaut         | ski | 512x512 RGB      | val   | NASA Great Images (Eileen Collins)     | public domain     |
| camera            | ski | 512x512 L        | val   | Lav Varshney                           | CC0               |
| coffee            | ski | 600x400 RGB      | val   | Rachel Michetti (Pikolo Espresso Bar)  | CC0               |
| chelsea           | ski | 451x300 RGB      | val   | Stefan van der Walt (the cat)          | CC0               |
| brick             | ski | 512x512 L        | train | cc0textures.com Bricks25               | CC0               |
| coins             | ski | 384x303 L        | train | Brooklyn Museum Collection             | no known restr.   |
| grass             | ski | 512x512 L        | train | DeviantArt linolafett Grass-01         | CC0               |
| gravel            | ski | 512x512 L        | train | cc0textures.com Gravel04               | CC0               |
| hubble_deep_field | ski | 1000x872 RGB     | train | NASA / HubbleSite                      | public domain     |
| ihc               | ski | 512x512 RGB      | train | CMMI immunohistochemistry micrograph   | no known restr.   |
| motorcycle_left   | ski | 741x500 RGB      | train | Middlebury 2014 stereo (Scharstein+)   | BSD-3 (skimage)   |
| motorcycle_right  | ski | 741x500 RGB      | train | Middlebury 2014 stereo (Scharstein+)   | BSD-3 (skimage)   |
| rocket            | ski | 640x427 RGB      | train | SpaceX, DSCOVR launch on Falcon 9      | public domain     |
| china             | skl | 640x427 RGB      | train | Flickr, danielbuechele                 | CC BY 2.0         |
| flower            | skl | 640x427 RGB      | train | Flickr, vultilion                      | CC BY 2.0         |

("ski": `skimage/data/`, licences as stated in scikit-image's `skimage.data` docstrings, the
rest under scikit-image's BSD-3-Clause licence; "skl": `sklearn/datasets/images/`, whose
README.txt gives the CC BY 2.0 attribution reproduced above.)

The split is fixed: the four "val" photos (two of them the classic 512x512 test images, one
grey, so grey and colour are both measured) are used for validation during training and by
the benchmarks, and are never trained on. The two motorcycle photos are a stereo pair, near
duplicates, so they sit on the same side of the split.
"""
import dataclasses
import importlib.util
from pathlib import Path

from deepdeconv.errors import UserError

SPLITS = ("train", "val", "all")


@dataclasses.dataclass(frozen=True)
class Photo:
    """One built-in photograph: where it ships and on what terms."""

    name: str
    package: str  # the installed package whose data folder holds it
    file: str  # path relative to that package's folder
    split: str  # "train" or "val"
    origin: str
    licence: str


_SKI, _SKL = "skimage", "sklearn"
PHOTOS = (
    Photo("astronaut", _SKI, "data/astronaut.png", "val", "NASA Great Images", "public domain"),
    Photo("camera", _SKI, "data/camera.png", "val", "Lav Varshney", "CC0"),
    Photo("coffee", _SKI, "data/coffee.png", "val", "Rachel Michetti", "CC0"),
    Photo("chelsea", _SKI, "data/chelsea.png", "val", "Stefan van der Walt", "CC0"),
    Photo("brick", _SKI, "data/brick.png", "train", "cc0textures.com Bricks25", "CC0"),
    Photo("coins", _SKI, "data/coins.png", "train", "Brooklyn Museum Collection", "no known restrictions"),
    Photo("grass", _SKI, "data/grass.png", "train", "DeviantArt linolafett Grass-01", "CC0"),
    Photo("gravel", _SKI, "data/gravel.png", "train", "cc0textures.com Gravel04", "CC0"),
    Photo("hubble_deep_field", _SKI, "data/hubble_deep_field.jpg", "train", "NASA HubbleSite", "public domain"),
    Photo("ihc", _SKI, "data/ihc.png", "train", "CMMI", "no known restrictions"),
    Photo("motorcycle_left", _SKI, "data/motorcycle_left.png", "train", "Middlebury 2014 stereo", "BSD-3-Clause"),
    Photo("motorcycle_right", _SKI, "data/motorcycle_right.png", "train", "Middlebury 2014 stereo",
          "BSD-3-Clause"),
    Photo("rocket", _SKI, "data/rocket.jpg", "train", "SpaceX", "public domain"),
    Photo("china", _SKL, "datasets/images/china.jpg", "train", "Flickr danielbuechele", "CC BY 2.0"),
    Photo("flower", _SKL, "datasets/images/flower.jpg", "train", "Flickr vultilion", "CC BY 2.0"),
)


def _package_dir(package):
    """The installed package's folder, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"--data photos needs the {package} package, which is not installed "
                        f"(pip install {'scikit-image' if package == _SKI else 'scikit-learn'}).")
    return Path(list(spec.submodule_search_locations)[0])


def photo_paths(split: str = "all") -> list:
    """The files of the built-in photos of one split, in the fixed order of `PHOTOS`.

    Args:
        split: "train" (for training), "val" (held out: validation and benchmarks) or "all".

    Returns:
        A list of `Path`s to PNG/JPEG files inside the installed packages.

    Raises:
        UserError: a package is missing, or a file is absent from it (an unusual build).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    paths = []
    for photo in PHOTOS:
        if split != "all" and photo.split != split:
            continue
        path = _package_dir(photo.package) / photo.file
        if not path.is_file():
            raise UserError(f"--data photos: {path} is missing from the installed {photo.package}; "
                            "reinstall it, or pass a folder of photos as --data.")
        paths.append(path)
    return paths
