"""What every notebook's exercises share: the feedback, the registry, and the comparison helpers.

A notebook's module declares each exercise with ``@exercise(id, title, skeleton)`` right above
its checker. A checker takes the student's answer and a seed and returns ``(ok, message)``; it
raises ``_Reject`` when the answer cannot even be checked (not a function, raised, returned
nothing, ran past the time limit), and ``check`` turns that into feedback.

Every call of a student's function goes through ``_call``, which guards the checker against it:
the function gets copies of its inputs (so it cannot change the checker's reference, nor pass by
changing its input in place), the global torch state it may change (default dtype, random
state, thread count, grad mode) is put back afterwards, and a call that runs past ``TIME_LIMIT``
seconds is stopped. The limit uses SIGALRM, so it holds in the main thread on Linux and macOS
(where notebook kernels run cells); on Windows or off the main thread a call runs without one.
A pure-Python loop is stopped at once; a single long torch operation only once it returns.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

TIME_LIMIT = 60.0  # seconds one call of a student's function may run (0: no limit); the answers
# run in milliseconds, so one this slow never returns

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


def _on_draws(once: Callable, fn: object, seed: int, draws: int = 3) -> tuple[bool, str]:
    """``once(fn, gen)`` on ``draws`` independent draws from one seeded generator: the first
    failure's verdict, or the last success's. For answers that are one number, which a wrong
    formula can match by chance on a single draw."""
    gen = _rng(seed)
    for _ in range(draws):
        ok, message = once(fn, gen)
        if not ok:
            break
    return ok, message


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


class _TimeUp(BaseException):
    """Raised in a student's function when it runs past the time limit; a BaseException, so that
    an ``except Exception`` inside the student's loop does not swallow it."""


def _copy(value: object) -> object:
    """A copy a student's function may change freely: tensors cloned, anything else deep-copied
    (arrays, lists, dicts); what cannot be copied (a generator, say) is passed as it is."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone().requires_grad_(value.requires_grad)
    try:
        return copy.deepcopy(value)  # numbers, strings and functions come back as they are
    except Exception:
        return value


@contextlib.contextmanager
def _torch_state_kept() -> Iterator[None]:
    """Put back the global torch state a student's function may have changed."""
    dtype, rng = torch.get_default_dtype(), torch.get_rng_state()
    threads, grad = torch.get_num_threads(), torch.is_grad_enabled()
    try:
        yield
    finally:
        torch.set_default_dtype(dtype)
        torch.set_rng_state(rng)
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        torch.set_grad_enabled(grad)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise _TimeUp in the code run inside once ``seconds`` have passed.

    SIGALRM reaches the main thread only, and Windows has none: elsewhere there is no limit. A
    timer already running (someone else's) is paused and resumed with the time it had left.
    """
    main_thread = threading.current_thread() is threading.main_thread()
    if seconds <= 0 or not (hasattr(signal, "setitimer") and main_thread):
        yield
        return
    running = True

    def stop(signum, frame):
        if running:
            raise _TimeUp

    previous = signal.signal(signal.SIGALRM, stop)
    outer, outer_interval = signal.setitimer(signal.ITIMER_REAL, seconds)
    start = time.monotonic()
    try:
        yield
    finally:
        running = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            left = max(outer - (time.monotonic() - start), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def _call(fn: object, *args) -> object:
    """fn(*args) on copies of args, with global torch state put back after and the time limit
    enforced; or _Reject with the reason it could not be called, ran too long or returned nothing."""
    if not callable(fn):
        raise _Reject(f"Expected a function, got {type(fn).__name__}.")
    limit = TIME_LIMIT
    copies = [_copy(arg) for arg in args]
    try:
        with _torch_state_kept(), _time_limit(limit):
            out = fn(*copies)
    except _TimeUp:
        raise _Reject(
            f"Your function ran past {limit:g} second{'' if limit == 1 else 's'} and was stopped. "
            "Hint: look for a loop that never ends, such as a `while` whose condition never changes."
        ) from None
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
