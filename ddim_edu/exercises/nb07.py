"""Exercises of notebook 07, the explorer: the noise a sampler adds, the uniform timesteps, and how
fast eta = 0 samples settle as S grows."""

from __future__ import annotations

import torch

from ..gmm import GaussianMixture
from ..sampling import ddim_coefficients, ddim_sample
from ..schedule import linear_schedule, timesteps
from ._core import _call, _compare, _floats, _rng, _tensor, exercise


@exercise(
    "07.1",
    "the noise a sampler adds",
    '''
    def total_noise_variance(S, eta):
        """The sum of sigma_t(eta)^2 over the steps of the linear schedule's uniform S-step sampler."""
        ...
    ''',
)
def _check_total_noise(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    cases = [
        (int(torch.randint(2, 60, (1,), generator=gen)), float(torch.rand(1, generator=gen)))
        for _ in range(4)
    ]
    cases[0] = (10, 1.0)
    schedule = linear_schedule()
    got, expected, sum_sigma, with_last = [], [], [], []
    for S, eta in cases:
        got.append(_tensor(fn, S, eta, scalar=True))
        # sigma_noise is the scale of the fresh noise: 0 on the last step, which adds none
        noise = [c.sigma_noise for c in ddim_coefficients(schedule, timesteps(S), eta)]
        noise_at_one = [c.sigma_noise for c in ddim_coefficients(schedule, timesteps(S), 1.0)]
        expected.append(sum(s**2 for s in noise))
        sum_sigma.append(sum(noise))
        with_last.append(sum(s**2 for s in noise_at_one) * eta)
    mistakes = {
        "You added the σ's; variances add, so sum σ².": _floats(sum_sigma),
        "σ_t(η)² grows like η², not like η: σ itself is linear in η.": _floats(with_last),
    }
    return _compare(
        _floats(got), _floats(expected), "the total variance", mistakes,
        "loop over `ddim_coefficients(linear_schedule(), timesteps(S), eta)` and add each step's `sigma_noise` squared.",
    )  # fmt: skip


@exercise(
    "07.2",
    "the uniform timesteps",
    '''
    def uniform_timesteps(S, T):
        """The S timesteps of the "uniform" spacing, in the order the sampler visits them."""
        ...
    ''',
)
def _check_uniform_timesteps(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    for S in [10, 1, 1000, int(torch.randint(2, 999, (1,), generator=gen))]:
        out = _call(fn, S, 1000)
        try:
            got = [int(v) for v in out]
        except (TypeError, ValueError):
            return False, f"Expected a list of ints, got {out!r:.80}."
        expected = timesteps(S, 1000, "uniform")
        if got == expected:
            continue
        if got == expected[::-1]:
            return (
                False,
                "The order is ascending: the sampler visits timesteps from noisy to clean, so list them descending.",
            )
        if got == timesteps(S, 1000, "trailing"):
            return (
                False,
                "That is the 'trailing' spacing (it starts at T − 1); 'uniform' is range(0, T, T // S), as the paper's code.",
            )
        if got == timesteps(S, 1000, "linspace"):
            return False, "That is the 'linspace' spacing; 'uniform' uses the step T // S from 0."
        return (
            False,
            f"For S = {S}: got {got[:5]}..., expected {expected[:5]}... Hint: print the first and last few entries of yours and compare: where does the uniform spacing start, which step does it use, and in which order does the sampler visit them?",
        )
    return True, "matches `timesteps(S, T, 'uniform')` for every S tried."


@exercise(
    "07.3",
    "predict, then check: how fast eta = 0 samples settle as S grows",
    '''
    def endpoint_gaps(eps_model, x_T, schedule, steps):
        """For each S in steps: the root-mean-square difference, over every coordinate of every
        sample, between the eta = 0 sample of the uniform S-step sampler and the eta = 0 sample
        of the T-step sampler, both from x_T (T = schedule.T). A list of len(steps) numbers."""
        ...
    ''',
)
def _check_endpoint_gaps(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    d, K = 2 + int(torch.randint(0, 2, (1,), generator=gen)), 3  # noqa: N806
    means = torch.randn(K, d, generator=gen, dtype=torch.float64) * 1.5
    scales = torch.rand(K, generator=gen, dtype=torch.float64) * 0.3 + 0.2
    covs = torch.eye(d, dtype=torch.float64) * scales[:, None, None] ** 2
    mixture = GaussianMixture(torch.full((K,), 1.0 / K, dtype=torch.float64), means, covs)
    T = 1000  # noqa: N806
    schedule = linear_schedule(T=T, beta_end=float(torch.rand(1, generator=gen)) * 0.02 + 0.01)
    model = mixture.eps_model(schedule)
    x_T = torch.randn(48, d, generator=gen, dtype=torch.float64)  # noqa: N806
    first = [5, 10, 25][int(torch.randint(0, 3, (1,), generator=gen))]
    steps = [first * k for k in (1, 2, 4, 8)]  # each S twice the one before

    def sample(S: int) -> torch.Tensor:  # noqa: N803
        return ddim_sample(model, x_T, schedule, timesteps(S, T), 0.0, progress=False)

    full = sample(T)
    ends = [sample(S) for S in steps]
    got = _tensor(fn, model, x_T.clone(), schedule, list(steps))
    expected = _floats([(e - full).pow(2).mean().sqrt() for e in ends])
    mistakes = {
        "You took the mean of the absolute differences; the gap asked for is a root mean square: "
        "square, average, then the root.": _floats([(e - full).abs().mean() for e in ends]),
        "You averaged each sample's whole distance ‖x − x'‖ over d coordinates at once; the gap is per "
        "coordinate: average the squares over every coordinate of every sample.": _floats(
            [(e - full).norm(dim=1).mean() for e in ends]
        ),
        "You compared each sample with x_T, where it started; compare it with where the T-step "
        "sampler ends from the same x_T.": _floats([(e - x_T).pow(2).mean().sqrt() for e in ends]),
        "You compared with the largest S in steps; the reference is the T-step sampler, which "
        "follows the ODE most closely.": _floats(
            [(e - ends[-1]).pow(2).mean().sqrt() for e in ends]
        ),
    }
    ok, message = _compare(
        got, expected, "the list of gaps", mistakes,
        "sample once with timesteps(T, T) and once per S with timesteps(S, T), both with eta = 0 "
        "from the same x_T, and compare the end points.",
    )  # fmt: skip
    if ok:
        ratios = ", ".join(f"{a / b:.2f}" for a, b in zip(expected.tolist(), expected.tolist()[1:]))
        message = (
            f"The gaps match on a random mixture (d = {d}, T = {T}) for S = {steps}. Each doubling "
            f"of S divides the gap by {ratios}: compare them with your prediction."
        )
    return ok, message
