"""Small helpers shared by the tests."""

import torch


def gaussian_noise(n, d=2, seed=0, dtype=torch.float64):
    """A seeded (n, d) standard normal batch, drawn on the CPU."""
    return torch.randn(n, d, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def forbid(monkeypatch, module, name: str, what: str) -> None:
    """Make ``module.name`` raise when called: a check that passes with it in place ran before
    that work (``what`` names the work in the failure)."""

    def ran(*args, **kwargs):
        raise AssertionError(f"{what} ran")

    monkeypatch.setattr(module, name, ran)
