"""Export to SavedModel and TFLite: signatures, exactness against the Keras model, fresh-process reload."""
import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from deepdeconv.config import TrainConfig
from deepdeconv.cli.common import run_cli
from deepdeconv.cli.export import main as export_main
from deepdeconv.export import export_run, readme
from deepdeconv.export.load import load_network
from deepdeconv.export.seed_latents import seed_latents
from deepdeconv.export.signatures import ModelInfo, pad_to_multiple
from deepdeconv.models import build_generator
from deepdeconv.models.restorer import build_restorer
from deepdeconv.pixels import to_uint8
from deepdeconv.pixels import to_uint8_tensor as graph_to_uint8
from deepdeconv.sampling import generate_from_seeds, latents_from_seeds

REPO = Path(__file__).resolve().parents[1]


@keras.saving.register_keras_serializable(package="test_export")
class DepthToSpace(layers.Layer):
    """Sub-pixel upsampling, as the restorer's sr head does."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def call(self, x):
        return tf.nn.depth_to_space(x, self.scale)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def tiny_restorer(channels=1, depth=2, scale=1, mask=False, filters=6):
    """Fully convolutional: strided convs down, Conv2DTranspose up, a skip and a residual add."""
    image = keras.Input((None, None, channels + int(mask)))
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(image)
    skip = x
    for _ in range(depth):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
    for _ in range(depth):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Add()([x, skip])
    if scale > 1:
        x = layers.Conv2D(channels * scale * scale, 3, padding="same")(x)
        return keras.Model(image, layers.Activation("tanh")(DepthToSpace(scale)(x)))
    x = layers.Conv2D(channels, 3, padding="same")(x)
    if not mask:
        x = layers.Add()([x, image])
    return keras.Model(image, layers.Activation("tanh")(x))


def fake_run(root, name, config, files):
    """A run directory with config.json and the given {file name: keras.Model}."""
    run = Path(root) / name
    run.mkdir(parents=True)
    config.save(run / "config.json")
    for file_name, model in files.items():
        model.save(run / file_name)
    return run


def fresh(code, *args):
    """Runs Python `code` in a new process (no state shared with this one); returns its JSON output."""
    env = {"PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Loads exports in one fresh process (TensorFlow's start-up dominates, so all jobs share it), runs
# each on inputs saved as .npz, and reports each signature's input/output names, dtypes and shapes.
RELOAD = r"""
import json, sys, warnings
warnings.filterwarnings("ignore")
import numpy as np, tensorflow as tf
report = {}
for key, kind, path, sig, inputs, dest in json.loads(open(sys.argv[1]).read()):
    x = dict(np.load(inputs))
    if kind == "savedmodel":
        loaded = tf.saved_model.load(path)
        fn = loaded.signatures[sig]
        out = {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in x.items()}).items()}
        spec = {"inputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in fn.structured_input_signature[1].items()},
                "outputs": {k: [v.dtype.name, v.shape.as_list()] for k, v in fn.structured_outputs.items()}}
        names = sorted(loaded.signatures)
    else:
        interp = tf.lite.Interpreter(model_path=path)
        runner = interp.get_signature_runner(sig)
        spec = {side: {k: [np.dtype(d["dtype"]).name, [None if s < 0 else int(s) for s in d["shape_signature"]]]
                       for k, d in details.items()}
                for side, details in (("inputs", runner.get_input_details()), ("outputs", runner.get_output_details()))}
        out = runner(**x)
        names = sorted(interp.get_signature_list())
    np.savez(dest, **out)
    report[key] = {"spec": spec, "signatures": names, "outputs": dest}
print(json.dumps(report))
"""


def reload_all(folder, jobs):
    """Runs {key: (kind, path, signature, inputs)} in one fresh process; {key: (outputs, meta)}."""
    folder = Path(folder)
    rows = []
    for i, (key, (kind, path, sig, inputs)) in enumerate(jobs.items()):
        np.savez(folder / f"in{i}.npz", **inputs)
        rows.append([key, kind, str(path), sig, str(folder / f"in{i}.npz"), str(folder / f"out{i}.npz")])
    (folder / "jobs.json").write_text(json.dumps(rows))
    report = fresh(RELOAD, folder / "jobs.json")
    return {key: (dict(np.load(meta["outputs"])), meta) for key, meta in report.items()}


def documented(info, sig, tile=0):
    """The README's signature description, as the reload helper reports signatures."""
    spec = readme.io_spec(info, sig, tile)
    return {side: {n: [d, s] for n, d, s in spec[side]} for side in ("inputs", "outputs")}


def keras_restore(model, image, multiple, scale=1, mask=None):
    """The reference: numpy reflect padding, the Keras model, crop, `pixels.to_uint8`."""
    n, h, w, _ = image.shape
    x = image.astype(np.float32) / 127.5 - 1.0
    if mask is not None:
        holes = (mask > 0).astype(np.float32)
        x = np.concatenate([x * (1.0 - holes), holes], -1)
    x = np.pad(x, ((0, 0), (0, -h % multiple), (0, -w % multiple), (0, 0)), mode="reflect")
    return to_uint8(model.predict_on_batch(x)[:, :h * scale, :w * scale])


def odd_images(n, h, w, channels, seed=1):
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, channels), dtype=np.uint8)


# ---- pieces -------------------------------------------------------------------------------------

@pytest.mark.parametrize("z_dim", [1, 7, 128, 700])
def test_seed_latents_in_the_graph_equal_sample_py_latents(z_dim):
    # 700 needs more than one MT19937 block of 624 words; 2**32 - 1 is the largest seed.
    seeds = [0, 1, 2, 41, 12345, 2**31, 2**32 - 1] + list(range(100, 100 + (200 if z_dim == 128 else 5)))
    got = seed_latents(tf.constant(seeds, tf.int64), z_dim).numpy()
    np.testing.assert_array_equal(got, latents_from_seeds(seeds, z_dim))


def test_graph_to_uint8_matches_pixels_to_uint8_at_and_around_every_rounding_boundary():
    # x = 0 lands exactly on 127.5 (the only exact half in [-1, 1]); the others sit within an ulp.
    k = np.arange(-3, 259, dtype=np.float32)
    x = np.concatenate([(k + 0.5) / 127.5 - 1, k / 127.5 - 1, [0.0, -1.0, 1.0, -1.5, 1.5]]).astype(np.float32)
    x = np.concatenate([x, np.nextafter(x, np.float32(2)), np.nextafter(x, np.float32(-2))])
    assert (graph_to_uint8(tf.constant(x)).numpy()[x == 0] == 128).all()  # half to even, as np.rint
    np.testing.assert_array_equal(graph_to_uint8(tf.constant(x)).numpy(), to_uint8(x))


def test_tflite_rounds_to_uint8_like_pixels_to_uint8():
    # TFLite has its own ROUND kernel; it must also round the exact half at x = 0 to even (128).
    k = np.arange(-3, 259, dtype=np.float32)
    x = np.concatenate([(k + 0.5) / 127.5 - 1, k / 127.5 - 1, [0.0]]).astype(np.float32)
    x = np.concatenate([x, np.nextafter(x, np.float32(2)), np.nextafter(x, np.float32(-2))])
    fn = tf.function(graph_to_uint8, input_signature=[tf.TensorSpec([None], tf.float32)]).get_concrete_function()
    interpreter = tf.lite.Interpreter(model_content=tf.lite.TFLiteConverter.from_concrete_functions([fn]).convert())
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, x.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, x)
    interpreter.invoke()
    np.testing.assert_array_equal(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]), to_uint8(x))


@pytest.mark.parametrize("h,w,multiple", [(5, 8, 4), (3, 13, 16), (1, 2, 8), (16, 16, 4)])
def test_padding_reflects_like_numpy_even_beyond_the_image_side(h, w, multiple):
    image = np.arange(h * w, dtype=np.float32).reshape(1, h, w, 1)
    got = pad_to_multiple(tf.constant(image), multiple).numpy()
    want = image
    for axis, size in ((1, h), (2, w)):  # an axis of one pixel can only repeat it
        pad = [(0, 0)] * 4
        pad[axis] = (0, -size % multiple)
        want = np.pad(want, pad, mode="reflect" if size > 1 else "edge")
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("depth,scale,mask", [(0, 1, False), (1, 3, False), (3, 1, False), (2, 1, True)])
def test_bare_restorer_file_reveals_its_multiple_scale_and_mask(depth, scale, mask, tmp_path):
    path = tmp_path / "restorer.keras"
    tiny_restorer(channels=3, depth=depth, scale=scale, mask=mask).save(path)
    _, info, config = load_network(path)
    assert config is None
    assert (info.kind, info.channels, info.multiple, info.scale, info.mask) == ("restorer", 3, 2**depth, scale, mask)


# ---- exports, reloaded in a fresh process ------------------------------------------------------

GEN = ModelInfo("generator", 1, z_dim=16, resolution=32)
COND = ModelInfo("generator", 1, z_dim=8, num_classes=3, resolution=32)
DENOISE = ModelInfo("restorer", 1, multiple=4)
SR = ModelInfo("restorer", 3, multiple=2, scale=2)
INPAINT = ModelInfo("restorer", 3, multiple=2, mask=True)
SEEDS = np.array([0, 5, 3, 2**32 - 1], np.int64)
LABELS = np.array([0, 2, 1, 2], np.int32)
IMAGE_1 = odd_images(2, 19, 30, 1)
IMAGE_3 = odd_images(1, 9, 14, 3)
TILE = odd_images(1, 16, 16, 1)
MASK = np.zeros((1, 9, 14, 1), np.uint8)
MASK[:, 2:5, 3:9] = 1


# Exporting five networks and reloading them takes tens of seconds on 2 cores: TFLite conversion
# and TensorFlow start-up in the fresh process dominate.
pytestmark_slow = pytest.mark.slow


def _library_super_resolver():
    """The library's own x2 restorer (bicubic base resized at run time), with a non-zero correction."""
    network = build_restorer("sr", 3, width=0.25, depth=1, scale=2)
    correction = network.get_layer("correction_lr")
    correction.set_weights([w + 0.01 for w in correction.get_weights()])
    return network


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Five tiny networks in fake run directories, exported, then all reloaded in one new process.

    Returns {"runs": {name: run dir}, "models": {name: keras.Model}, "records": {name: [Exported]},
    "reloaded": {job: (outputs, meta)}}.
    """
    root = tmp_path_factory.mktemp("export")
    keras.utils.set_random_seed(0)
    models = {"gen": build_generator(32, 1, z_dim=16, width=0.125),
              "cond": build_generator(32, 1, z_dim=8, width=0.125, num_classes=3),
              "denoise": tiny_restorer(channels=1, depth=2),
              "sr": _library_super_resolver(),
              "inpaint": tiny_restorer(channels=3, depth=1, mask=True)}
    configs = {"gen": TrainConfig(z_dim=16, width=0.125, channels=1),
               "cond": TrainConfig(z_dim=8, width=0.125, channels=1, conditional=True, class_names=("a", "b", "c")),
               "denoise": TrainConfig(task="denoise", channels=1, restore={"depth": 2}),
               "sr": TrainConfig(task="sr", channels=3, restore={"scale": 2, "depth": 1, "patch": 64}),
               "inpaint": TrainConfig(task="inpaint", channels=3, restore={"depth": 1})}
    files = {"gen": "generator_ema.keras", "cond": "generator_ema.keras", "denoise": "restorer_ema.keras",
             "sr": "restorer_ema.keras", "inpaint": "restorer.keras"}  # inpaint: the raw-weights fallback
    how = {"gen": dict(fmt="all"), "cond": dict(fmt="savedmodel"), "denoise": dict(fmt="all", tile=16),
           "sr": dict(fmt="savedmodel"), "inpaint": dict(fmt="all")}
    runs, records = {}, {}
    for name, model in models.items():
        runs[name] = fake_run(root, name, configs[name].validate(), {files[name]: model})
        records[name] = export_run(runs[name], log=lambda *_: None, **how[name])
    z = latents_from_seeds(range(6), 16)
    sm = lambda name: runs[name] / "export/savedmodel"  # noqa: E731
    tfl = lambda name, file: runs[name] / "export" / file  # noqa: E731
    lite = "generate_from_latents"
    jobs = {"gen": ("savedmodel", sm("gen"), "generate", {"seeds": SEEDS}),
            "gen_z": ("savedmodel", sm("gen"), "generate_from_latents", {"z": z}),
            "gen_float32": ("tflite", tfl("gen", f"{lite}_float32.tflite"), lite, {"z": z}),
            "gen_dynamic": ("tflite", tfl("gen", f"{lite}_dynamic.tflite"), lite, {"z": z}),
            "cond": ("savedmodel", sm("cond"), "generate", {"seeds": SEEDS, "labels": LABELS}),
            "denoise": ("savedmodel", sm("denoise"), "restore", {"image": IMAGE_1}),
            "denoise_float32": ("tflite", tfl("denoise", "restore_float32.tflite"), "restore", {"image": IMAGE_1}),
            "denoise_dynamic": ("tflite", tfl("denoise", "restore_dynamic.tflite"), "restore", {"image": IMAGE_1}),
            "denoise_tile": ("tflite", tfl("denoise", "restore_tile16_float32.tflite"), "restore", {"image": TILE}),
            "sr": ("savedmodel", sm("sr"), "restore", {"image": IMAGE_3}),
            "inpaint": ("savedmodel", sm("inpaint"), "restore", {"image": IMAGE_3, "mask": MASK}),
            "inpaint_float32": ("tflite", tfl("inpaint", "restore_float32.tflite"), "restore",
                                {"image": IMAGE_3, "mask": MASK})}
    reloaded = reload_all(root, jobs)
    return {"runs": runs, "models": models, "records": records, "reloaded": reloaded, "z": z}


@pytestmark_slow
def test_generator_savedmodel_gives_sample_py_images_for_the_same_seeds(exported):
    out, meta = exported["reloaded"]["gen"]
    assert meta["signatures"] == ["generate", "generate_from_latents"]
    assert meta["spec"] == documented(GEN, "generate")
    want = np.concatenate([b for _, b in generate_from_seeds(exported["models"]["gen"], list(SEEDS))])
    np.testing.assert_array_equal(out["images"], want)
    out, meta = exported["reloaded"]["gen_z"]
    assert meta["spec"] == documented(GEN, "generate_from_latents")
    np.testing.assert_array_equal(out["images"], to_uint8(exported["models"]["gen"].predict_on_batch(exported["z"])))


@pytestmark_slow
def test_generator_tflite_float_within_one_level_and_quantised_keeps_the_signature(exported):
    want = to_uint8(exported["models"]["gen"].predict_on_batch(exported["z"]))
    for variant, tolerance in (("float32", 1), ("dynamic", 255)):  # int8 weights: no tight bound on a random net
        out, meta = exported["reloaded"][f"gen_{variant}"]
        assert meta["signatures"] == ["generate_from_latents"]
        assert meta["spec"] == documented(GEN, "generate_from_latents")
        assert out["images"].shape == want.shape
        assert np.abs(out["images"].astype(int) - want).max() <= tolerance


@pytestmark_slow
def test_readme_lists_every_file_with_its_measured_size_and_difference(exported):
    records = exported["records"]["gen"]
    text = (exported["runs"]["gen"] / "export/README.md").read_text()
    assert [(r.signature, r.variant) for r in records] == [
        ("generate", "savedmodel"), ("generate_from_latents", "savedmodel"),
        ("generate_from_latents", "float32"), ("generate_from_latents", "dynamic")]
    for r in records:
        assert r.size > 0
        assert f"| `{r.path.name}` | `{r.signature}` |" in text and f"{r.max_diff} / {r.mean_diff:.4f} |" in text
    assert records[0].max_diff == 0 and records[2].max_diff <= 1
    assert "tf.saved_model.load(\"savedmodel\")" in text and "get_signature_runner(\"generate_from_latents\")" in text


@pytestmark_slow
def test_conditional_generator_takes_labels(exported):
    out, meta = exported["reloaded"]["cond"]
    assert meta["spec"] == documented(COND, "generate")
    want = np.concatenate([b for _, b in generate_from_seeds(exported["models"]["cond"], list(SEEDS), labels=LABELS)])
    np.testing.assert_array_equal(out["images"], want)
    assert "0: a, 1: b, 2: c" in (exported["runs"]["cond"] / "export/README.md").read_text()


@pytestmark_slow
def test_restorer_savedmodel_restores_any_size_like_keras(exported):
    out, meta = exported["reloaded"]["denoise"]
    assert meta["signatures"] == ["restore"]
    assert meta["spec"] == documented(DENOISE, "restore")
    np.testing.assert_array_equal(out["restored"], keras_restore(exported["models"]["denoise"], IMAGE_1, 4))


@pytestmark_slow
def test_restorer_tflite_keeps_dynamic_shapes_and_tiles_are_fixed(exported):
    model = exported["models"]["denoise"]
    for variant, tolerance in (("float32", 1), ("dynamic", 255)):
        out, meta = exported["reloaded"][f"denoise_{variant}"]
        assert meta["spec"] == documented(DENOISE, "restore")
        assert out["restored"].shape == IMAGE_1.shape
        assert np.abs(out["restored"].astype(int) - keras_restore(model, IMAGE_1, 4)).max() <= tolerance
    out, meta = exported["reloaded"]["denoise_tile"]
    assert meta["spec"] == documented(DENOISE, "restore", tile=16)
    assert np.abs(out["restored"].astype(int) - keras_restore(model, TILE, 4)).max() <= 1
    assert [r.path.name for r in exported["records"]["denoise"]] == [
        "savedmodel", "restore_float32.tflite", "restore_dynamic.tflite", "restore_tile16_float32.tflite",
        "restore_tile16_dynamic.tflite"]


@pytestmark_slow
def test_sr_restorer_scales_its_output(exported):
    out, meta = exported["reloaded"]["sr"]
    assert out["restored"].shape == (1, 18, 28, 3)
    np.testing.assert_array_equal(out["restored"], keras_restore(exported["models"]["sr"], IMAGE_3, 2, scale=2))


@pytestmark_slow
def test_inpaint_restorer_takes_a_mask(exported):
    out, meta = exported["reloaded"]["inpaint"]
    assert meta["spec"] == documented(INPAINT, "restore")
    want = keras_restore(exported["models"]["inpaint"], IMAGE_3, 2, mask=MASK)
    np.testing.assert_array_equal(out["restored"], want)
    out, meta = exported["reloaded"]["inpaint_float32"]
    assert meta["spec"] == documented(INPAINT, "restore")
    assert np.abs(out["restored"].astype(int) - want).max() <= 1


# ---- errors -------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,fragment", [
    (["{tmp}/missing"], "does not exist"),
    (["{tmp}"], "not a deepdeconv run directory"),
    (["{run}", "--format", "onnx"], "--format must be one of"),
    (["{run}", "--tile", "16"], "--tile applies to restorers"),
    (["{run}", "--checkpoint", "best"], "has no best-metric checkpoint"),
])
def test_bad_run_or_option_is_one_sentence_and_exit_2(argv, fragment, tmp_path, capsys):
    run = fake_run(tmp_path, "00000-gen", TrainConfig(z_dim=4, width=0.125, channels=1).validate(),
                   {"generator_ema.keras": build_generator(32, 1, z_dim=4, width=0.125)})
    argv = [a.format(tmp=tmp_path, run=run) for a in argv]
    assert run_cli(export_main, argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and fragment in err and len(err.splitlines()) == 1


@pytestmark_slow
def test_a_restorer_run_exports_from_its_latest_checkpoint(tmp_path):
    from deepdeconv.checkpoint import save_checkpoint
    from deepdeconv.restorer import build_restorer_model

    config = TrainConfig(task="denoise", channels=1, width=0.25, restore={"depth": 1, "patch": 16},
                         mixed_precision=False).validate()
    model = build_restorer_model(config)
    run = fake_run(tmp_path, "denoise", config, {})
    save_checkpoint(model, run / "checkpoints" / "ckpt-000000001.npz", config)
    records = export_run(run, fmt="savedmodel", checkpoint="latest", log=lambda *_: None)
    assert [r.signature for r in records] == ["restore"] and records[0].max_diff == 0
