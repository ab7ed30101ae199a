"""Which restorer to apply: a run directory, a `.keras` file, or a shipped pretrained name.

    spec = load_restorer("runs/00003-photos")            # the run's exported EMA restorer
    spec = load_restorer("runs/00003-photos", checkpoint="best")
    spec = load_restorer("model.keras", task="sr")       # a bare file: say what it restores
    spec = load_restorer("sr2")                          # deepdeconv/pretrained/sr2.keras

`.keras` files are loaded with `keras.models.load_model(path, compile=False, safe_mode=True)`:
safe mode refuses files that would run arbitrary Python (lambda layers) on loading.
"""
import dataclasses
from pathlib import Path

import keras
import numpy as np

from deepdeconv import rundir
from deepdeconv.checkpoint import best_checkpoint, latest_checkpoint, restore_network
from deepdeconv.config import TASKS, TrainConfig
from deepdeconv.data.kernels import gaussian_kernels, kernel_size
from deepdeconv.errors import UserError
from deepdeconv.models.restorer import build_restorer
from deepdeconv.options import parse_range
from deepdeconv.restore_config import SCALES, RestoreConfig
from deepdeconv.restoring.tiles import network_geometry

PRETRAINED_DIR = Path(__file__).resolve().parent.parent / "pretrained"
# Shipped pretrained restorers: name -> (task, sr scale). Their files are
# `deepdeconv/pretrained/<name>.keras`; a name whose file is not shipped is not offered.
PRETRAINED = {"denoise": ("denoise", 1), "denoise_gray": ("denoise", 1), "sr2": ("sr", 2), "sr4": ("sr", 4)}
RESTORATION_TASKS = tuple(t for t in TASKS if t != "gan")


@dataclasses.dataclass(frozen=True)
class RestorerSpec:
    """A loaded restorer and what it restores.

    Attributes:
        model: the Keras network ([B, H, W, C(+1)] in [-1, 1] -> [B, sH, sW, C]).
        task: "denoise", "deblur", "sr", "inpaint" or "jpeg".
        scale: output / input size (the sr scale, else 1).
        channels: image channels it restores (1 or 3).
        restore: the RestoreConfig of its training run (defaults for a bare file), which says
            what degradation the classical baselines should assume.
        source: what was loaded, for messages.
    """

    model: object
    task: str
    scale: int
    channels: int
    restore: RestoreConfig
    source: str


def available_pretrained():
    """Names of the pretrained restorers whose files are shipped with this installation."""
    return tuple(name for name in PRETRAINED if (PRETRAINED_DIR / f"{name}.keras").is_file())


def load_keras(path):
    """Loads a `.keras` restorer in safe mode; one-sentence UserError if it cannot."""
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for a damaged, foreign or unsafe file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{path} is not a loadable Keras restorer ({type(e).__name__}: {first}).") from None


def network_from_run(run, checkpoint=None, ema=True):
    """(restorer network, TrainConfig) of a restoration run, chosen as `sample.py` chooses a generator.

    Args:
        run: a restoration run directory.
        checkpoint: None (the exported restorer, else the latest checkpoint), "best" (by
            validation PSNR), "latest", or a checkpoint path.
        ema: prefer the moving average of the weights when the run kept one.
    """
    config = TrainConfig.load(run / rundir.CONFIG)
    if not config.is_restoration:
        raise UserError(f"{run} is a GAN run (task gan); restore.py applies restoration runs (use sample.py).")
    if checkpoint is None:
        names = ([rundir.RESTORER_EMA] if ema and config.ema else []) + [rundir.RESTORER]
        for name in names:
            if (run / name).is_file():
                return load_keras(run / name), config
        checkpoint = "latest"
    if checkpoint in ("best", "latest"):
        path = best_checkpoint(run) if checkpoint == "best" else latest_checkpoint(run)
        if path is None:
            raise UserError(f"Run {run} has no {'best (by validation PSNR) ' if checkpoint == 'best' else ''}"
                            "checkpoint or exported restorer yet.")
    else:
        path = Path(checkpoint)
    return _network_from_checkpoint(path, config, ema), config


def _network_from_checkpoint(path, config, ema):
    group = "restorer_ema" if ema and config.ema else "restorer"
    r = config.restore
    model = build_restorer(config.task, config.channels, config.width, r.depth, r.scale, r.upsample, name=group)
    return restore_network(model, path, group)


def load_restorer(source, task=None, scale=None, checkpoint=None, ema=True) -> RestorerSpec:
    """Loads the restorer named by a run directory, a `.keras` file or a pretrained name.

    Args:
        source: run directory, `.keras` file, or a name in `PRETRAINED`.
        task: required for a bare `.keras` file; checked against the run's otherwise.
        scale: optional; checked against the network's measured scale.
        checkpoint: run directories only: None (the exported restorer, else the latest
            checkpoint), "best" (by validation PSNR), "latest", or a checkpoint path.
        ema: prefer the exponential moving average of the weights when the run kept one.

    Returns:
        A RestorerSpec.
    """
    path = Path(source)
    restore = RestoreConfig()
    if path.is_dir():
        model, config = network_from_run(rundir.require_run_dir(path), checkpoint, ema)
        if task is not None and task != config.task:
            raise UserError(f"{path} restores {config.task}, not {task} (drop --task).")
        task, restore = config.task, config.restore
    else:
        if checkpoint is not None or not ema:
            raise UserError("--checkpoint and --no-ema apply to a run directory, not to a model file.")
        if path.suffix == ".keras":
            if not path.is_file():
                raise UserError(f"Model file {path} does not exist.")
            if task is None:
                raise UserError(f"{path} is a bare model file: say what it restores with --task "
                                f"{'|'.join(RESTORATION_TASKS)}.")
        elif str(source) in PRETRAINED and not path.exists():
            shipped = available_pretrained()
            if str(source) not in shipped:
                raise UserError(f"The pretrained restorer {source!r} is not shipped with this installation; available: "
                                f"{', '.join(shipped) if shipped else 'none yet (train one with train.py --task ...)'}.")
            path, task = PRETRAINED_DIR / f"{source}.keras", PRETRAINED[str(source)][0]
        else:
            shipped = available_pretrained()
            raise UserError(f"{source} is neither a run directory, a .keras file nor a pretrained restorer name "
                            f"({', '.join(shipped) if shipped else 'none shipped yet'}).")
        if task not in RESTORATION_TASKS:
            raise UserError(f"--task must be one of {', '.join(RESTORATION_TASKS)}, got {task!r}.")
        model = load_keras(path)
    _, measured, channels = network_geometry(model)
    if scale is not None and scale != measured:
        raise UserError(f"{source} upscales by {measured}, not by --scale {scale}.")
    if (task == "sr") != (measured > 1) or (task == "sr" and measured not in SCALES):
        raise UserError(f"{source} changes the image size by {measured}, which does not fit task {task}.")
    if task == "sr":
        restore = dataclasses.replace(restore, scale=measured)
    return RestorerSpec(model=model, task=task, scale=measured, channels=channels, restore=restore, source=str(source))


def default_known(spec: RestorerSpec, image, mask=None) -> dict:
    """What the classical baselines assume about a user's image degraded as `spec` was trained for.

    Noise levels are estimated from the image; a deblur PSF is the Gaussian of the middle of
    the run's `--blur` range (a motion PSF cannot be known for a user's photo).
    """
    known: dict = {"scale": spec.scale, "sigma": None, "noise": None, "mask": mask}
    if spec.task == "deblur":
        lo, hi = parse_range(spec.restore.blur, "--blur", 0.1, 20)
        sigma = 0.5 * (lo + hi)
        known["psf"] = gaussian_kernels(np.array([sigma], np.float32), kernel_size(sigma))[0].numpy()
    return known
