"""Checkers for the notebooks' exercises: specific feedback, never only "incorrect".

Each exercise has an id ("01.2" = notebook 01, exercise 2), a skeleton (what a student starts
from: signature, docstring, ``...``) and a checker. A checker accepts any correct answer (a
function, or a value where the exercise asks for one), tests a function on fresh random inputs
against this package's own functions, and answers a wrong one with what differs, by how much, and
a hint; for the usual mistakes (alpha_t used for alpha_bar_t, a missing square root, sigma applied
twice, ...) it names the mistake.

    from ddim_edu.exercises import check
    check("02.1", my_sigma)        # shows the feedback; bool(feedback) is True when correct

One module per notebook (``nb01`` ... ``nb08``) holds that notebook's exercises, each skeleton
written out as code right above its checker. Instructor notebooks end each exercise's solution
cell with ``assert check(...)``; ``python -m ddim_edu.classroom build`` turns them into student
notebooks.
"""

from __future__ import annotations

import secrets

from . import nb01, nb02, nb03, nb04, nb05, nb06, nb07, nb08  # noqa: F401 - each registers its exercises
from ._core import REGISTRY, Exercise, Feedback, _Reject, _unanswered

__all__ = ["EXERCISES", "Exercise", "Feedback", "check"]

EXERCISES: dict[str, Exercise] = dict(sorted(REGISTRY.items()))


def check(exercise: str, answer: object, seed: int | None = None) -> Feedback:
    """Check an answer to an exercise; returns (and, in a notebook, displays) the feedback.

    A function is tried on random inputs drawn afresh at every call (pass ``seed`` to repeat a
    draw); a value is compared with the package's own result.
    """
    if exercise not in EXERCISES:
        raise ValueError(f"exercise must be one of {', '.join(EXERCISES)}, got {exercise!r}")
    if seed is None:
        seed = secrets.randbits(31)
    if message := _unanswered(answer):
        return Feedback(exercise, False, message)
    try:
        ok, message = EXERCISES[exercise].checker(answer, seed)
    except _Reject as reason:
        ok, message = False, str(reason)
    return Feedback(exercise, ok, message)
