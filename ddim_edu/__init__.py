"""ddim-edu: Denoising Diffusion Implicit Models, taught with small exact experiments.

from ddim_edu import DDIMPipeline
pipe = DDIMPipeline.from_pretrained("digits")
image = pipe(eta=0.0, num_inference_steps=50)   # (1, 1, 8, 8) in [-1, 1]
"""

from .pipeline import DDIMPipeline, save_image_grid

__version__ = "0.1.0"
__all__ = ["DDIMPipeline", "save_image_grid", "__version__"]
