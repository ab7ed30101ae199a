"""The training configuration: one frozen dataclass, the only place defaults live.

Every run directory stores it as `config.json`; `TrainConfig.from_json` on that file is
enough to resume or reproduce the run.
"""
import dataclasses
import json
from pathlib import Path
from typing import Optional

from deepdeconv.errors import UserError

LOSSES = ("nsgan", "hinge", "wgan-gp", "lsgan")
D_NORMS = ("auto", "none", "batch", "spectral")
AUGMENTS = ("translation", "cutout", "color")
RESOLUTIONS = (32, 64, 128, 256)
STRATEGIES = ("auto", "default", "mirrored", "multiworker", "tpu")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run.

    Defaults are what trains best on small data (a few thousand images) on a CPU in
    minutes; they scale to CIFAR/CelebA on a GPU by raising `steps`/`kimg` and `resolution`.
    """

    # --- data -------------------------------------------------------------------------
    data: str = "digits"  # folder path, or one of: digits, mnist, fashion_mnist, cifar10
    resolution: int = 32  # output side in pixels; 32, 64, 128 or 256
    channels: Optional[int] = None  # None: 1 if every image is grayscale, else 3
    conditional: bool = False  # train a class-conditional GAN from the data's labels
    class_names: tuple = ()  # filled in at run start from the data; saved for sampling

    # --- models -----------------------------------------------------------------------
    z_dim: int = 128  # latent size; 100-128 is the DCGAN/SNGAN convention
    width: float = 0.5  # scales every layer's channels; 0.5 is fastest per CPU-minute, 1-2 suit a GPU
    # auto = batch (DCGAN; best in short runs), but none for wgan-gp, whose per-sample penalty
    # batch norm breaks, and spectral for hinge (the SNGAN recipe).
    d_norm: str = "auto"  # discriminator normalisation: auto, none, batch or spectral

    # --- optimisation -----------------------------------------------------------------
    batch: int = 64  # global batch; DCGAN paper value, trains faster per CPU-second than 256
    g_lr: float = 2e-4  # DCGAN paper: Adam 2e-4, beta1 0.5
    d_lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    loss: str = "nsgan"  # nsgan, hinge, wgan-gp or lsgan
    d_steps: int = 1  # discriminator updates per generator update
    gp_weight: float = 10.0  # WGAN-GP penalty weight (Gulrajani et al. 2017)
    r1_gamma: float = 0.0  # R1 penalty weight on real data (Mescheder et al. 2018); 0 = off
    augment: str = "none"  # DiffAugment policy (translation,cutout,color) or none; helps long runs on small data
    ema: bool = True  # keep an exponential moving average of the generator for sampling
    ema_decay: float = 0.999  # per-step decay of the generator average (half-life ~700 steps)
    ema_rampup: float = 0.05  # caps the half-life at this fraction of steps so far; 0 = no cap

    # --- duration and output ------------------------------------------------------------
    steps: Optional[int] = None  # generator steps; if None, derived from kimg
    kimg: float = 200.0  # thousands of real images shown, when steps is None (~8 CPU-minutes at 32px)
    seed: int = 0  # seeds data order, latents and augmentation: runs are reproducible
    outdir: str = "runs"  # parent of the numbered run directories
    name: str = ""  # run directory suffix; defaults to the data's name
    sample_every: int = 500  # steps between sample grids
    checkpoint_every: int = 1000  # steps between checkpoints
    keep_checkpoints: int = 3  # most recent checkpoints kept (best is kept separately)
    log_every: int = 100  # steps between log.jsonl records
    grid_size: int = 64  # images in each sample grid (fixed latents across the run)

    # --- evaluation during training -----------------------------------------------------
    eval_every: int = 0  # steps between metric evaluations; 0 = never
    eval_metrics: str = "cfid"  # metric names, comma-separated; first one picks "best"
    eval_num: int = 2000  # generated images per evaluation

    # --- execution ----------------------------------------------------------------------
    strategy: str = "auto"  # tf.distribute strategy
    tpu: str = ""  # TPU address for the cluster resolver
    mixed_precision: Optional[bool] = None  # float16 on GPU, bfloat16 on TPU/CPU; auto: CPUs with bfloat16
    jit: Optional[bool] = None  # XLA; auto: on for GPU/TPU, off for CPU (slower there)
    steps_per_execution: int = 1  # train steps per tf.function call (raise on TPU)

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
        def need(ok, message):
            if not ok:
                raise UserError(message)

        need(self.resolution in RESOLUTIONS,
             f"--resolution must be one of {', '.join(map(str, RESOLUTIONS))}, got {self.resolution}.")
        need(self.channels in (None, 1, 3), f"--channels must be 1 or 3, got {self.channels}.")
        need(self.z_dim >= 1, f"--z-dim must be positive, got {self.z_dim}.")
        need(self.width > 0, f"--width must be positive, got {self.width}.")
        need(self.d_norm in D_NORMS, f"--d-norm must be one of {', '.join(D_NORMS)}, got {self.d_norm!r}.")
        need(self.batch >= 2, f"--batch must be at least 2, got {self.batch}.")
        for opt in ("g_lr", "d_lr"):
            need(getattr(self, opt) > 0, f"--{opt.replace('_', '-')} must be positive, got {getattr(self, opt)}.")
        need(0 <= self.beta1 < 1 and 0 <= self.beta2 < 1, "--beta1 and --beta2 must lie in [0, 1).")
        need(self.loss in LOSSES, f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}.")
        need(not (self.loss == "wgan-gp" and self.d_norm == "batch"),
             "--loss wgan-gp cannot use --d-norm batch: batch norm breaks its per-sample gradient penalty.")
        need(self.d_steps >= 1, f"--d-steps must be at least 1, got {self.d_steps}.")
        need(self.gp_weight >= 0, f"--gp-weight must be non-negative, got {self.gp_weight}.")
        need(self.r1_gamma >= 0, f"--r1-gamma must be non-negative, got {self.r1_gamma}.")
        bad = [p for p in self.augment_policy if p not in AUGMENTS]
        need(not bad, f"--augment accepts {', '.join(AUGMENTS)} or none, got {','.join(bad)!r}.")
        need(0 <= self.ema_decay < 1, f"--ema-decay must lie in [0, 1), got {self.ema_decay}.")
        need(self.ema_rampup >= 0, f"--ema-rampup must be non-negative, got {self.ema_rampup}.")
        need(self.steps is None or self.steps >= 1, f"--steps must be at least 1, got {self.steps}.")
        need(self.kimg > 0, f"--kimg must be positive, got {self.kimg}.")
        for opt in ("sample_every", "checkpoint_every", "keep_checkpoints", "log_every", "grid_size",
                    "eval_num", "steps_per_execution"):
            need(getattr(self, opt) >= 1, f"--{opt.replace('_', '-')} must be at least 1, got {getattr(self, opt)}.")
        need(self.eval_every >= 0, f"--eval-every must be non-negative, got {self.eval_every}.")
        need(self.strategy in STRATEGIES,
             f"--strategy must be one of {', '.join(STRATEGIES)}, got {self.strategy!r}.")
        return self

    def replace(self, **changes) -> "TrainConfig":
        """Returns a validated copy with `changes` applied."""
        return dataclasses.replace(self, **changes).validate()

    def to_dict(self) -> dict:
        """Plain-JSON dictionary of every field."""
        d = dataclasses.asdict(self)
        d["class_names"] = list(self.class_names)
        return d

    @classmethod
    def from_dict(cls, d: dict, source: str = "config") -> "TrainConfig":
        """Builds a validated config from a dictionary, refusing unknown keys.

        Args:
            d: field values; missing fields take their defaults.
            source: what to name in the error message (usually the file path).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"{source} has unknown option(s) {', '.join(unknown)}; it was written by an "
                            "incompatible version of deepdeconv.")
        d = dict(d)
        if "class_names" in d:
            d["class_names"] = tuple(d["class_names"])
        return cls(**d).validate()

    def save(self, path) -> None:
        """Writes the config as JSON, atomically."""
        from deepdeconv.fileio import write_json
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
ARCHITECTURE_FIELDS = ("resolution", "channels", "conditional", "class_names", "z_dim", "width", "d_norm",
                       "loss", "ema")
