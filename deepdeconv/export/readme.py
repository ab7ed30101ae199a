"""The README.md written next to an export: files, signatures, loading examples, measured figures."""
from pathlib import Path

from deepdeconv.export.signatures import GENERATE, GENERATE_FROM_LATENTS, IMAGES, RESTORE, RESTORED
from deepdeconv.fileio import atomic_path


def io_spec(info, signature, tile=0):
    """{"inputs"|"outputs": [(name, dtype, shape)]} of a signature; None in a shape = any size."""
    if info.kind == "generator":
        first = ("seeds", "int64", [None]) if signature == GENERATE else ("z", "float32", [None, info.z_dim])
        inputs = [first] + ([("labels", "int32", [None])] if info.num_classes else [])
        r = info.resolution
        return {"inputs": inputs, "outputs": [(IMAGES, "uint8", [None, r, r, info.channels])]}
    n, side = (1, tile) if tile else (None, None)
    inputs = [("image", "uint8", [n, side, side, info.channels])]
    if info.mask:
        inputs.append(("mask", "uint8", [n, side, side, 1]))
    out_side = side * info.scale if tile else None
    return {"inputs": inputs, "outputs": [(RESTORED, "uint8", [n, out_side, out_side, info.channels])]}


def _shape(shape):
    return "[" + ", ".join("any" if s is None else str(s) for s in shape) + "]"


def _describe(info):
    if info.kind == "generator":
        cond = f", conditional on {info.num_classes} classes" if info.num_classes else ""
        return (f"a generator: latent size {info.z_dim}{cond}, images {info.resolution}x{info.resolution}x"
                f"{info.channels}")
    extra = f", x{info.scale} output" if info.scale > 1 else ""
    return f"a {info.task} restorer: {info.channels}-channel images of any size{extra}"


def _example_inputs(info, signature):
    if info.kind == "generator":
        labels = ", labels=tf.constant([0, 1, 2], tf.int32)" if info.num_classes else ""
        if signature == GENERATE:
            return f"seeds=tf.constant([0, 1, 2], tf.int64){labels}"
        return f"z=tf.random.normal([3, {info.z_dim}]){labels}"
    mask = ", mask=tf.zeros([1, 100, 150, 1], tf.uint8)" if info.mask else ""
    return f"image=tf.zeros([1, 100, 150, {info.channels}], tf.uint8){mask}"


def _tflite_inputs(info, tile):
    if info.kind == "generator":
        labels = ", labels=np.array([0, 1, 2], np.int32)" if info.num_classes else ""
        z = f"np.stack([np.random.RandomState(s).randn({info.z_dim}) for s in (0, 1, 2)]).astype(np.float32)"
        return f"z={z}{labels}", IMAGES  # seeds 0-2, as generate and sample.py draw them
    side, h, w = (tile, tile, tile) if tile else (None, 100, 150)
    mask = f", mask=np.zeros([1, {h}, {w}, 1], np.uint8)" if info.mask else ""
    return f"image=np.zeros([1, {h}, {w}, {info.channels}], np.uint8){mask}", RESTORED


def render(info, records, source, checkpoint=None, ema=True, config=None):
    """The README text (see `write`)."""
    weights = f"checkpoint {checkpoint}" if checkpoint else "the exported network"
    lines = ["# Exported deepdeconv model", "",
             f"{_describe(info)}. Exported from `{source}` ({weights}, "
             f"{'moving-average' if ema else 'raw'} weights).", ""]
    if info.num_classes and config is not None and config.class_names:
        lines += ["Classes (label: name): " + ", ".join(f"{i}: {n}" for i, n in enumerate(config.class_names)), ""]
    lines += ["Every input and output image is uint8, 0..255, shape [N, H, W, C] (batch, height, width, "
              "channels). Nothing else about deepdeconv's conventions needs to be known to call these files.", "",
              "## Files", "",
              "| file | signature | variant | size | largest / mean difference from the Keras model (uint8 levels) |",
              "|---|---|---|---|---|"]
    for r in records:
        variant = {"savedmodel": "SavedModel", "float32": "TFLite float32",
                   "dynamic": "TFLite dynamic-range int8 weights"}[r.variant]
        if r.tile:
            variant += f", fixed {r.tile}x{r.tile} tile"
        lines.append(f"| `{Path(r.path).name}` | `{r.signature}` | {variant} | {r.size / 1e6:.3f} MB | "
                     f"{r.max_diff} / {r.mean_diff:.4f} |")
    fixed = ("seeds 0-15 (labels seed mod classes)" if info.kind == "generator"
             else "two fixed 45x61 test images" + (" and a box mask" if info.mask else ""))
    lines += ["", f"Differences were measured at export time on {fixed}, against the Keras model run "
              "in Python with deepdeconv's own conversion (`pixels.to_uint8`). The SavedModel is expected to "
              "match exactly; TFLite float32 uses other kernels and may differ by 1 level where a value lies "
              "near a rounding boundary; dynamic-range quantisation stores weights in 8 bits (activations stay "
              "float), so it is smaller and differs more.", "", "## Signatures", ""]
    seen = []
    for r in records:
        where = "SavedModel" if r.variant == "savedmodel" else f"TFLite{f' (tile {r.tile})' if r.tile else ''}"
        if (where, r.signature) in seen:  # float32 and dynamic files share their signature
            continue
        seen.append((where, r.signature))
        spec = io_spec(info, r.signature, r.tile)
        ins = ", ".join(f"`{n}` {d}{_shape(s)}" for n, d, s in spec["inputs"])
        outs = ", ".join(f"`{n}` {d}{_shape(s)}" for n, d, s in spec["outputs"])
        lines.append(f"- {where} `{r.signature}`: inputs {ins}; outputs {outs}.")
    lines += ["", *_notes(info), "", "## Loading", ""]
    lines += _examples(info, records)
    return "\n".join(lines) + "\n"


def _notes(info):
    if info.kind == "generator":
        return [f"`{GENERATE}` draws the latent of seed s exactly as `sample.py grid --seeds s` does "
                f"(`numpy.random.RandomState(s).randn({info.z_dim})`, re-implemented in the graph), so the same "
                f"seed gives the same image; seeds must lie in [0, 2**32). Truncation (`--trunc`) is not built in: "
                f"pass truncated latents to `{GENERATE_FROM_LATENTS}`. "
                + ("Labels are class indices in [0, classes). " if info.num_classes else "")
                + f"TFLite files hold `{GENERATE_FROM_LATENTS}` only: TFLite has no kernels for the "
                "generator's seeding loop, so on a device draw latents yourself (any N(0, 1) vector; "
                "`RandomState(s).randn` where numpy is available, to reproduce a seed)."]
    notes = [f"`{RESTORE}` takes images of any height and width: inside the graph they are reflect-padded at "
             f"the bottom and right to a multiple of {info.multiple} (the network's downsampling), restored, and "
             "cropped back" + (f", so the output is {info.scale}x the input's size" if info.scale > 1 else "") + "."]
    if info.mask:
        notes.append("`mask` marks the pixels to fill: any non-zero value means missing.")
    notes += ["", "The TFLite files without `tile` in their name keep dynamic shapes: pass arrays of any size to "
              "a signature runner (it resizes the inputs), or call `interpreter.resize_tensor_input` and "
              "`allocate_tensors` before each new size. Memory grows with the image, and some delegates (GPU, "
              "NNAPI) need fixed shapes; then tile on the device, with a fixed-size file (`export.py --tile T`, "
              f"T a multiple of {info.multiple}): cut the image into T x T tiles that overlap by a margin M of at "
              "least the network's receptive field, reflect-pad the image so the last tiles fit, restore each "
              "tile, and paste only each tile's centre (drop M pixels on the sides that overlap a neighbour, "
              f"{info.scale}M in the output" + (" of a super-resolution model" if info.scale > 1 else "") +
              "), so no seam shows. Check M once: a tiled result should equal a whole-image run away from the "
              "image border."]
    return notes


def _examples(info, records):
    sig = GENERATE if info.kind == "generator" else RESTORE
    out_name = IMAGES if info.kind == "generator" else RESTORED
    lines = []
    if any(r.variant == "savedmodel" for r in records):
        lines += ["SavedModel (TF Serving and Vertex AI call the same signatures):", "", "```python",
                  "import tensorflow as tf",
                  "model = tf.saved_model.load(\"savedmodel\")",
                  f"fn = model.signatures[\"{sig}\"]",
                  f"out = fn({_example_inputs(info, sig)})[\"{out_name}\"]",
                  "print(out.dtype, out.shape)  # uint8",
                  "```", ""]
    tfl = next((r for r in records if r.variant == "float32"), None)
    if tfl is not None:
        args, name = _tflite_inputs(info, tfl.tile)
        lines += ["TFLite (`tf.lite.Interpreter`, or `ai_edge_litert.interpreter.Interpreter` with the same calls):",
                  "", "```python", "import numpy as np, tensorflow as tf",
                  f"interpreter = tf.lite.Interpreter(model_path=\"{Path(tfl.path).name}\")",
                  f"run = interpreter.get_signature_runner(\"{tfl.signature}\")",
                  f"out = run({args})[\"{name}\"]",
                  "print(out.dtype, out.shape)  # uint8",
                  "```"]
    return lines


def write(path, info, records, source, checkpoint=None, ema=True, config=None):
    """Writes the README describing an export, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(render(info, records, source, checkpoint, ema, config))
