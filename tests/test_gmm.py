import math

import pytest
import torch

from ddim_edu.gmm import GaussianMixture
from ddim_edu.metrics import mixture_moments
from ddim_edu.schedule import linear_schedule


def reference_distribution(mix):
    comp = torch.distributions.MultivariateNormal(mix.means, covariance_matrix=mix.covs)
    return torch.distributions.MixtureSameFamily(torch.distributions.Categorical(mix.weights), comp)


def test_log_prob_matches_torch_distributions(mixture):
    x = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 1.5
    assert torch.allclose(
        mixture.log_prob(x), reference_distribution(mixture).log_prob(x), atol=1e-10
    )


def test_noisy_marginal_matches_monte_carlo(mixture, schedule):
    gen = torch.Generator().manual_seed(1)
    t = 300
    a = schedule.alpha_bar_at(t)
    x0 = mixture.sample(200_000, gen)
    xt = math.sqrt(a) * x0 + math.sqrt(1 - a) * torch.randn(
        x0.shape, dtype=torch.float64, generator=gen
    )
    q_t = mixture.noisy(a)
    assert torch.allclose(xt.mean(0), q_t.mean(), atol=0.01)
    assert torch.allclose(torch.cov(xt.T), q_t.covariance(), atol=0.01)


def test_score_is_the_gradient_of_the_log_density(mixture, schedule):
    x = torch.randn(
        64, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2)
    ).requires_grad_()
    for t in (0, 100, 600):
        logp = mixture.log_prob_t(x, t, schedule).sum()
        (grad,) = torch.autograd.grad(logp, x)
        assert torch.allclose(mixture.score(x.detach(), t, schedule), grad, atol=1e-9)


def test_eps_star_of_a_single_gaussian_is_linear():
    mu = torch.tensor([[0.5, -1.0]], dtype=torch.float64)
    cov = torch.tensor([[[0.3, 0.1], [0.1, 0.2]]], dtype=torch.float64)
    mix = GaussianMixture([1.0], mu, cov)
    sch = linear_schedule()
    x = torch.randn(10, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    t = 250
    a = sch.alpha_bar_at(t)
    c_t = a * cov[0] + (1 - a) * torch.eye(2, dtype=torch.float64)
    expected = math.sqrt(1 - a) * torch.linalg.solve(c_t, (x - math.sqrt(a) * mu).T).T
    assert torch.allclose(mix.eps(x, t, sch), expected, atol=1e-12)


def test_eps_star_is_the_posterior_mean_of_the_noise(mixture, schedule):
    # E[eps | x_t] estimated by importance weighting x_0 draws: w_i propto N(x_t; sqrt(a) x0_i, (1-a) I)
    gen = torch.Generator().manual_seed(4)
    t = 400
    a = schedule.alpha_bar_at(t)
    x0 = mixture.sample(400_000, gen)
    xt = torch.tensor([[0.3, -0.2], [1.0, 0.8]], dtype=torch.float64)
    for x in xt:
        eps_i = (x - math.sqrt(a) * x0) / math.sqrt(1 - a)
        w = torch.softmax(-0.5 * (eps_i**2).sum(1), 0)
        mc = (w[:, None] * eps_i).sum(0)
        assert torch.allclose(mixture.eps(x[None], t, schedule)[0], mc, atol=0.01)


def test_eps_accepts_one_timestep_per_row_and_keeps_dtype(mixture, schedule):
    x = torch.randn(6, 2, generator=torch.Generator().manual_seed(5))  # float32
    t = torch.tensor([0, 10, 10, 500, 999, 0])
    out = mixture.eps(x, t, schedule)
    assert out.dtype == torch.float32 and out.shape == (6, 2)
    for i in range(6):
        assert torch.allclose(out[i], mixture.eps(x[i : i + 1], int(t[i]), schedule)[0])


def test_sample_has_the_mixture_moments(mixture):
    x = mixture.sample(100_000, torch.Generator().manual_seed(6))
    assert x.shape == (100_000, 2) and x.dtype == torch.float64
    w, m, c = mixture_moments(x, mixture)
    assert torch.allclose(w, mixture.weights, atol=0.01)
    assert torch.allclose(m, mixture.means, atol=0.02)
    assert torch.allclose(c, mixture.covs, atol=0.01)


def test_bad_mixture_arguments():
    eye = torch.eye(2).expand(2, 2, 2)
    with pytest.raises(ValueError, match="weights must be positive and sum to 1"):
        GaussianMixture([0.5, 0.6], torch.zeros(2, 2), eye)
    with pytest.raises(ValueError, match=r"covs must have shape \(K, d, d\) = \(2, 2, 2\)"):
        GaussianMixture([0.5, 0.5], torch.zeros(2, 2), torch.eye(2))
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture([1.0], torch.zeros(1, 2), -torch.eye(2)[None])
    mix = GaussianMixture([1.0], torch.zeros(1, 2), torch.eye(2)[None])
    with pytest.raises(ValueError, match=r"x must have shape \(N, 2\)"):
        mix.log_prob(torch.zeros(3, 3))
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        mix.sample(0)
