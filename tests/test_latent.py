import math

import pytest
import torch

from ddim_edu.latent import interpolate, latent_grid, lerp, slerp


def test_slerp_keeps_the_norm_of_gaussian_codes_and_lerp_does_not():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(2, 1, 8, 8, generator=gen)
    d = 64
    mid_s, mid_l = slerp(a[None], b[None], 0.5)[0], lerp(a, b, 0.5)
    assert abs(mid_s.norm().item() - math.sqrt(d)) < 0.15 * math.sqrt(d)
    assert mid_l.norm().item() < 0.8 * math.sqrt(d)


def test_slerp_ends_and_orthogonal_case():
    x0 = torch.tensor([[1.0, 0.0]])
    x1 = torch.tensor([[0.0, 1.0]])
    assert torch.allclose(slerp(x0, x1, 0.0), x0) and torch.allclose(slerp(x0, x1, 1.0), x1)
    mid = slerp(x0, x1, 0.5)
    assert torch.allclose(mid, torch.tensor([[math.sqrt(0.5), math.sqrt(0.5)]]), atol=1e-6)
    assert torch.allclose(slerp(x0, x0 * 2, 0.5), x0 * 1.5)  # parallel codes: linear


def test_interpolation_and_grid_shapes():
    gen = torch.Generator().manual_seed(1)
    c = torch.randn(4, 1, 8, 8, generator=gen)
    path = interpolate(c[0], c[1], 7)
    assert (
        path.shape == (7, 1, 8, 8)
        and torch.allclose(path[0], c[0])
        and torch.allclose(path[-1], c[1], atol=1e-6)
    )
    grid = latent_grid(c, 5)
    assert grid.shape == (25, 1, 8, 8)
    for k, idx in enumerate((0, 4, 20, 24)):
        assert torch.allclose(grid[idx], c[k], atol=1e-5)
    with pytest.raises(ValueError, match="method must be 'slerp' or 'lerp'"):
        interpolate(c[0], c[1], 5, method="cubic")
    with pytest.raises(ValueError, match="corners must hold 4 codes"):
        latent_grid(c[:3], 5)
