"""ddim-edu: Denoising Diffusion Implicit Models, taught with small exact experiments."""

__version__ = "0.1.0"
