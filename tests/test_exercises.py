"""Every checker accepts a correct answer and names the typical mistakes, each in its own words."""

import math

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


HALF = int(torch.nonzero(linear_schedule().alpha_bar.sqrt() < 0.5)[0])

CORRECT = {
    "01.1": alpha_bar_ok,
    "01.2": q_sample_ok,
    "01.3": HALF,
    "01.4": posterior_variance_ok,
    "02.1": sigma_ok,
    "02.2": posterior_mean_ok,
    "02.3": ddim_step_ok,
}

# --- typical mistakes, each with the words its feedback must contain --------------------------------

MISTAKES = {
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
    "02.1": [
        (lambda a, p, e: sigma_ok(a, p, e) ** 2, "a square root is missing"),
        (lambda a, p, e: e * sigma_ok(a, p, e), "η is applied twice"),
        (lambda a, p, e: e * math.sqrt(1 - a / p), "√((1 − ᾱ_{t−1}) / (1 − ᾱ_t)) is missing"),
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
            "must be √(1 − ᾱ_{t−1} − σ²)",
        ),
    ],
}


def test_every_exercise_has_a_correct_answer_and_mistakes():
    assert set(CORRECT) == set(EXERCISES) == set(MISTAKES)


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
