"""The restoration options: `RestoreConfig`, nested in `config.TrainConfig` as its field `restore`.

Only the restoration tasks (denoise, deblur, sr, inpaint, jpeg) read these; the command line
shows them flat (`--noise`, `--scale`, ...) and `config.json` holds them under "restore".
"""
import dataclasses

from deepdeconv.errors import UserError
from deepdeconv.options import opt, parse_range, require

NOISE_KINDS = ("gaussian", "poisson", "mixed")
BLUR_KINDS = ("gaussian", "motion", "mixed")
MASK_KINDS = ("box", "free", "mixed")
UPSAMPLES = ("subpixel", "transpose")
PIXEL_LOSSES = ("mse", "l1", "charbonnier", "ssim", "msssim")
SCALES = (2, 3, 4)


@dataclasses.dataclass(frozen=True)
class RestoreConfig:
    """Options of the restoration tasks (denoise, deblur, sr, inpaint, jpeg).

    Degradations are drawn on the fly from clean patches; a range "lo-hi" trains one blind
    model for every level in it.
    """

    noise: str = opt("25", "denoise: Gaussian noise sigma on the 0..255 scale, or a range lo-hi (blind)")
    noise_kind: str = opt("gaussian", "denoise: gaussian, poisson (signal-dependent) or mixed")
    blur: str = opt("1.6", "deblur: Gaussian PSF sigma in pixels, or a range lo-hi")
    blur_kind: str = opt("gaussian", "deblur: gaussian, motion (line kernels) or mixed")
    blur_noise: float = opt(2.0, "deblur: noise sigma (0..255) added after blurring, as a camera would")
    unclipped: bool = opt(False, "denoise/deblur: train on the papers' unclipped float input rather than "
                                  "the clipped, rounded uint8 image a user's file holds")
    scale: int = opt(2, "sr: upscaling factor, 2, 3 or 4")
    jpeg_quality: str = opt("10-50", "jpeg: JPEG quality of the input, or a range lo-hi")
    mask: str = opt("mixed", "inpaint: box, free (brush strokes) or mixed masks")
    patch: int = opt(64, "side of the clean training patches, in pixels (of the output for sr)")
    depth: int = opt(2, "restorer: number of stride-2 downsamplings in the encoder")
    upsample: str = opt("subpixel", "sr: how the restorer upsamples: subpixel (depth_to_space) or transpose")
    pixel_loss: str = opt("l1", "restoration loss: a term or a weighted sum, e.g. mse, l1, charbonnier, "
                                 "ssim, msssim, or l1+0.2*ssim")
    adversarial: float = opt(0.0, "weight of a GAN loss from the discriminator (SRGAN-style); 0 = off")
    val: str = opt("", "folder of held-out validation images; empty = a fixed slice of --data")
    val_count: int = opt(4, "held-out images restored whole at each validation")
    val_every: int = opt(500, "steps between validations (PSNR/SSIM, image strips, best checkpoint)")

    def pixel_loss_terms(self) -> tuple:
        """The pixel loss as ((name, weight), ...); UserError for an unknown term."""
        terms = []
        for part in self.pixel_loss.replace(" ", "").split("+"):
            weight, _, name = part.rpartition("*")
            try:
                w = float(weight) if weight else 1.0
            except ValueError:
                w = -1.0
            if name not in PIXEL_LOSSES or w <= 0:
                raise UserError(f"--pixel-loss term {part!r} is not one of {', '.join(PIXEL_LOSSES)} with an "
                                "optional positive weight (e.g. l1+0.2*ssim).")
            terms.append((name, w))
        return tuple(terms)

    def validate(self, task) -> "RestoreConfig":
        """Checks every option; raises UserError naming the first bad one. Returns self."""
        parse_range(self.noise, "--noise", 0, 255)
        parse_range(self.blur, "--blur", 0.1, 20)
        lo, hi = parse_range(self.jpeg_quality, "--jpeg-quality", 1, 100)
        require(lo == int(lo) and hi == int(hi), f"--jpeg-quality must be whole numbers, got {self.jpeg_quality!r}.")
        require(self.noise_kind in NOISE_KINDS, f"--noise-kind must be one of {', '.join(NOISE_KINDS)}, "
                                             f"got {self.noise_kind!r}.")
        require(self.blur_kind in BLUR_KINDS,
                f"--blur-kind must be one of {', '.join(BLUR_KINDS)}, got {self.blur_kind!r}.")
        require(0 <= self.blur_noise <= 255, f"--blur-noise must lie in [0, 255], got {self.blur_noise}.")
        require(self.scale in SCALES, f"--scale must be one of {', '.join(map(str, SCALES))}, got {self.scale}.")
        require(self.mask in MASK_KINDS, f"--mask must be one of {', '.join(MASK_KINDS)}, got {self.mask!r}.")
        multiple = 2 ** self.depth * (self.scale if task == "sr" else 1)
        require(self.patch >= 16 and self.patch % multiple == 0,
             f"--patch must be at least 16 and a multiple of {multiple} (2**depth"
             f"{' x scale' if task == 'sr' else ''}), got {self.patch}.")
        require(0 <= self.depth <= 5, f"--depth must lie in 0..5, got {self.depth}.")
        require(self.upsample in UPSAMPLES, f"--upsample must be one of {', '.join(UPSAMPLES)}, got {self.upsample!r}.")
        self.pixel_loss_terms()
        require(self.adversarial >= 0, f"--adversarial must be non-negative, got {self.adversarial}.")
        require(self.val_count >= 1, f"--val-count must be at least 1, got {self.val_count}.")
        require(self.val_every >= 1, f"--val-every must be at least 1, got {self.val_every}.")
        return self
