"""Fixed inputs and the Keras model's own uint8 outputs on them, to measure each export against."""
import numpy as np

from deepdeconv.export.signatures import IMAGES, RESTORED
from deepdeconv.pixels import from_uint8, to_uint8
from deepdeconv.sampling import generate_from_seeds, latents_from_seeds

GENERATOR_SEEDS = tuple(range(16))
RESTORER_SIZE = (2, 45, 61)  # images, height, width: sides that are no power-of-two multiple


def generator_inputs(info, seeds=GENERATOR_SEEDS):
    """{signature: inputs} for a generator; labels are seed mod classes, as in `sample.py`."""
    seeds = np.asarray(seeds, np.int64)
    extra = {"labels": (seeds % info.num_classes).astype(np.int32)} if info.num_classes else {}
    return {"generate": {"seeds": seeds, **extra},
            "generate_from_latents": {"z": latents_from_seeds(seeds, info.z_dim), **extra}}


def restorer_inputs(info, size=RESTORER_SIZE):
    """{"restore": inputs}: smooth shapes, edges and noise from a fixed seed, and for inpainting a
    box mask."""
    n, h, w = size
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:h, 0:w]
    images = []
    for i in range(n):
        base = 128 + 70 * np.sin(xx / (5.0 + i)) * np.cos(yy / 7.0) + 40 * ((xx + 2 * yy) % 23 < 11)
        chans = [base + 25 * c for c in range(info.channels)]
        images.append(np.stack(chans, -1) + rng.normal(0, 12, (h, w, info.channels)))
    inputs = {"image": np.clip(np.rint(images), 0, 255).astype(np.uint8)}
    if info.mask:
        mask = np.zeros((n, h, w, 1), np.uint8)
        mask[:, h // 4:h // 2, w // 3:w // 2] = 255
        inputs["mask"] = mask
    return {"restore": inputs}


def keras_outputs(model, info, inputs):
    """What the Keras model gives on `inputs`, as uint8, computed outside any export code."""
    if info.kind == "generator":
        seeds = inputs.get("seeds")
        labels = inputs.get("labels")
        if seeds is not None:
            return {IMAGES: np.concatenate([b for _, b in generate_from_seeds(model, list(seeds), labels=labels)])}
        x = [inputs["z"], labels] if labels is not None else inputs["z"]
        return {IMAGES: to_uint8(model.predict_on_batch(x))}
    image = inputs["image"]
    n, h, w, _ = image.shape
    x = np.asarray(from_uint8(image))
    if info.mask:
        x = np.concatenate([x, (inputs["mask"] > 0).astype(np.float32)], -1)
    m = info.multiple
    pad = ((0, 0), (0, -h % m), (0, -w % m), (0, 0))
    y = np.asarray(model.predict_on_batch(np.pad(x, pad, mode="reflect")))
    return {RESTORED: to_uint8(y[:, :h * info.scale, :w * info.scale])}


def differences(got, want):
    """(largest, mean) absolute difference in uint8 levels between two output dicts."""
    worst, total, count = 0, 0.0, 0
    for key, ref in want.items():
        out = np.asarray(got[key])
        if out.shape != ref.shape:
            raise ValueError(f"{key}: the export gave shape {out.shape} where the Keras model gives {ref.shape}")
        d = np.abs(out.astype(np.int32) - ref.astype(np.int32))
        worst, total, count = max(worst, int(d.max())), total + float(d.sum()), count + d.size
    return worst, total / max(count, 1)
