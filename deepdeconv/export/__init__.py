"""Export a trained generator or restorer for use outside Python: SavedModel and TFLite.

    seed_latents.py  sample.py's per-seed latents (numpy's MT19937 + polar method) in TF ops
    signatures.py    serving functions: uint8 in/out (pixels.to_uint8_tensor), padding
    formats.py       writing a SavedModel, converting to TFLite, running either back
    load.py          choosing the network like sample.py; what the signatures need to know
    measure.py       fixed inputs and the Keras model's outputs to measure exports against
    readme.py        the README.md beside the files
    run.py           `export.py`: all of the above
"""
from deepdeconv.export.run import FORMATS, Exported, default_out, export_run

__all__ = ["FORMATS", "Exported", "default_out", "export_run"]
