"""Small helpers shared by the tests."""

import torch


def gaussian_noise(n, d=2, seed=0, dtype=torch.float64):
    """A seeded (n, d) standard normal batch, drawn on the CPU."""
    return torch.randn(n, d, dtype=dtype, generator=torch.Generator().manual_seed(seed))
