"""What every notebook's exercises share: the feedback, the registry, and the comparison helpers.

A notebook's module declares each exercise with ``@exercise(id, title, skeleton)`` right above
its checker. A checker takes the student's answer and a seed and returns ``(ok, message)``; it
raises ``_Reject`` when the answer cannot even be checked (not a function, raised, returned
nothing), and ``check`` turns that into feedback.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import torch

Checker = Callable[[object, int], tuple[bool, str]]


@dataclass
class Feedback:
    """The verdict on one answer: ``ok``, and a message that says why."""

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    @property
    def verdict(self) -> str:
        return f"Exercise {self.exercise}: {'✅ correct' if self.ok else '❌ not yet'}."

    def __str__(self) -> str:
        return f"{self.verdict} {self.message}"

    __repr__ = __str__

    def _repr_markdown_(self) -> str:
        return f"**{self.verdict}** {self.message}"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    skeleton: str  # the code a student starts from
    checker: Checker


REGISTRY: dict[str, Exercise] = {}


def exercise(exercise_id: str, title: str, skeleton: str) -> Callable[[Checker], Checker]:
    """Register the decorated function as the checker of exercise ``exercise_id``.

    ``skeleton`` is the code handed to students (signature, docstring, ``...`` where they write),
    written as it reads, indented with the call; the common indentation and the blank first and
    last lines are removed.
    """
    text = textwrap.dedent(skeleton).strip("\n")

    def register(checker: Checker) -> Checker:
        known = REGISTRY.get(exercise_id)
        if known is not None and known.checker.__qualname__ != checker.__qualname__:
            raise ValueError(f"exercise {exercise_id} is declared twice")
        REGISTRY[exercise_id] = Exercise(exercise_id, title, text, checker)
        return checker

    return register


# --- helpers --------------------------------------------------------------------------------------


def _rng(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _random_levels(gen: torch.Generator, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Pairs (alpha_bar_t, alpha_bar_prev) with 0 < alpha_bar_t < alpha_bar_prev < 1."""
    a_t = torch.rand(n, generator=gen, dtype=torch.float64) * 0.9 + 0.05
    a_prev = a_t + (1 - a_t) * (torch.rand(n, generator=gen, dtype=torch.float64) * 0.9 + 0.05)
    return a_t, a_prev


def _as_tensor(value: object) -> torch.Tensor | None:
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def _unanswered(answer: object) -> str | None:
    if answer is Ellipsis or answer is None:
        return "Not answered yet: replace the `...` with your answer."
    return None


class _Reject(Exception):
    """Raised inside a checker when an answer cannot be checked; ``check`` turns it into feedback."""


def _call(fn: object, *args) -> object:
    """fn(*args), or _Reject with the reason it could not be called or returned nothing."""
    if not callable(fn):
        raise _Reject(f"Expected a function, got {type(fn).__name__}.")
    try:
        out = fn(*args)
    except Exception as err:  # a student's function may raise anything
        raise _Reject(f"Your function raised {type(err).__name__}: {err}") from None
    if out is None or out is Ellipsis:
        raise _Reject(
            "Your function returned nothing: replace the `...` with your code and `return` the result."
        )
    return out


def _tensor(fn: object, *args, scalar: bool = False) -> torch.Tensor:
    """fn(*args) as a float64 tensor (one number when ``scalar``), or _Reject saying what came back."""
    out = _call(fn, *args)
    got = _as_tensor(out)
    if got is None or (scalar and got.numel() != 1):
        want = "one number" if scalar else "a tensor"
        raise _Reject(f"Expected {want}, got {type(out).__name__}: {str(out)[:60]}")
    return got.reshape(()) if scalar else got


def _floats(values) -> torch.Tensor:
    """A float64 tensor of numbers (python floats or one-element tensors)."""
    return torch.tensor([float(v) for v in values], dtype=torch.float64)


def _compare(
    got: torch.Tensor,
    expected: torch.Tensor,
    what: str,
    mistakes: dict[str, torch.Tensor],
    hint: str,
) -> tuple[bool, str]:
    """Equal within 1e-4 (relative), else name a known mistake, else the largest difference."""
    got, expected = got.double(), expected.double()
    if got.shape != expected.shape:
        return False, f"{what} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}."
    if torch.allclose(got, expected, rtol=1e-4, atol=1e-7):  # float32 answers pass too
        return True, f"{what} matches the reference on fresh random inputs."
    for message, wrong in mistakes.items():
        if wrong.shape == got.shape and torch.allclose(got, wrong.double(), rtol=1e-4, atol=1e-7):
            return False, f"{message} Hint: {hint}"
    i = int((got - expected).abs().argmax())
    g, e = float(got.reshape(-1)[i]), float(expected.reshape(-1)[i])
    return False, (
        f"{what} differs from the reference: got {g:.4g}, expected {e:.4g} "
        f"(largest difference {abs(g - e):.2g}). Hint: {hint}"
    )
