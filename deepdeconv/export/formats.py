"""Writing the two export formats and running them back, for the measured differences.

SavedModel: `tf.saved_model.save` of a tf.Module holding the network's weights and its serving
functions, each also a named signature (what TF Serving, Vertex AI and the C/Java/Go APIs
call). TFLite: each signature converted from that SavedModel, once in float32 and once with
dynamic-range quantisation (int8 weights, float activations).
"""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import tensorflow as tf

from deepdeconv.errors import UserError
from deepdeconv.fileio import atomic_path

FLOAT32 = "float32"
DYNAMIC = "dynamic"  # dynamic-range quantisation: int8 weights, float activations
TFLITE_VARIANTS = (FLOAT32, DYNAMIC)


@contextlib.contextmanager
def _atomic_dir(path):
    """Yields a temporary folder beside `path` and puts it in place of `path` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; an exported model is meant to be shared
    try:
        yield tmp
        old = None
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def save_savedmodel(model, functions, path):
    """Writes a SavedModel whose signatures are `functions` ({name: tf.function}).

    Args:
        model: the Keras network the functions call (tracked so its weights are saved).
        functions: serving functions with input signatures, from `signatures.functions_for`.
        path: the SavedModel folder to write (replaced atomically if it exists).
    """
    module = tf.Module()
    # The raw tf.Variables, not the Keras model: with a Keras 3 model tracked, the TFLite
    # converter leaves its weights as uninitialised resource variables instead of freezing
    # them into constants, and the converted model computes garbage.
    module.model_variables = [v.value for v in model.variables]
    for name, fn in functions.items():
        setattr(module, name, fn)
    signatures = {name: fn.get_concrete_function() for name, fn in functions.items()}
    with _atomic_dir(path) as tmp:
        tf.saved_model.save(module, str(tmp), signatures=signatures)


def convert_tflite(savedmodel, signature, variant):
    """One signature of a SavedModel as a TFLite flatbuffer (bytes).

    Args:
        savedmodel: folder written by `save_savedmodel`.
        signature: the signature to convert.
        variant: FLOAT32 or DYNAMIC.
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel), signature_keys=[signature])
    if variant == DYNAMIC:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    try:
        return converter.convert()
    except Exception as e:  # the converter raises ConverterError and others, all with a reason
        raise UserError(f"TFLite could not convert the {signature} signature ({type(e).__name__}: "
                        f"{str(e).strip().splitlines()[0] if str(e).strip() else e}).") from None


def write_bytes(path, data):
    """Writes `data` to `path` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def load_savedmodel(path):
    """The SavedModel at `path`, loaded (signatures in `.signatures`)."""
    return tf.saved_model.load(str(path))


def run_savedmodel(saved, signature, **inputs):
    """Calls a signature of a SavedModel (a folder, or what `tf.saved_model.load` returned) on numpy
    inputs; returns {output name: array}."""
    loaded = load_savedmodel(saved) if isinstance(saved, (str, os.PathLike)) else saved
    fn = loaded.signatures[signature]
    return {k: v.numpy() for k, v in fn(**{k: tf.constant(v) for k, v in inputs.items()}).items()}


def run_tflite(path, signature, **inputs):
    """Calls a signature of a TFLite file on numpy inputs (resizing its inputs to theirs)."""
    interpreter = tf.lite.Interpreter(model_path=str(path))
    return interpreter.get_signature_runner(signature)(**inputs)
