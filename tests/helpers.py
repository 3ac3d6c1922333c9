"""Small helpers shared by the tests."""

import os

import torch

# Debian's Chromium for the browser tests (never a downloaded browser); DDIM_EDU_BROWSER=1, which
# `make test` sets when it is installed, turns a missing browser into a failure instead of a skip
CHROMIUM = os.environ.get("DDIM_EDU_CHROMIUM", "/usr/bin/chromium")
BROWSER_REQUIRED = os.environ.get("DDIM_EDU_BROWSER", "0") == "1"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def gaussian_noise(n, d=2, seed=0, dtype=torch.float64):
    """A seeded (n, d) standard normal batch, drawn on the CPU."""
    return torch.randn(n, d, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def forbid(monkeypatch, module, name: str, what: str) -> None:
    """Make ``module.name`` raise when called: a check that passes with it in place ran before
    that work (``what`` names the work in the failure)."""

    def ran(*args, **kwargs):
        raise AssertionError(f"{what} ran")

    monkeypatch.setattr(module, name, ran)
