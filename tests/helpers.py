"""Tiny configurations shared by the training tests (fast on 2 CPU cores)."""
from deepdeconv.config import TrainConfig


def tiny_config(outdir, **changes):
    """A config whose models have a few thousand weights and whose run lasts a few steps."""
    base = dict(data="digits", resolution=32, width=0.125, z_dim=16, batch=8, steps=3, outdir=str(outdir),
                sample_every=2, checkpoint_every=2, log_every=1, grid_size=4, ema_rampup=0.5,
                # float32 whatever the CPU: numeric comparisons must not depend on bfloat16 support
                mixed_precision=False)
    base.update(changes)
    return TrainConfig(**base).validate()
