"""Exercises of notebook 06, inversion and interpolation: slerp, one step of the encoder, and
the band where the norms of standard Gaussian codes lie."""

from __future__ import annotations

import math

import torch

from ..latent import lerp, slerp
from ..sampling import ddim_step, eps_and_x0
from ._core import _as_tensor, _call, _compare, _random_levels, _rng, _tensor, exercise


@exercise(
    "06.1",
    "spherical interpolation",
    '''
    def my_slerp(z0, z1, alpha):
        """The point a fraction alpha of the way from z0 to z1 along the great circle (1-D tensors)."""
        ...
    ''',
)
def _check_slerp(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    z0 = torch.randn(64, generator=gen, dtype=torch.float64)
    z1 = torch.randn(64, generator=gen, dtype=torch.float64)
    alphas = [0.0, 0.25, 0.5, 0.9]
    got, expected, lin, swapped = [], [], [], []
    for a in alphas:
        out = _call(fn, z0, z1, a)
        v = _as_tensor(out)
        if v is None or v.shape != z0.shape:
            return False, f"Expected a tensor of shape {tuple(z0.shape)}, got {out!r:.60}."
        got.append(v)
        expected.append(slerp(z0, z1, a))
        lin.append(lerp(z0, z1, a))
        swapped.append(slerp(z0, z1, 1 - a))
    theta = torch.arccos((z0 @ z1) / (z0.norm() * z1.norm()))
    no_division = torch.stack(
        [torch.sin((1 - a) * theta) * z0 + torch.sin(a * theta) * z1 for a in alphas]
    )
    mistakes = {
        "That is linear interpolation: its midpoint has a smaller norm than either end.": torch.stack(
            lin
        ),
        "α runs the wrong way: α = 0 must give z0 and α = 1 give z1.": torch.stack(swapped),
        "The weights are not divided by sin θ: the path leaves the circle between the ends.": no_division,
    }
    return _compare(
        torch.stack(got), torch.stack(expected), "slerp", mistakes,
        f"start from θ, the angle between z0 and z1 (here {float(theta):.3f} rad, from their dot "
        "product and norms). Each end gets a weight that is a sine of a fraction of θ; pick the "
        "fractions so that α = 0 gives z0 and α = 1 gives z1, and scale so that the point stays on "
        "the circle.",
    )  # fmt: skip


@exercise(
    "06.2",
    "one step of the encoder",
    '''
    def invert_step(x, eps, alpha_bar_from, alpha_bar_to):
        """x moved from level alpha_bar_from up to the noisier alpha_bar_to along the DDIM ODE."""
        ...
    ''',
)
def _check_invert_step(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    a_to, a_from = (float(v) for v in _random_levels(gen, n=1))  # a_to < a_from: noisier
    x = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    eps = torch.randn(32, 2, generator=gen, dtype=torch.float64)
    got = _tensor(fn, x, eps, a_from, a_to)
    # the encoder's step is the η = 0 update run upwards, as in sampling.ddim_invert
    _, x0 = eps_and_x0(eps, x, a_from)
    _, x0_wrong_level = eps_and_x0(eps, x, a_to)
    x0_no_roots = (x - (1 - a_from) * eps) / a_from
    mistakes = {
        "The levels are swapped: x_0 comes from the level you start at (ᾱ_from), the step lands on ᾱ_to.": ddim_step(
            eps, x0_wrong_level, a_from, 0.0
        ),
        "The predicted x_0 lacks its square roots.": ddim_step(eps, x0_no_roots, a_to, 0.0),
        "The noise direction is missing: add √(1 − ᾱ_to) ε.": math.sqrt(a_to) * x0,
    }
    return _compare(
        got,
        ddim_step(eps, x0, a_to, 0.0),
        "x at the noisier level",
        mistakes,
        "the encoder's step is the sampler's η = 0 step pointed the other way: first recover the "
        "predicted x_0 from x at the level you start from, then rebuild x at the level you go to "
        "from that x_0 and the same ε, with that level's two coefficients.",
    )


_Z99 = 2.5758293035489  # the standard normal's 99.5 % quantile: a 99 % band leaves 0.5 % each side
_Z95 = 1.9599639845401


def _norm_band(d: int, z: float = _Z99) -> tuple[float, float]:
    """The middle band of ||x|| for x ~ N(0, I_d): the chi-square quantiles by Wilson and
    Hilferty's cube-root approximation (within 0.01 of the exact ones from d = 16 on), square-rooted."""
    c = 2 / (9 * d)
    return tuple(math.sqrt(d * (1 - c + s * z * math.sqrt(c)) ** 3) for s in (-1, 1))


_BAND_MISTAKES = {
    "squared": "That is the band of ‖x‖², not of ‖x‖: its centre is d, not √d.",
    "unit": "Your band is √2 times too wide: ‖x‖ does not vary like one coordinate of x.",
    "coordinate": "That is where one coordinate of x lies, not the length of the whole vector.",
    "rms": "That is the band of ‖x‖ / √d (the rms of the coordinates); the question asks for ‖x‖.",
    "95": "That band holds 95 % of the norms, not 99 %.",
    "swapped": "The two ends are swapped: return (low, high).",
    "sqrt_of_squared": "Close: you took square roots of a symmetric band for ‖x‖², but ‖x‖² is skewed "
    "at small d (compare your band with draws at d = 64).",
}


@exercise(
    "06.3",
    "how wide is the shell of Gaussian codes",
    '''
    def norm_band(d):
        """(low, high): the middle 99 % of the norm of a standard Gaussian vector in d dimensions."""
        ...
    ''',
)
def _check_norm_band(fn, seed: int) -> tuple[bool, str]:
    gen = _rng(seed)
    dims = [64, 784, 3072, int(torch.randint(100, 2000, (1,), generator=gen))]
    got, expected = [], []
    wrong = {key: [] for key in _BAND_MISTAKES}
    for d in dims:
        out = _call(fn, d)
        v = _as_tensor(out)
        if v is None or v.numel() != 2:
            return False, f"Expected two numbers (low, high) for d = {d}, got {out!r:.60}."
        got.append(v.reshape(2))
        low, high = _norm_band(d)
        expected.append(torch.tensor([low, high], dtype=torch.float64))
        r, spread = math.sqrt(d), _Z99 * math.sqrt(2 * d)
        wrong["squared"].append([d - spread, d + spread])
        wrong["unit"].append([r - _Z99, r + _Z99])
        wrong["coordinate"].append([-_Z99, _Z99])
        wrong["rms"].append([low / r, high / r])
        wrong["95"].append(list(_norm_band(d, _Z95)))
        wrong["swapped"].append([high, low])
        wrong["sqrt_of_squared"].append([math.sqrt(max(d - spread, 0.0)), math.sqrt(d + spread)])
    got_t, expected_t = torch.stack(got), torch.stack(expected)
    # a band read off 10,000 draws is within a few hundredths of the exact one: 5 % of the width
    tol = 0.05 * (expected_t[:, 1] - expected_t[:, 0])[:, None]

    def close(values: torch.Tensor) -> bool:
        return bool(((got_t - values).abs() <= tol).all())

    if close(expected_t):
        widths = ", ".join(f"{hi - lo:.2f}" for lo, hi in expected_t.tolist()[:3])
        return True, (
            f"The band matches at d = {', '.join(map(str, dims))}. Its width hardly changes with d "
            f"({widths} at d = 64, 784, 3072) while its centre moves out like √d."
        )
    hint = (
        "‖x‖² is a sum of d independent squares of standard normals: work out its mean and "
        "variance, then how a small change of ‖x‖² moves ‖x‖ near √d, or draw many codes and read "
        "off the quantiles."
    )
    for key, message in _BAND_MISTAKES.items():
        if close(torch.tensor(wrong[key], dtype=torch.float64)):
            return False, f"{message} Hint: {hint}"
    i, j = divmod(int((got_t - expected_t).abs().argmax()), 2)
    g, e = float(got_t[i, j]), float(expected_t[i, j])
    return False, (
        f"At d = {dims[i]} the {'low' if j == 0 else 'high'} end differs: got {g:.4g}, expected "
        f"{e:.4g} (allowed: {float(tol[i]):.2g}). Hint: {hint}"
    )
