"""Checkers for the book's coding exercises: run the learner's function on seeded cases, compare it
with the reference implementation in ``gbml``, and answer with a specific hint.

Every checker is a thin layer over :func:`compare`: it names the exercise, says how to make a
case, how to call the reference, and lists *likely mistakes* — each a function computing what a
plausible wrong answer would return, with the hint to give when the learner's output matches it.
Adding a checker for a new chapter is one small function (see ``CONTRIBUTING.md``)::

    def check_my_step(fn):
        return compare("Exercise 5.2 (my_step)", fn, reference=my_reference, make_case=my_case,
                       mistakes={"the sign of the step is flipped": my_wrong_sign})

A checker prints its verdict and returns a :class:`CheckResult` (truthy when every case passed).  A
function that still raises ``NotImplementedError`` (the student edition's placeholder) is re-raised
with the exercise name, so an untouched exercise stops a notebook with a clear message.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from . import _checks
from .algorithms import adapt
from .geometry import random_orthonormal, subspace_distance
from .tasks import SampledTasks

__all__ = [
    "CheckResult",
    "compare",
    "check_subspace_distance",
    "check_head_second_moment",
    "check_anil_inner_step",
]


@dataclass
class CheckResult:
    """Outcome of a checker: ``passed``, the message shown, and the first failing case (or None)."""

    exercise: str
    passed: bool
    message: str
    case: dict | None = None

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message


def _close(got, want, rtol, atol) -> bool:
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError):
        return False
    want = np.asarray(want, dtype=float)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=rtol, atol=atol))


def compare(exercise: str, fn: Callable, *, reference: Callable, make_case: Callable, mistakes: Mapping | None = None,
            n_cases: int = 5, rng=0, rtol: float = 1e-7, atol: float = 1e-9, quiet: bool = False) -> CheckResult:
    """Run ``fn(**case)`` against ``reference(**case)`` on seeded random cases and explain a mismatch.

    Parameters
    ----------
    exercise : str
        Name shown to the learner, e.g. "Exercise 2.3 (subspace_distance)".
    fn : callable
        The learner's function.
    reference : callable ``reference(**case)``
        The correct answer, computed with ``gbml``.
    make_case : callable ``make_case(rng, i) -> dict``
        The i-th input (keyword arguments of ``fn``), drawn from the Generator ``rng``.
    mistakes : dict hint -> callable ``wrong(**case)``, optional
        Plausible wrong answers; when ``fn``'s output matches one, its hint is shown.
    n_cases : int
    rng : int or numpy Generator
        Seed of the cases (the same cases on every run).
    rtol, atol : float
        Tolerances of ``numpy.allclose``.
    quiet : bool
        Do not print the message (it is still in the result).

    Returns
    -------
    CheckResult
    """
    if not callable(fn):
        raise TypeError(f"fn must be the function you wrote (a callable), got {type(fn).__name__}")
    rng = _checks.as_rng(rng)
    n_cases = _checks.positive_int("n_cases", n_cases)
    result = None
    for i in range(n_cases):
        case = make_case(rng, i)
        want = np.asarray(reference(**case), dtype=float)
        shown = ", ".join(f"{k} of shape {np.shape(v)}" if np.ndim(v) else f"{k} = {v:g}" for k, v in case.items())
        try:
            got = fn(**{k: np.copy(v) if isinstance(v, np.ndarray) else v for k, v in case.items()})
        except NotImplementedError as err:
            raise NotImplementedError(f"{exercise}: not written yet ({err}). Replace the placeholder with your code.") from None
        except Exception as err:  # the learner's bug: report it as a hint, not a traceback
            hint = ""
            if isinstance(err, ValueError) and ("matmul" in str(err) or "align" in str(err)):
                hint = "\n  A matrix product has mismatched shapes: check where a transpose is needed (B^T, not B)."
            result = CheckResult(exercise, False, f"Not yet — {exercise}: your function raised "
                                 f"{type(err).__name__}: {err}\n  (case {i + 1}: {shown}){hint}", case)
            break
        if got is None:
            result = CheckResult(exercise, False, f"Not yet — {exercise}: your function returned None. "
                                 "Did you forget the `return` statement?", case)
            break
        try:
            got_arr = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            result = CheckResult(exercise, False, f"Not yet — {exercise}: expected a number or an array, got "
                                 f"{type(got).__name__}.", case)
            break
        if got_arr.shape != want.shape:
            hint = ""
            if got_arr.size == want.size:
                hint = " The entries are all there: reshape (e.g. drop a singleton axis with .ravel())."
            result = CheckResult(exercise, False, f"Not yet — {exercise}: the output has shape {got_arr.shape}, "
                                 f"expected {want.shape} (case {i + 1}: {shown}).{hint}", case)
            break
        if _close(got_arr, want, rtol, atol):
            continue
        for hint, wrong in (mistakes or {}).items():
            if _close(got_arr, wrong(**case), rtol, atol) and not _close(want, wrong(**case), rtol, atol):
                result = CheckResult(exercise, False, f"Not yet — {exercise}: {hint}", case)
                break
        if result is None:
            err = float(np.max(np.abs(got_arr - want)))
            result = CheckResult(exercise, False, f"Not yet — {exercise}: the shape is right but the values differ "
                                 f"(largest difference {err:.3g} in case {i + 1}: {shown}).", case)
        break
    if result is None:
        result = CheckResult(exercise, True, f"Correct — {exercise}: matches the reference on {n_cases} random cases.")
    if not quiet:
        print(result.message)
    return result


# -- chapter 2 -----------------------------------------------------------------------------------

def _subspace_case(rng, i):
    d, k = [(6, 2), (10, 3), (5, 1), (20, 4), (8, 3)][i % 5]
    B_star = random_orthonormal(d, k, rng)
    # A non-orthonormal B (columns mixed and rescaled): near B* in odd cases, a random subspace in even ones.
    near = B_star + 0.3 * rng.standard_normal((d, k))
    B = (near if i % 2 else rng.standard_normal((d, k))) @ (rng.standard_normal((k, k)) + 2 * np.eye(k))
    return {"B": B, "B_star": B_star}


def _orth(B):
    return np.linalg.qr(B)[0]


def check_subspace_distance(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, B_star) -> float``, the distance ``||(I - Q Q^T) B*||_2`` (chapter 2).

    ``B`` is d x k but *not* orthonormal; ``B_star`` has orthonormal columns.
    """
    mistakes = {
        "you used B itself where an orthonormal basis Q of col(B) is needed: orthonormalise it first "
        "(np.linalg.qr(B)[0]); the projector onto col(B) is Q Q^T, not B B^T.":
            lambda B, B_star: np.linalg.norm(B_star - B @ (B.T @ B_star), 2),
        "you used the Frobenius norm (np.linalg.norm(M) with no `ord`): the distance is the spectral norm, "
        "np.linalg.norm(M, 2), the largest singular value.":
            lambda B, B_star: np.linalg.norm(B_star - _orth(B) @ (_orth(B).T @ B_star)),
        "you returned the cosine of the largest principal angle (smallest singular value of Q^T B*); the "
        "distance is its sine, sqrt(1 - cos^2).":
            lambda B, B_star: np.linalg.svd(_orth(B).T @ B_star, compute_uv=False).min(),
        "you returned the largest principal angle in radians; the distance is its sine.":
            lambda B, B_star: np.arcsin(min(1.0, subspace_distance(B, B_star))),
        "you projected onto col(B*) instead of its complement: use (I - Q Q^T) B*.":
            lambda B, B_star: np.linalg.norm(_orth(B) @ (_orth(B).T @ B_star), 2),
    }
    return compare("Exercise (subspace_distance)", fn, reference=subspace_distance, make_case=_subspace_case,
                   mistakes=mistakes, **kwargs)


def _heads_case(rng, i):
    n, k = [(5, 2), (30, 3), (1, 4), (12, 1), (50, 2)][i % 5]
    return {"heads": rng.standard_normal((n, k)) + rng.standard_normal(k)}


def check_head_second_moment(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(heads) -> (k, k)``, the batch second moment ``(1/n) sum_t w_t w_t^T`` of heads (n, k)."""
    mistakes = {
        "you computed w w^T with the heads as columns: heads has one head per *row*, so the k x k matrix "
        "is heads.T @ heads / n.": lambda heads: heads @ heads.T / len(heads),
        "you forgot to divide by the number of tasks n.": lambda heads: heads.T @ heads,
        "you subtracted the mean (that is the covariance); Psi is the second moment E[w w^T], mean included.":
            lambda heads: np.atleast_2d(np.cov(heads.T, bias=True)),
        "you divided by n - 1: the batch second moment divides by n.":
            lambda heads: heads.T @ heads / max(len(heads) - 1, 1),
    }
    return compare("Exercise (head_second_moment)", fn, reference=lambda heads: heads.T @ heads / len(heads),
                   make_case=_heads_case, mistakes=mistakes, **kwargs)


# -- chapter 4 (ANIL) ----------------------------------------------------------------------------

def _anil_case(rng, i):
    d, k, m = [(6, 2, 4), (10, 3, 12), (5, 1, 3), (8, 4, 20), (12, 2, 7)][i % 5]
    return {"B": rng.standard_normal((d, k)), "w": rng.standard_normal(k), "X": rng.standard_normal((m, d)),
            "y": rng.standard_normal(m), "alpha": float(rng.uniform(0.05, 0.5))}


def _anil_reference(B, w, X, y, alpha):
    tasks = SampledTasks(X[None], y[None], X[None], y[None])
    return adapt("anil", B, w, tasks, alpha)[1][0]


def check_anil_inner_step(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, X, y, alpha) -> w_t``: ANIL's inner step on one task's support data.

    ``w_t = w - alpha * B^T X^T (X B w - y) / m`` with X (m, d), y (m,), B (d, k), w (k,).
    """
    def grad(B, w, X, y):
        return B.T @ X.T @ (X @ B @ w - y) / len(y)

    mistakes = {
        "the sign of the step is flipped: gradient *descent* subtracts alpha times the gradient.":
            lambda B, w, X, y, alpha: w + alpha * grad(B, w, X, y),
        "the step size alpha is missing.": lambda B, w, X, y, alpha: w - grad(B, w, X, y),
        "you returned the step (or the gradient), not the adapted head w - alpha * gradient.":
            lambda B, w, X, y, alpha: alpha * grad(B, w, X, y),
        "the loss is an average over the m samples: divide X^T (X B w - y) by m.":
            lambda B, w, X, y, alpha: w - alpha * len(y) * grad(B, w, X, y),
        "the residual is X B w - y (prediction minus label); you used y - X B w, which flips the step.":
            lambda B, w, X, y, alpha: w + alpha * grad(B, w, X, y),
    }
    return compare("Exercise (anil_inner_step)", fn, reference=_anil_reference, make_case=_anil_case,
                   mistakes=mistakes, **kwargs)
