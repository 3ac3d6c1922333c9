import math

import pytest
import torch

from ddim_edu.gmm import GaussianMixture
from ddim_edu.objectives import gamma_weights, variational_terms
from ddim_edu.schedule import linear_schedule


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_theorem1_J_minus_weighted_loss_is_the_same_constant_for_different_models(eta):
    sch = linear_schedule(T=20, beta_start=1e-3, beta_end=0.35)
    mix = GaussianMixture.example_2d()
    eps_star = mix.eps_model(sch)
    models = {
        "eps*": eps_star,
        "perturbed": lambda x, t: eps_star(x, t) + 0.3 * torch.sin(2 * x),
        "zero": lambda x, t: torch.zeros_like(x),
    }
    x0 = mix.sample(60_000, torch.Generator().manual_seed(0))
    gaps, J = {}, {}
    for name, model in models.items():
        j, loss = variational_terms(model, x0, sch, eta, generator=torch.Generator().manual_seed(1))
        gaps[name] = ((j - loss).mean().item(), ((j - loss).std() / math.sqrt(len(j))).item())
        J[name] = j.mean().item()
    ref, se = gaps["eps*"]
    for gap, se2 in gaps.values():
        assert abs(gap - ref) < 5 * math.hypot(se, se2), gaps
    # the models differ a lot in J itself, and the exact eps* has the smallest
    assert min(J, key=J.get) == "eps*" and J["zero"] > J["eps*"] + 10


def test_gamma_weights_are_positive_and_need_eta_above_zero():
    g = gamma_weights(linear_schedule(T=50), 0.7)
    assert g.shape == (50,) and (g > 0).all()
    with pytest.raises(ValueError, match=r"eta must be > 0"):
        gamma_weights(linear_schedule(T=50), 0.0)
