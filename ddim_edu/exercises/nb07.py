"""Exercises of notebook 07, the explorer: the noise a sampler adds, and the uniform timesteps."""

from __future__ import annotations

import torch

from ..sampling import ddim_coefficients
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
