"""Generator and discriminator builders."""
from deepdeconv.models.discriminator import build_discriminator
from deepdeconv.models.generator import build_generator, generator_for

__all__ = ["build_generator", "build_discriminator", "generator_for"]
