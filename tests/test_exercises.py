"""Every checker accepts a correct answer and names the typical mistakes, each in its own words."""

import math
import signal
import threading
import time

import pytest
import torch

from ddim_edu.exercises import EXERCISES, check
from ddim_edu.schedule import linear_schedule

# --- correct answers (written differently from the package's reference on purpose) -------------


def alpha_bar_ok(betas):
    return torch.exp(torch.cumsum(torch.log1p(-betas), 0))


def q_sample_ok(x0, a, eps):
    return a**0.5 * x0 + (1 - a) ** 0.5 * eps


def posterior_variance_ok(a_t, a_prev):
    return (1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev)


def sigma_ok(a_t, a_prev, eta):
    return eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))


def posterior_mean_ok(x0, xt, a_t, a_prev, sigma):
    eps = (xt - a_t**0.5 * x0) / (1 - a_t) ** 0.5
    return a_prev**0.5 * x0 + (1 - a_prev - sigma**2) ** 0.5 * eps


def ddim_step_ok(xt, eps, a_t, a_prev, eta, z):
    from ddim_edu.sampling import ddim_step

    s = sigma_ok(a_t, a_prev, eta)
    x0 = (xt - (1 - a_t) ** 0.5 * eps) / a_t**0.5
    return ddim_step(eps, x0, a_prev, s, s, z)


def noise_memory_ok(alpha_bar, taus, eta):
    # the old noise's share of the variance multiplies along tau; the correlation is its root
    a = [float(alpha_bar[t]) for t in taus]
    kept = [1.0]
    for a_t, a_p in zip(a, a[1:]):
        kept.append(kept[-1] * (1 - sigma_ok(a_t, a_p, eta) ** 2 / (1 - a_p)))
    return torch.tensor(kept).sqrt()


def _noise_memory_paired_with(prev):
    def fn(alpha_bar, taus, eta):
        out = [1.0]
        for t in taus[:-1]:
            a, p = float(alpha_bar[t]), float(alpha_bar[prev(t, len(alpha_bar), len(taus))])
            out.append(out[-1] * (1 - sigma_ok(a, p, eta) ** 2 / (1 - p)) ** 0.5)
        return out

    return fn


def _noise_memory_fresh_share(alpha_bar, taus, eta):
    out = [1.0]
    for t, t_prev in zip(taus, taus[1:]):
        a, p = float(alpha_bar[t]), float(alpha_bar[t_prev])
        out.append(out[-1] * sigma_ok(a, p, eta) / (1 - p) ** 0.5)
    return out


def simple_loss_ok(net, x0, t, eps, ab):
    a = ab[t].view(-1, 1)
    return torch.mean((net(a.sqrt() * x0 + (1 - a).sqrt() * eps, t) - eps) ** 2)


def v_target_ok(x0, eps, a):
    return math.sqrt(a) * eps - math.sqrt(1 - a) * x0


def irreducible_loss_ok(var, a):
    return 1 - torch.mean((1 - a) / (a * var + 1 - a))  # what the regression on x_t leaves of Var ε


def ode_ok(x, a):
    return x / a**0.5, ((1 - a) / a) ** 0.5


def euler_ok(xt, eps, a, p):
    from ddim_edu.sampling import ddim_step

    x0 = (xt - (1 - a) ** 0.5 * eps) / a**0.5
    return ddim_step(eps, x0, p, 0.0)


def pf_ok(score_q, x, a):
    return -((1 - a) ** 0.5) * score_q(x)  # ε* itself (Tweedie), not the route through p_s


def slerp_ok(z0, z1, a):
    from ddim_edu.latent import slerp

    return slerp(z0, z1, a)


def invert_ok(x, eps, a_from, a_to):
    x0 = (x - (1 - a_from) ** 0.5 * eps) / a_from**0.5
    return a_to**0.5 * x0 + (1 - a_to) ** 0.5 * eps


Z99 = 2.5758293035489  # the standard normal's 99.5 % quantile


def norm_band_ok(d):
    # ||x|| itself treated as normal: mean sqrt(d - 1/2), standard deviation 1/sqrt(2)
    centre, half = math.sqrt(d - 0.5), Z99 / math.sqrt(2)
    return centre - half, centre + half


def total_noise_ok(S, eta):  # noqa: N803
    from ddim_edu.forward import ddim_sigma
    from ddim_edu.schedule import timesteps

    sch = linear_schedule()
    taus = timesteps(S)
    pairs = list(zip(taus[:-1], taus[1:]))  # the last step (to alpha_bar = 1) adds nothing
    return sum(ddim_sigma(sch.alpha_bar_at(t), sch.alpha_bar_at(p), eta) ** 2 for t, p in pairs)


def uniform_ok(S, T):  # noqa: N803
    return list(range(0, T, T // S))[:S][::-1]


def _euler_ends(eps_model, x_T, schedule, steps):  # noqa: N803
    """eta = 0 end points as Euler steps of eq. 14 in (s, x-bar), one per S in steps, then T."""
    ends = []
    for S in [*steps, schedule.T]:  # noqa: N806
        taus = list(range(0, schedule.T, schedule.T // S))[:S][::-1]
        x = x_T.clone()
        for i, t in enumerate(taus):
            a = float(schedule.alpha_bar[t])
            p = float(schedule.alpha_bar[taus[i + 1]]) if i + 1 < len(taus) else 1.0
            s, s_prev = ((1 - a) / a) ** 0.5, ((1 - p) / p) ** 0.5
            x = p**0.5 * (x / a**0.5 + (s_prev - s) * eps_model(x, torch.full((len(x),), t)))
        ends.append(x)
    return ends[:-1], ends[-1]


def endpoint_gaps_ok(eps_model, x_T, schedule, steps):  # noqa: N803
    ends, full = _euler_ends(eps_model, x_T, schedule, steps)
    return [float(torch.sqrt(torch.mean((e - full) ** 2))) for e in ends]


def _both_halves(net, x, t, y, null=-1):
    """One call of the 2B rows (classes, then `null`), split into (conditional, unconditional)."""
    out = net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, null)]))
    return out[: len(x)], out[len(x) :]


def guided_eps_ok(net, x, t, y, w):
    cond, uncond = _both_halves(net, x, t, y)
    return (1 - w) * uncond + w * cond  # the same line through both, written from the other end


def edit_ok(model, x0, source, target, taus, w):
    from ddim_edu.fast import FastSampler
    from ddim_edu.guidance import ClassConditioned
    from ddim_edu.sampling import ddim_invert

    code = ddim_invert(ClassConditioned(model, source), x0, model.schedule, taus, progress=False)
    decoder = ClassConditioned(model, target, guidance_scale=w)
    return FastSampler(decoder, model.schedule, taus, clip=1.0)(code)


def _edit_with(encode_labels, encode_w, decode_labels, clip):
    def fn(model, x0, source, target, taus, w):
        from ddim_edu.guidance import ClassConditioned
        from ddim_edu.sampling import ddim_invert, ddim_sample

        labels = {"source": source, "target": target, None: None}
        enc = ClassConditioned(model, labels[encode_labels], guidance_scale=encode_w or w)
        code = ddim_invert(enc, x0, model.schedule, taus, progress=False)
        dec = ClassConditioned(model, labels[decode_labels], guidance_scale=w)
        return ddim_sample(dec, code, model.schedule, taus, clip=clip, progress=False)

    return fn


def clip_x0_ok(x_t, eps, a, c):
    x0 = torch.clamp((x_t - (1 - a) ** 0.5 * eps) / a**0.5, min=-c, max=c)
    return (x_t - a**0.5 * x0) / (1 - a) ** 0.5, x0


def overshoot_ok(alpha_bar, taus):
    prev = [*alpha_bar[torch.tensor(taus[1:])].tolist(), 1.0]
    return [
        t
        for t, a, p in zip(taus[:-1], alpha_bar[torch.tensor(taus)].tolist(), prev)
        if 1 - a / p > 1 - p
    ]


def matched_speedup_ok(ddim, ddpm, T=1000):  # noqa: N803
    ddpm = torch.tensor(ddpm, dtype=torch.float64)
    for S in sorted(ddim):  # noqa: N806
        d = torch.tensor(ddim[S], dtype=torch.float64) - ddpm
        if d.mean() <= 2 * d.std() / len(d) ** 0.5:
            return T / S


def _sigma_eta_one_overshoot(alpha_bar, taus):
    out = []
    for t, p in zip(taus, taus[1:]):
        a, ap = float(alpha_bar[t]), float(alpha_bar[p])
        if sigma_ok(a, ap, 1.0) > (1 - ap) ** 0.5:
            out.append(t)
    return out


def _with_last_overshoot(alpha_bar, taus):
    prev = [*alpha_bar[torch.tensor(taus[1:])].tolist(), 1.0]
    return [
        t
        for t, a, p in zip(taus, alpha_bar[torch.tensor(taus)].tolist(), prev)
        if 1 - a / p > 1 - p
    ]


def _speedup_with(rule):
    def fn(ddim, ddpm, T=1000):  # noqa: N803
        ddpm = torch.tensor(ddpm, dtype=torch.float64)
        for S in sorted(ddim):  # noqa: N806
            if rule(torch.tensor(ddim[S], dtype=torch.float64), ddpm):
                return T / S

    return fn


HALF = int(torch.nonzero(linear_schedule().alpha_bar.sqrt() < 0.5)[0])


def _snr_above_one(rule):
    """01.5's counts [linear, cosine] under a rule applied to each schedule's alpha_bar."""
    from ddim_edu.schedule import cosine_schedule

    return [int(rule(s.alpha_bar).sum()) for s in (linear_schedule(), cosine_schedule())]


SNR_ABOVE_ONE = _snr_above_one(lambda ab: ab / (1 - ab) > 1)

CORRECT = {
    "01.1": alpha_bar_ok,
    "01.2": q_sample_ok,
    "01.3": HALF,
    "01.4": posterior_variance_ok,
    "01.5": torch.tensor(_snr_above_one(lambda ab: ab > 0.5)),  # SNR > 1 means alpha_bar > 1/2
    "02.1": sigma_ok,
    "02.2": posterior_mean_ok,
    "02.3": ddim_step_ok,
    "02.4": noise_memory_ok,
    "03.1": simple_loss_ok,
    "03.2": v_target_ok,
    "03.3": irreducible_loss_ok,
    "04.1": ode_ok,
    "04.2": euler_ok,
    "04.3": pf_ok,
    "05.1": overshoot_ok,
    "05.2": matched_speedup_ok,
    "06.1": slerp_ok,
    "06.2": invert_ok,
    "06.3": norm_band_ok,
    "07.1": total_noise_ok,
    "07.2": uniform_ok,
    "07.3": endpoint_gaps_ok,
    "08.1": guided_eps_ok,
    "08.2": edit_ok,
    "08.3": clip_x0_ok,
}

# --- typical mistakes, each with the words its feedback must contain --------------------------------

MISTAKES = {
    "03.1": [
        (
            lambda net, x0, t, e, ab: torch.mean(
                (net(ab[t].view(-1, 1).sqrt() * x0 + (1 - ab[t].view(-1, 1)).sqrt() * e, t) - x0)
                ** 2
            ),
            "target is the noise",
        ),
        (
            lambda net, x0, t, e, ab: torch.mean(
                (net(ab[t].view(-1, 1) * x0 + (1 - ab[t].view(-1, 1)) * e, t) - e) ** 2
            ),
            "lacks its square roots",
        ),
        (lambda net, x0, t, e, ab: simple_loss_ok(net, x0, t, e, ab) * x0.numel(), "summed"),
    ],
    "03.2": [
        (lambda x0, e, a: -v_target_ok(x0, e, a), "sign is flipped"),
        (lambda x0, e, a: math.sqrt(1 - a) * e - math.sqrt(a) * x0, "swapped"),
    ],
    "03.3": [
        (lambda v, a: 1 - irreducible_loss_ok(v, a), "part of the noise that x_t explains"),
        (lambda v, a: irreducible_loss_ok(v, a) * v.numel(), "summed over the dimensions"),
        (lambda v, a: torch.mean(v * (1 - a) / (a * v + 1 - a)), "best x_0 prediction"),
        (lambda v, a: a * v.mean() / (a * v.mean() + 1 - a), "averaged the variances"),
        (lambda v, a: torch.mean(v / (v + 1 - a)), "scaled by √ᾱ"),
    ],
    "04.1": [
        (lambda x, a: (x * a**0.5, ((1 - a) / a) ** 0.5), "shrinks the signal once more"),
        (lambda x, a: (x / a**0.5, (1 - a) / a), "s lacks its square root"),
        (lambda x, a: (x / a**0.5, (a / (1 - a)) ** 0.5), "upside down"),
    ],
    "04.2": [
        (lambda xt, e, a, p: euler_ok(xt, e, a, p) / p**0.5, "You returned x̄_{t−1}"),
        (
            lambda xt, e, a, p: (
                p**0.5 * (xt / a**0.5 + (((1 - a) / a) ** 0.5 - ((1 - p) / p) ** 0.5) * e)
            ),
            "wrong way",
        ),
    ],
    "04.3": [
        (lambda sq, x, a: -(((1 - a) / a) ** 0.5) * sq(x), "taken with respect to x̄"),
        (lambda sq, x, a: -((1 - a) ** 0.5) / a * sq(x), "upside down"),
        (lambda sq, x, a: (1 - a) ** 0.5 * sq(x), "sign is flipped"),
        (lambda sq, x, a: -0.5 * (1 - a) ** 0.5 * sq(x), "factor ½ too small"),
    ],
    "05.1": [
        (_sigma_eta_one_overshoot, "never exceeds √(1 − ᾱ_prev)"),
        (_with_last_overshoot, "draws no noise at all"),
        (lambda a, taus: [taus.index(t) for t in overshoot_ok(a, taus)], "positions in taus"),
    ],
    "05.2": [
        (_speedup_with(lambda x, y: (x - y).mean() <= 0), "≤ 0"),
        (
            _speedup_with(
                lambda x, y: x.mean() - y.mean() <= 2 * (x.var() / len(x) + y.var() / len(y)) ** 0.5
            ),
            "unpaired spreads",
        ),
        (
            _speedup_with(lambda x, y: (x - y).mean() <= 2 * (x - y).std()),
            "not the standard deviation",
        ),
        (lambda d, p, T=1000: 1 / matched_speedup_ok(d, p, T), "Upside down"),
    ],
    "06.1": [
        (lambda z0, z1, a: (1 - a) * z0 + a * z1, "linear interpolation"),
        (lambda z0, z1, a: slerp_ok(z0, z1, 1 - a), "wrong way"),
    ],
    "06.2": [
        (lambda x, e, f, t: invert_ok(x, e, t, f), "levels are swapped"),
        (
            lambda x, e, f, t: t**0.5 * (x - (1 - f) ** 0.5 * e) / f**0.5,
            "noise direction is missing",
        ),
    ],
    "06.3": [
        (
            lambda d: (d - Z99 * (2 * d) ** 0.5, d + Z99 * (2 * d) ** 0.5),
            "band of ‖x‖², not of ‖x‖",
        ),
        (lambda d: (d**0.5 - Z99, d**0.5 + Z99), "√2 times too wide"),
        (lambda d: (-Z99, Z99), "one coordinate of x"),
        (lambda d: norm_band_ok(d)[::-1], "ends are swapped"),
        (lambda d: (d**0.5 - 1.96 / 2**0.5, d**0.5 + 1.96 / 2**0.5), "95 %"),
        (
            lambda d: ((d - Z99 * (2 * d) ** 0.5) ** 0.5, (d + Z99 * (2 * d) ** 0.5) ** 0.5),
            "‖x‖² is skewed",
        ),
    ],
    "07.1": [
        (lambda S, eta: _sum_sigma(S, eta), "added the σ"),
        (lambda S, eta: _with_last(S, eta), "grows like η², not like η"),
    ],
    "07.2": [
        (lambda S, T: uniform_ok(S, T)[::-1], "ascending"),
        (lambda S, T: [T - 1 - i * (T // S) for i in range(S)], "trailing"),
    ],
    "07.3": [
        (
            lambda m, x, sch, st: [
                (e - f).abs().mean() for e, f in _pairs_with(_euler_ends(m, x, sch, st))
            ],
            "root mean square",
        ),
        (
            lambda m, x, sch, st: [
                (e - f).norm(dim=1).mean() for e, f in _pairs_with(_euler_ends(m, x, sch, st))
            ],
            "per coordinate",
        ),
        (
            lambda m, x, sch, st: [
                (e - x).pow(2).mean().sqrt() for e in _euler_ends(m, x, sch, st)[0]
            ],
            "compared each sample with x_T",
        ),
        (
            lambda m, x, sch, st: (
                lambda ends: [(e - ends[-1]).pow(2).mean().sqrt() for e in ends]
            )(_euler_ends(m, x, sch, st)[0]),
            "the reference is the T-step sampler",
        ),
    ],
    "08.1": [
        (
            lambda net, x, t, y, w: (lambda c, u: c + w * (c - u))(*_both_halves(net, x, t, y)),
            "(1 + w) convention",
        ),
        (
            lambda net, x, t, y, w: (lambda c, u: c + w * (u - c))(*_both_halves(net, x, t, y)),
            "halves are swapped",
        ),
        (
            lambda net, x, t, y, w: (lambda c, u: u + w * (c - u))(*_both_halves(net, x, t, y, 0)),
            "Label 0 is the digit zero",
        ),
        (
            lambda net, x, t, y, w: (lambda c, u: u + w * c)(*_both_halves(net, x, t, y)),
            "w times a difference",
        ),
        (
            lambda net, x, t, y, w: (
                net(x, t, torch.full_like(y, -1))
                + w * (net(x, t, y) - net(x, t, torch.full_like(y, -1)))
            ),
            "The numbers are right, but the network ran 3 times",
        ),
        (
            lambda net, x, t, y, w: net(
                torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, torch.full_like(y, -1)])
            ),
            "split it into the conditional and the unconditional halves",
        ),
    ],
    "08.2": [
        (_edit_with("source", 1.0, "source", 1.0), "decoded under the source classes"),
        (_edit_with("target", 1.0, "target", 1.0), "encoded under the target classes"),
        (_edit_with("source", None, "target", 1.0), "encoded with guidance w"),
        (_edit_with(None, 1.0, "target", 1.0), "encoded with no class"),
        (_edit_with("source", 1.0, "target", None), "does not clip"),
    ],
    "08.3": [
        (lambda x, e, a, c: (e, clip_x0_ok(x, e, a, c)[1]), "kept the model's ε"),
        (lambda x, e, a, c: clip_x0_ok(x, e, a, c)[::-1], "order (x0, eps)"),
        (
            lambda x, e, a, c: (
                (x - a * clip_x0_ok(x, e, a, c)[1]) / (1 - a),
                clip_x0_ok(x, e, a, c)[1],
            ),
            "lacks its square roots",
        ),
        (lambda x, e, a, c: clip_x0_ok(x, e, a, float("inf")), "Nothing was clamped"),
        (
            lambda x, e, a, c: (
                e.clamp(-c, c),
                (x - (1 - a) ** 0.5 * e.clamp(-c, c)) / a**0.5,
            ),
            "You clamped ε",
        ),
    ],
    "01.1": [
        (lambda b: 1 - b, "α_t = 1 − β_t itself"),
        (lambda b: torch.cumprod(b, 0), "multiplied the β's"),
        (
            lambda b: torch.cat([torch.ones(1, dtype=b.dtype), torch.cumprod(1 - b, 0)[:-1]]),
            "shifted by one step",
        ),
    ],
    "01.2": [
        (lambda x0, a, e: a * x0 + (1 - a) * e, "square roots are missing"),
        (lambda x0, a, e: (1 - a) ** 0.5 * x0 + a**0.5 * e, "swapped"),
        (lambda x0, a, e: a**0.5 * x0, "noise term is missing"),
    ],
    "01.3": [
        (int(torch.nonzero(linear_schedule().alpha_bar < 0.5)[0]), "coefficient is √ᾱ_t"),
        (HALF + 1, "Off by one"),
        (7, "look for the first t"),
    ],
    "01.4": [
        (lambda a, p: 1 - a / p, "That is β_t"),
        (lambda a, p: posterior_variance_ok(a, p) ** 0.5, "standard deviation"),
    ],
    "01.5": [
        (_snr_above_one(lambda ab: ab < 0.5), "noise dominates"),
        ([n + 1 for n in SNR_ABOVE_ONE], "one too many"),
        ([n - 1 for n in SNR_ABOVE_ONE], "one too few"),
        (_snr_above_one(lambda ab: ab.sqrt() > 0.5), "exercise 01.3's threshold"),
        (SNR_ABOVE_ONE[::-1], "swapped"),
        ([n / 1000 for n in SNR_ABOVE_ONE], "fractions"),
        ([SNR_ABOVE_ONE[0], SNR_ABOVE_ONE[1] + 7], "The linear count is right. cosine"),
    ],
    "02.1": [
        (lambda a, p, e: sigma_ok(a, p, e) ** 2, "a square root is missing"),
        (lambda a, p, e: e * sigma_ok(a, p, e), "η is applied twice"),
        (lambda a, p, e: e * math.sqrt(1 - a / p), "√((1 − ᾱ_prev) / (1 − ᾱ_t)) is missing"),
        (lambda a, p, e: e * math.sqrt((1 - p) / (1 - a) * (a / p)), "that is α_t, not β_t"),
    ],
    "02.2": [
        (
            lambda x0, xt, a, p, s: posterior_mean_ok(x0, xt, a, p, 0.0),
            "σ² is missing under the square root",
        ),
        (
            lambda x0, xt, a, p, s: (
                a**0.5 * x0 + (1 - p - s**2) ** 0.5 * (xt - a**0.5 * x0) / (1 - a) ** 0.5
            ),
            "x_0's coefficient uses ᾱ_t",
        ),
    ],
    "02.3": [
        (
            lambda xt, e, a, p, eta, z: (
                ddim_step_ok(xt, e, a, p, eta, torch.zeros_like(z)) + sigma_ok(a, p, eta) ** 2 * z
            ),
            "σ is applied twice",
        ),
        (
            lambda xt, e, a, p, eta, z: ddim_step_ok(xt, e, a, p, eta, torch.zeros_like(z)),
            "noise term is missing",
        ),
        (
            lambda xt, e, a, p, eta, z: (
                p**0.5 * (xt - (1 - a) ** 0.5 * e) / a**0.5
                + (1 - p) ** 0.5 * e
                + sigma_ok(a, p, eta) * z
            ),
            "σ² must come out of it",
        ),
    ],
    "02.4": [
        (_noise_memory_paired_with(lambda t, T, S: t - 1), "adjacent timestep t − 1"),
        (_noise_memory_paired_with(lambda t, T, S: max(t - T // S, 0)), "fixed stride"),
        (_noise_memory_fresh_share, "fresh shares"),
        (lambda a, taus, eta: noise_memory_ok(a, taus, eta) ** 2, "a square root is missing"),
        (lambda a, taus, eta: noise_memory_ok(a, taus, eta)[1:], "Start with 1.0"),
    ],
}


def _pairs_with(ends_and_full):
    ends, full = ends_and_full
    return [(e, full) for e in ends]


def _sum_sigma(S, eta):  # noqa: N803
    from ddim_edu.sampling import ddim_coefficients
    from ddim_edu.schedule import timesteps

    return sum(c.sigma_noise for c in ddim_coefficients(linear_schedule(), timesteps(S), eta))


def _with_last(S, eta):  # noqa: N803
    from ddim_edu.sampling import ddim_coefficients
    from ddim_edu.schedule import timesteps

    coeffs = ddim_coefficients(linear_schedule(), timesteps(S), 1.0)
    return eta * sum(c.sigma_noise**2 for c in coeffs)


def test_every_exercise_has_a_correct_answer_and_mistakes():
    assert set(CORRECT) == set(EXERCISES) == set(MISTAKES)


def test_each_exercise_lives_in_its_notebooks_module():
    assert list(EXERCISES) == sorted(EXERCISES)
    for exercise_id, ex in EXERCISES.items():
        assert ex.checker.__module__ == f"ddim_edu.exercises.nb{exercise_id[:2]}", exercise_id
        assert not ex.skeleton.startswith((" ", "\n")) and not ex.skeleton.endswith("\n")


def test_an_exercise_id_cannot_be_declared_twice():
    from ddim_edu.exercises._core import exercise

    with pytest.raises(ValueError, match="exercise 01.1 is declared twice"):
        exercise("01.1", "again", "x = ...")(lambda answer, seed: (True, ""))
    assert EXERCISES["01.1"].title == "ᾱ from the betas"


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_the_correct_answer_is_accepted(exercise):
    feedback = check(exercise, CORRECT[exercise])
    assert feedback.ok, feedback.message
    assert str(feedback).startswith(f"Exercise {exercise}: ✅ correct")


@pytest.mark.parametrize(
    "exercise, wrong, words",
    [(ex, wrong, words) for ex, cases in MISTAKES.items() for wrong, words in cases],
)
def test_typical_mistakes_get_their_own_message(exercise, wrong, words):
    feedback = check(exercise, wrong)
    assert not feedback.ok
    assert words in feedback.message, feedback.message
    assert "incorrect" not in feedback.message.lower()


def test_the_sigma_checker_speaks_of_ddpm_at_eta_one():
    feedback = check("02.1", lambda a, p, e: e * math.sqrt(1 - a / p))
    assert "at η = 1 should equal DDPM's posterior standard deviation: got" in feedback.message


@pytest.mark.parametrize("exercise", sorted(EXERCISES))
def test_an_unanswered_skeleton_says_so(exercise):
    namespace = {}
    exec(EXERCISES[exercise].skeleton, namespace)  # noqa: S102 - the skeleton is our own code
    answer = [v for k, v in namespace.items() if not k.startswith("__")][0]
    feedback = check(exercise, answer)
    assert not feedback.ok
    assert "`...`" in feedback.message


def test_other_wrong_answers_report_the_largest_difference():
    feedback = check("01.4", lambda a, p: 0.5)
    assert "differs from the reference: got 0.5, expected" in feedback.message
    assert "Hint: β̃_t =" in feedback.message


def test_a_function_that_raises_is_reported_not_propagated():
    feedback = check("01.2", lambda x0, a, e: x0 @ e)
    assert not feedback.ok and feedback.message.startswith("Your function raised RuntimeError")


def test_unknown_exercise_is_refused():
    with pytest.raises(ValueError, match="exercise must be one of 01.1"):
        check("09.9", None)


@pytest.mark.parametrize("seed", [0, 1, 2, 12345])
def test_checkers_hold_for_any_draw_of_inputs(seed):
    for exercise in EXERCISES:
        assert check(exercise, CORRECT[exercise], seed=seed).ok
        for wrong, words in MISTAKES[exercise]:
            feedback = check(exercise, wrong, seed=seed)
            assert not feedback.ok and words in feedback.message, (exercise, seed, feedback.message)


def test_feedback_renders_in_a_notebook():
    feedback = check("02.1", ...)
    assert feedback._repr_markdown_().startswith("**Exercise 02.1: ❌ not yet.** Not answered yet")


def test_sigma_hat_overshoots_on_the_last_three_noisy_steps_at_S_10():  # noqa: N802
    # notebook 05's claim, through the checker's reference and an answer written apart from it
    from ddim_edu.exercises.nb05 import _reference_overshoot
    from ddim_edu.schedule import timesteps

    schedule = linear_schedule()
    assert _reference_overshoot(schedule, timesteps(10)) == [300, 200, 100]
    assert overshoot_ok(schedule.alpha_bar, timesteps(10)) == [300, 200, 100]
    assert overshoot_ok(schedule.alpha_bar, timesteps(100)) == [20, 10]


def test_a_scalar_answer_cannot_pass_by_a_chance_match():
    # the simple loss with x_0 as target is one number drawn like the right one: it must be
    # rejected on every seed, because the checker asks for agreement on three independent draws
    def x0_target(net, x0, t, e, ab):
        a = ab[t].view(-1, 1)
        return torch.mean((net(a.sqrt() * x0 + (1 - a).sqrt() * e, t) - x0) ** 2)

    assert not any(check("03.1", x0_target, seed=s).ok for s in range(500))


# --- the checker guards itself against the student's function ----------------------------------


def test_an_answer_that_changes_alpha_bar_in_place_is_not_accepted():
    # filling alpha_bar with ones makes x_t = x_0; the checker used to pass its own alpha_bar and
    # build the reference from it after the call, so this loss of the wrong input was accepted
    def sneaky(net, x0, t, eps, alpha_bar):
        alpha_bar.fill_(1.0)
        return torch.mean((net(x0, t) - eps) ** 2)

    for seed in range(5):
        feedback = check("03.1", sneaky, seed=seed)
        assert str(feedback).startswith("Exercise 03.1: ❌ not yet."), feedback.message
        assert "The network saw x_0 instead of the noisy x_t." in feedback.message


def test_the_students_function_gets_copies_of_its_inputs():
    from ddim_edu.exercises._core import _call

    x, w = torch.zeros(3), torch.ones(2, requires_grad=True)
    pair, table = [torch.zeros(2), 1.0], {"a": torch.zeros(2)}

    def vandal(x, w, pair, table):
        assert w.requires_grad and w.is_leaf
        x.add_(5)
        with torch.no_grad():
            w.mul_(3)
        pair[0].fill_(7)
        pair.append("extra")
        table["a"].fill_(9)
        table["b"] = 0
        return 1.0

    assert _call(vandal, x, w, pair, table) == 1.0
    assert x.tolist() == [0.0, 0.0, 0.0] and w.tolist() == [1.0, 1.0]
    assert pair[0].tolist() == [0.0, 0.0] and len(pair) == 2
    assert table["a"].tolist() == [0.0, 0.0] and list(table) == ["a"]


def test_global_torch_state_is_put_back_after_a_check():
    dtype, rng = torch.get_default_dtype(), torch.get_rng_state()
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()

    def careless(a_t, a_prev):  # right answer, wrong manners
        torch.set_default_dtype(torch.float64)
        torch.manual_seed(0)
        torch.randn(10)
        torch.set_grad_enabled(False)
        torch.set_num_threads(threads + 1)
        return posterior_variance_ok(a_t, a_prev)

    try:
        feedback = check("01.4", careless)
        state = (torch.get_default_dtype(), torch.get_num_threads(), torch.is_grad_enabled())
        same_rng = torch.equal(torch.get_rng_state(), rng)
    finally:  # a failure here must not leave float64 behind for the other tests
        torch.set_default_dtype(dtype)
        torch.set_rng_state(rng)
        torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)
    assert feedback.ok, feedback.message
    assert state == (torch.float32, threads, True)
    assert same_rng


def _loop(seconds: float, swallow: bool):
    """A student's function that does not return (within the test's patience, ``seconds``: the
    old checker waited that long, then reported "returned nothing", rather than hang the test)."""

    def plain(a_t, a_prev):
        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up:
            pass

    def swallowing(a_t, a_prev):  # what a student may write in a loop: must not defeat the limit
        give_up = time.monotonic() + seconds
        while time.monotonic() < give_up:
            try:
                time.sleep(0.01)
            except Exception:
                pass

    return swallowing if swallow else plain


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM timer on this platform")
@pytest.mark.parametrize("swallow", [False, True])
def test_a_function_that_never_returns_is_stopped_at_the_time_limit(monkeypatch, swallow):
    from ddim_edu.exercises import _core

    monkeypatch.setattr(_core, "TIME_LIMIT", 1.0)
    handler = signal.getsignal(signal.SIGALRM)
    start = time.monotonic()
    feedback = check("01.4", _loop(30.0, swallow))
    elapsed = time.monotonic() - start
    assert str(feedback).startswith(
        "Exercise 01.4: ❌ not yet. Your function ran past 1 second and was stopped. Hint: look "
        "for a loop that never ends"
    ), feedback.message
    assert 0.9 < elapsed < 5, elapsed
    assert signal.getsignal(signal.SIGALRM) is handler  # the alarm is handed back unarmed
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert check("01.4", posterior_variance_ok).ok  # and the next check runs as usual


def test_off_the_main_thread_a_check_runs_without_a_time_limit():
    # SIGALRM only reaches the main thread: elsewhere the checker must still work, just unlimited
    results = []
    worker = threading.Thread(target=lambda: results.append(check("01.4", posterior_variance_ok)))
    worker.start()
    worker.join(timeout=60)
    assert len(results) == 1 and results[0].ok, results
