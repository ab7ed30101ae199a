"""The training configuration: one frozen dataclass, the only place defaults live.

Every run directory stores it as `config.json`; `TrainConfig.from_json` on that file is
enough to resume or reproduce the run. Each field's `--help` text is its `metadata["help"]`.
Options that only restoration tasks use live in the nested `RestoreConfig`; options whose best
value differs between the GAN and restoration (`batch`, `kimg`, `width`, `g_lr`, `beta1`) default
to None and are resolved for the task when the config is built, so `config.json` always holds
the value that was used.
"""
import dataclasses
import json
from pathlib import Path
from typing import Optional, Tuple

from deepdeconv.errors import UserError
from deepdeconv.fileio import write_json
from deepdeconv.options import check_field_types, dataclass_from_dict, opt, require
from deepdeconv.restore_config import RestoreConfig

TASKS = ("gan", "denoise", "deblur", "sr", "inpaint", "jpeg")
LOSSES = ("nsgan", "hinge", "wgan-gp", "lsgan")
D_NORMS = ("auto", "none", "batch", "spectral")
UPSAMPLES = ("transpose", "resize")
UPDATES = ("sequential", "simultaneous")
AUGMENTS = ("translation", "cutout", "color")
RESOLUTIONS = (32, 64, 128, 256)
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")

# Options whose default changed after runs were first saved: the value a config.json that
# lacks them was trained with, so an old run resumes (and samples) as it was trained.
_ADDED_LATER = {"clusters": 0, "update": "sequential", "mbstd": False}

# The GAN discriminator's width relative to the generator's when --d-width is auto.
GAN_D_WIDTH_RATIO = 0.5


def default_update(d_steps):
    """`--update` auto: simultaneous (one forward pass, faster per step) with one D step, else sequential."""
    return "simultaneous" if d_steps == 1 else "sequential"

# Defaults that differ by task; None in TrainConfig means "this task's value".
_TASK_DEFAULTS = {
    "gan": dict(batch=64, kimg=200.0, width=0.5, g_lr=2e-4, beta1=0.5),
    "restore": dict(batch=16, kimg=160.0, width=1.0, g_lr=1e-3, beta1=0.9),
}


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run.

    Defaults are what trains best on small data (a few thousand images) on a CPU in
    minutes; they scale to CIFAR/CelebA on a GPU by raising `steps`/`kimg` and `resolution`.
    """

    # --- task and data ------------------------------------------------------------------
    task: str = opt("gan", "gan (generate images), or restore them: denoise, deblur, sr, inpaint, jpeg")
    data: str = opt("", "folder path, or one of: digits, mnist, fashion_mnist, cifar10 (gan), photos "
                         "(restoration); empty = digits for gan, photos for restoration")
    resolution: int = opt(32, 'output side in pixels; 32, 64, 128 or 256')
    channels: Optional[int] = opt(None, 'None: 1 if every image is grayscale, else 3')
    conditional: bool = opt(False, "train a class-conditional GAN from the data's labels")
    class_names: Tuple[str, ...] = opt((), 'filled in at run start from the data; saved for sampling')
    clusters: Optional[int] = opt(None, "self-conditioning: train as conditional on this many k-means "
                                        "clusters of the images, sample as unconditional; 0 = off; auto: "
                                        "up to 30, one per 50 images (off under 100 images, with "
                                        "--conditional and for restoration)")
    cluster_frequencies: Tuple[float, ...] = opt((), "filled in at run start: each cluster's share of the data")
    data_fingerprint: str = opt("", "filled in at run start for a local --data: its file count and size, "
                                     "checked on --resume")

    # --- models -----------------------------------------------------------------------
    z_dim: int = opt(128, 'latent size; 100-128 is the DCGAN/SNGAN convention')
    width: Optional[float] = opt(None, "scales every layer's channels; auto: 0.5 for gan (fastest per "
                                        "CPU-minute; 1-2 suit a GPU), 1.0 (32 base channels) for restoration")
    d_width: Optional[float] = opt(None, "scales the discriminator's channels; auto: half of --width for gan "
                                          "(a narrower D keeps more of the data's variety), --width for restoration")
    mbstd: bool = opt(True, "give the GAN discriminator the minibatch standard deviation feature (ProGAN), so "
                            "that it sees how varied a batch is; --no-mbstd leaves it out")
    g_upsample: str = opt("transpose", "generator up-sampling: transpose (Conv2DTranspose 4x4, stride 2; DCGAN) "
                                       "or resize (nearest x2 + 3x3 conv; no checkerboard)")
    # auto = batch (DCGAN; best in short runs), but none for wgan-gp, whose per-sample penalty
    # batch norm breaks, and spectral for hinge (the SNGAN recipe).
    d_norm: str = opt("auto", 'discriminator normalisation: auto, none, batch or spectral')

    # --- optimisation -----------------------------------------------------------------
    batch: Optional[int] = opt(None, "global batch; auto: 64 for gan (DCGAN paper value, faster per "
                                      "CPU-second than 256), 16 patches for restoration")
    g_lr: Optional[float] = opt(None, "Adam learning rate of the generator or restorer; auto: 2e-4 for gan "
                                       "(DCGAN paper), 1e-3 for restoration")
    d_lr: float = opt(2e-4, "Adam learning rate of the discriminator")
    beta1: Optional[float] = opt(None, "Adam beta1; auto: 0.5 for gan (DCGAN paper), 0.9 for restoration")
    beta2: float = opt(0.999, "Adam beta2")
    loss: str = opt("nsgan", 'nsgan, hinge, wgan-gp or lsgan')
    d_steps: int = opt(1, 'discriminator updates per generator update')
    update: Optional[str] = opt(None, "sequential (D learns, then G through the updated D; PyTorch DCGAN) or "
                                      "simultaneous (both from one forward pass; TF tutorial; --d-steps 1); "
                                      "auto: simultaneous with --d-steps 1, else sequential")
    gp_weight: float = opt(10.0, 'WGAN-GP penalty weight (Gulrajani et al. 2017)')
    r1_gamma: float = opt(0.0, 'R1 penalty weight on real data (Mescheder et al. 2018); 0 = off')
    augment: str = opt("none", 'DiffAugment policy (translation,cutout,color) or none; helps long runs on small data')
    ema: bool = opt(True, 'keep an exponential moving average of the generator for sampling')
    ema_decay: float = opt(0.999, 'per-step decay of the generator average (half-life ~700 steps)')
    ema_rampup: float = opt(0.05, 'caps the half-life at this fraction of steps so far; 0 = no cap')

    # --- duration and output ------------------------------------------------------------
    steps: Optional[int] = opt(None, 'generator steps; if None, derived from kimg')
    kimg: Optional[float] = opt(None, "thousands of real images (patches) shown, when steps is None; auto: "
                                       "200 for gan, 160 for restoration (10,000 steps of 16)")
    seed: int = opt(0, 'seeds data order, latents and augmentation: runs are reproducible')
    outdir: str = opt("runs", 'parent of the numbered run directories')
    name: str = opt("", "run directory suffix; defaults to the data's name")
    sample_every: int = opt(500, 'steps between sample grids')
    checkpoint_every: int = opt(1000, 'steps between checkpoints')
    keep_checkpoints: int = opt(3, 'most recent checkpoints kept (best is kept separately)')
    log_every: int = opt(100, 'steps between log.jsonl records')
    grid_size: int = opt(64, 'images in each sample grid (fixed latents across the run)')
    restore: RestoreConfig = dataclasses.field(default_factory=RestoreConfig,
                                               metadata={"help": "restoration options"})

    # --- evaluation during training -----------------------------------------------------
    eval_every: int = opt(0, 'steps between metric evaluations; 0 = never')
    eval_metrics: str = opt("cfid", 'metric names, comma-separated; first one picks "best"')
    eval_num: int = opt(2000, 'generated images per evaluation')

    # --- execution ----------------------------------------------------------------------
    strategy: str = opt("auto", 'tf.distribute strategy')
    tpu: str = opt("", 'TPU address for the cluster resolver')
    mixed_precision: Optional[bool] = opt(None, "float16 on GPU, bfloat16 on TPU/CPU; auto: off on GPU/TPU; on a "
                                                 "CPU with bfloat16, whichever of the two trained faster when "
                                                 "timed at the start of the run (see speed_choice)")
    jit: Optional[bool] = opt(None, 'XLA; auto: on for GPU/TPU, off for CPU (slower there)')
    steps_per_execution: int = opt(1, 'train steps per tf.function call (raise on TPU)')
    speed_choice: str = opt("", "filled in at run start: what the auto speed options resolved to and the "
                                 "measured rates (deepdeconv.autotune)")

    def __post_init__(self):
        # Task-dependent defaults are resolved at construction, so every reader (and
        # config.json) sees the value in use, never None.
        if self.task not in TASKS:
            raise UserError(f"--task must be one of {', '.join(TASKS)}, got {self.task!r}.")
        defaults = _TASK_DEFAULTS["gan" if self.task == "gan" else "restore"]
        for name, value in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.update is None:
            object.__setattr__(self, "update", default_update(self.d_steps))
        if self.d_width is None:
            object.__setattr__(self, "d_width", self.width * (GAN_D_WIDTH_RATIO if self.task == "gan" else 1.0))
        if self.clusters is None and (self.is_restoration or self.conditional):
            object.__setattr__(self, "clusters", 0)
        if not self.data:
            object.__setattr__(self, "data", "digits" if self.task == "gan" else "photos")
        if isinstance(self.restore, dict):
            object.__setattr__(self, "restore", dataclass_from_dict(RestoreConfig, self.restore, "restore"))

    @property
    def is_restoration(self) -> bool:
        """True for the restoration tasks, False for the GAN."""
        return self.task != "gan"

    @property
    def total_steps(self) -> int:
        """Number of generator steps the run lasts."""
        if self.steps is not None:
            return self.steps
        return max(1, round(self.kimg * 1000 / self.batch))

    @property
    def discriminator_norm(self) -> str:
        """`d_norm` with "auto" resolved for the chosen loss."""
        if self.d_norm != "auto":
            return self.d_norm
        return {"wgan-gp": "none", "hinge": "spectral"}.get(self.loss, "batch")

    @property
    def augment_policy(self) -> tuple:
        """The DiffAugment policy as a tuple of names (empty when off)."""
        if self.augment in ("", "none"):
            return ()
        return tuple(p.strip() for p in self.augment.split(",") if p.strip())

    def validate(self) -> "TrainConfig":
        """Checks every option; raises UserError naming the first bad one.

        Returns:
            self, so that construction and validation chain.
        """
        check_field_types(self)
        require(self.resolution in RESOLUTIONS,
             f"--resolution must be one of {', '.join(map(str, RESOLUTIONS))}, got {self.resolution}.")
        require(self.channels in (None, 1, 3), f"--channels must be 1 or 3, got {self.channels}.")
        require(self.z_dim >= 1, f"--z-dim must be positive, got {self.z_dim}.")
        require(self.width > 0, f"--width must be positive, got {self.width}.")
        require(self.d_width > 0, f"--d-width must be positive, got {self.d_width}.")
        require(self.g_upsample in UPSAMPLES,
                f"--g-upsample must be one of {', '.join(UPSAMPLES)}, got {self.g_upsample!r}.")
        require(self.clusters in (None, 0) or 2 <= self.clusters <= 1000,
                f"--clusters must be 0 (off) or lie in 2..1000, got {self.clusters}.")
        require(not (self.clusters and self.conditional), "--clusters and --conditional cannot be combined: "
                "--conditional uses the data's labels, --clusters finds clusters in place of labels.")
        require(not self.cluster_frequencies or (len(self.cluster_frequencies) == (self.clusters or 0) and
                                                 min(self.cluster_frequencies) > 0 and
                                                 abs(sum(self.cluster_frequencies) - 1) < 1e-6),
                f"cluster_frequencies must hold {self.clusters} positive shares summing to 1.")
        require(self.d_norm in D_NORMS, f"--d-norm must be one of {', '.join(D_NORMS)}, got {self.d_norm!r}.")
        require(self.batch >= 2, f"--batch must be at least 2, got {self.batch}.")
        for name in ("g_lr", "d_lr"):
            require(getattr(self, name) > 0, f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        require(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "--beta1 and --beta2 must lie in [0, 1).")
        require(self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}.")
        require(not (self.loss == "wgan-gp" and self.d_norm == "batch"),
             "--loss wgan-gp cannot use --d-norm batch: batch norm breaks its per-sample gradient penalty.")
        # More would rarely help, and each update needs its own random stream (gan.NUM_STREAMS).
        require(1 <= self.d_steps <= 8, f"--d-steps must lie in 1..8, got {self.d_steps}.")
        require(self.update in UPDATES, f"--update must be one of {', '.join(UPDATES)}, got {self.update!r}.")
        require(self.update == "sequential" or self.d_steps == 1, "--update simultaneous needs --d-steps 1.")
        require(self.gp_weight >= 0, f"--gp-weight must be non-negative, got {self.gp_weight}.")
        require(self.r1_gamma >= 0, f"--r1-gamma must be non-negative, got {self.r1_gamma}.")
        bad = [p for p in self.augment_policy if p not in AUGMENTS]
        require(not bad, f"--augment accepts {', '.join(AUGMENTS)} or none, got {','.join(bad)!r}.")
        require(0 <= self.ema_decay < 1, f"--ema-decay must lie in [0, 1), got {self.ema_decay}.")
        require(self.ema_rampup >= 0, f"--ema-rampup must be non-negative, got {self.ema_rampup}.")
        require(self.steps is None or self.steps >= 1, f"--steps must be at least 1, got {self.steps}.")
        require(self.kimg > 0, f"--kimg must be positive, got {self.kimg}.")
        for name in ("sample_every", "checkpoint_every", "keep_checkpoints", "log_every", "grid_size",
                     "eval_num", "steps_per_execution"):
            require(getattr(self, name) >= 1,
                    f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}.")
        require(self.eval_every >= 0, f"--eval-every must be non-negative, got {self.eval_every}.")
        require(self.strategy in STRATEGIES,
             f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}.")
        if self.is_restoration:
            self.restore.validate(self.task)
        return self

    def replace(self, **changes) -> "TrainConfig":
        """Returns a validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict:
        """Plain-JSON dictionary of every field (the nested restoration options as a dict)."""
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        d["cluster_frequencies"] = list(self.cluster_frequencies)
        return d

    @classmethod
    def from_dict(cls, d, source: str = "config") -> "TrainConfig":
        """Builds a validated config from a dictionary, refusing unknown keys and wrong types.

        Args:
            d: field values; missing fields take their defaults.
            source: what to name in the error message (usually the file path).
        """
        if isinstance(d, dict):
            d = {**{k: v for k, v in _ADDED_LATER.items() if k not in d}, **d}
            if "d_width" not in d and "width" in d:  # saved before --d-width: D was as wide as G
                d["d_width"] = d["width"]
        return dataclass_from_dict(cls, d, source).validate()

    @classmethod
    def from_options(cls, options: dict, base: Optional["TrainConfig"] = None) -> "TrainConfig":
        """Builds a validated config from flat command-line options.

        Restoration options (`noise`, `scale`, ...) are nested into `restore`; the rest are
        TrainConfig fields. Options not given keep `base`'s value (a resumed run's), or the
        defaults when `base` is None.
        """
        nested_names = {f.name for f in dataclasses.fields(RestoreConfig)}
        nested = {k: v for k, v in options.items() if k in nested_names}
        flat = {k: v for k, v in options.items() if k not in nested_names}
        base_restore = base.restore if base is not None else RestoreConfig()
        if nested:
            flat["restore"] = dataclasses.replace(base_restore, **nested)
        try:
            config = dataclasses.replace(base, **flat) if base is not None else cls(**flat)
        except TypeError as e:
            raise UserError(f"{e}.") from None
        return config.validate()

    def save(self, path) -> None:
        """Writes the config as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "TrainConfig":
        """Reads a config written by `save`; one-sentence UserError if missing or unreadable."""
        path = Path(path)
        try:
            d = json.loads(path.read_text())
        except FileNotFoundError:
            raise UserError(f"{path} does not exist; is this a deepdeconv run directory?") from None
        except (OSError, ValueError) as e:
            raise UserError(f"{path} is not a readable JSON config ({e}).") from None
        return cls.from_dict(d, source=str(path))


# Options that change the shape or meaning of saved weights and optimiser state: a resumed
# run must agree with the checkpoint on every one of them.
ARCHITECTURE_FIELDS = ("task", "resolution", "channels", "conditional", "class_names", "clusters", "z_dim", "width",
                       "d_width",
                       "d_norm", "loss", "ema", "restore.scale", "restore.depth", "restore.upsample",
                       "restore.adversarial")
