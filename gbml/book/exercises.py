"""Checkers for the book's coding exercises: run the learner's function on seeded cases, compare it with
the reference implementation in ``gbml``, and answer with a specific hint.

Every checker is one call to :func:`compare` (CONTRIBUTING shows how to write one), which says how a
checker is fit for grading.  A checker prints its verdict and returns a :class:`CheckResult`; an unwritten
exercise (``NotImplementedError``, the student edition's placeholder) gets a plain "not written yet".
"""
from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..algorithms import adapt, meta_gradient, meta_objective
from ..beyond import fit_heads, multistep_gradient
from ..geometry import random_orthonormal, subspace_distance
from ..tasks import PopulationTasks, SampledTasks
from .. import _guard

__all__ = [
    "CheckResult", "compare",
    "check_maml_objective",  # chapter 1
    "check_subspace_distance", "check_head_second_moment",  # chapter 2
    "check_average_loss_gradient", "check_anil_inner_step",  # chapters 3 and 4
    "check_fo_anil_gradient", "check_two_step_anil_gradient",
    "check_maml_adapted_prediction", "check_fo_maml_gradient",  # chapters 5 and 6
    "check_head_gram",  # chapter 7
    "check_sampled_inner_gradient",  # chapter 8
    "check_least_squares_heads",  # chapter 9
    "check_iterations_needed",  # chapter 10
]


@dataclass
class CheckResult:
    """Outcome of a checker: ``passed`` (every case), the message shown, the first failing case (or None),
    and how many of the cases the answer got right (``n_passed`` of ``n_cases``)."""

    exercise: str
    passed: bool
    message: str
    case: dict | None = None
    n_passed: int = 0
    n_cases: int = 0

    def __bool__(self):
        return self.passed

    def __repr__(self):
        return self.message


class _NotWritten(Exception):
    """The learner's function is still the placeholder of an exercise (it raised NotImplementedError)."""


# -- the comparison ------------------------------------------------------------------------------------

# Frames of gbml and NumPy are left out of the summary of a learner's error.
_PACKAGE_DIRS = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep for m in (_checks, np))


def _values(out, like):
    """``out`` as one array of numbers (a tuple answer, like the reference ``like``, flattened)."""
    if isinstance(like, tuple):
        return np.concatenate([np.ravel(np.asarray(part)) for part in out])
    return np.asarray(out)


def _close(got, want, rtol, atol) -> bool:
    try:
        got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    except (TypeError, ValueError):
        return False
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=rtol, atol=atol))


def _one_case(fn, frozen: bytes, reference, forbid, diagnose):
    """The problem with ``fn``'s answer on the case pickled in ``frozen`` (None when right), and the case:
    ``fn`` runs on its own copy with ``forbid`` (and every sealed callable) raising; the reference gets
    another copy only after ``fn`` has returned.  An unwritten exercise raises :class:`_NotWritten`."""
    out = problem = None
    with _guard.forbidden(forbid) as calls:
        try:
            out = fn(*pickle.loads(frozen).values())
        except NotImplementedError:
            if not calls:
                raise _NotWritten() from None
        except Exception as err:  # the learner's bug: report it as theirs, not as a crash of the checker
            problem = _raised(err)
    if calls:
        problem = (f"your function calls {calls[0]}, the routine this exercise asks you to write; "
                   "write it yourself with NumPy.")
    case = pickle.loads(frozen)
    return problem or diagnose(out, reference(**case), case), case


def _raised(err: Exception) -> str:
    """What the learner's exception was and where, in the learner's own code."""
    frames = traceback.extract_tb(err.__traceback__)[1:]  # the first frame is _one_case's call
    own = [f for f in frames if not f.filename.startswith(_PACKAGE_DIRS)] or frames[-1:]
    where = "".join(f"\n    {f.name}, line {f.lineno}" + (f": {f.line}" if f.line else "") for f in own[-3:])
    hint = ""
    if isinstance(err, ValueError) and ("matmul" in str(err) or "align" in str(err)):
        hint = "\n  A matrix product has mismatched shapes: check where a transpose is needed (B^T, not B)."
    return f"your function raised {type(err).__name__}: {err}\n  in your code:{where}{hint}"


def _structure(got, want) -> str | None:
    """A hint when ``got`` is not a tuple of arrays shaped like the reference's tuple ``want``."""
    if not isinstance(want, tuple):
        return None
    if not isinstance(got, (tuple, list)) or len(got) != len(want):
        return f"return {len(want)} arrays as a tuple (your function returned {type(got).__name__})."
    for j, (part, ref) in enumerate(zip(got, want)):
        if np.shape(part) != np.shape(ref):
            return f"returned array {j + 1} of {len(want)} has shape {np.shape(part)}, expected {np.shape(ref)}."
    return None


def _how_wrong(got, want, rtol, atol) -> str:
    """How ``got`` differs from ``want`` (same shape, finite, real), without saying what ``want`` is."""
    close = np.isclose(got, want, rtol=rtol, atol=atol)
    if not np.any(got) and np.any(want):
        return "your answer is zero" + (" in every entry" if got.size > 1 else "") + ": is a term missing?"
    if _close(-got, want, rtol, atol):
        return ("it has the opposite sign: check the sign of a residual (prediction minus target) or of a "
                "step (descent subtracts).")
    scale = float(np.vdot(got, want) / np.vdot(want, want)) if np.any(want) and np.any(got) else 0.0
    factor = max(abs(scale), 1 / abs(scale)) if scale else 0.0
    whole = factor >= 1.5 and np.isclose(factor, round(factor))  # for a number: n times too large or small
    if scale and _close(got, scale * want, rtol, atol) and (got.size > 1 or whole):
        return ("it is off by a constant factor" + (" in every entry" if got.size > 1 else "")
                + ("" if scale > 0 else ", with the opposite sign")
                + ": a factor such as 1/2, 2, 1/n, 1/m or alpha is missing or extra.")
    if got.size > 1:
        return f"the values differ in {int(np.sum(~close))} of {got.size} entries."
    return "the values differ."


def _diagnose(got, want, case, mistakes, structure, rtol, atol) -> str | None:
    """The problem with the learner's output ``got`` (None when it matches the reference ``want``)."""
    if got is None:
        return "your function returned None. Did you forget the `return` statement?"
    try:
        problem = (structure and structure(got, case)) or _structure(got, want)
        raw = _values(got, want)
    except Exception as err:  # an output NumPy cannot read (ragged lists, odd objects)
        return f"your function returned {type(got).__name__}, which cannot be read as numbers ({err})."
    if problem:
        return problem
    if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number) or raw.dtype == bool):
        return f"expected a number or an array of numbers, got {type(got).__name__}."
    if np.iscomplexobj(raw):
        return ("your answer is complex, the exercise's answer is real: look for np.sqrt or a power of a "
                "negative number, or np.linalg.eig where np.linalg.eigh (symmetric matrices) is meant.")
    got = raw.astype(float)
    if np.any(np.isnan(got)):
        return ("your answer contains NaN (not a number): look for 0/0, a logarithm or square root of a "
                "negative number, or an array from np.empty that was never filled.")
    if np.any(np.isinf(got)):
        return "your answer contains an infinite value: look for a division by zero or an overflow."
    like, want = want, _values(want, want).astype(float)
    if _close(got, want, rtol, atol):
        return None
    for hint, wrong in (mistakes or {}).items():
        wrong_out = _values(wrong(**case), like)
        if _close(got, wrong_out, rtol, atol) and not _close(want, wrong_out, rtol, atol):
            return hint
    if got.shape != want.shape:
        hint = ""
        if got.ndim == 2 and got.shape == want.shape[::-1] and _close(got.T, want, rtol, atol):
            hint = " It is the transpose of the answer: check the order of a product (u w^T, not w u^T)."
        elif want.ndim == 0 and got.size == 1:
            hint = " Return a plain number, e.g. float(...), not an array of one entry."
        elif got.size == want.size:
            hint = " The entries are all there: reshape (e.g. drop a singleton axis with .ravel())."
        return f"the output has shape {got.shape}, expected {want.shape}.{hint}"
    return _how_wrong(got, want, rtol, atol)


def _shown(case) -> str:
    return ", ".join(f"{k} of shape {np.shape(v)}" if np.ndim(v) else f"{k} = {v:g}" for k, v in case.items())


def compare(exercise: str, fn: Callable, *, reference: Callable, make_case: Callable, mistakes: Mapping | None = None,
            structure: Callable | None = None, forbid=(), n_cases: int = 5, rng=0, rtol: float = 1e-7,
            atol: float = 1e-9, quiet: bool = False) -> CheckResult:
    """Run ``fn(*case.values())`` against ``reference(**case)`` on seeded cases and explain a mismatch.

    Fit for grading: every case is drawn (and frozen) before ``fn`` runs, so it cannot steer the draws; ``fn``
    gets its own copy of each case, positionally, once; the routines ``forbid`` and the reference raise while
    it runs, and the reference runs only after it has returned, so no frame holds the expected value
    meanwhile.  A wrong answer is described (shape, sign, scale, NaN, complex, a likely mistake) for the first
    case it fails, never shown next to the expected value; the learner's exception is reported as theirs.

    ``reference(**case)`` returns a number, an array or a tuple of arrays (then the learner returns a tuple
    of the same shapes); ``make_case(rng, i)`` returns the i-th case, an ordered dict of ``fn``'s arguments;
    ``mistakes`` maps a hint to ``wrong(**case)``, a plausible wrong answer (its hint is shown when ``fn``
    matches it); ``structure(output, case)`` is a hint on the raw output's structure (None when fine);
    ``forbid`` names the ``gbml`` reference routines (``gbml._guard``) the exercise asks to write; ``rng`` is
    an int seed or a Generator; ``rtol, atol`` in [0, 1) are ``numpy.allclose``'s; ``quiet`` does not print
    the message.  Returns a :class:`CheckResult` (``n_passed`` of ``n_cases``: partial credit).
    """
    if not callable(fn):
        raise TypeError(f"fn must be the function you wrote (a callable), got {type(fn).__name__}")
    rng = _checks.as_rng(rng)
    n_cases = _checks.positive_int("n_cases", n_cases)
    for name, value in (("rtol", rtol), ("atol", atol)):  # a tolerance of 1 or more lets a wrong answer pass
        if not 0 <= _checks.real(name, value) < 1:
            raise ValueError(f"{name} must be a number in [0, 1) (a tolerance of numpy.allclose), got {value!r}")
    reference = _guard.sealed(reference)  # raises if the learner's function calls it

    def diagnose(got, want, case):
        return _diagnose(got, want, case, mistakes, structure, rtol, atol)

    # Every case is drawn first, as bytes nothing can change: fn cannot steer the draws (by resetting rng).
    cases = [pickle.dumps(make_case(rng, i)) for i in range(n_cases)]
    n_passed, failed = 0, None  # failed: the first failing case, as (number, problem, case)
    for i, frozen in enumerate(cases):
        try:
            problem, case = _one_case(fn, frozen, reference, forbid, diagnose)
        except _NotWritten:
            result = CheckResult(exercise, False, f"Not yet — {exercise} is not written yet: replace the "
                                 "`raise NotImplementedError(...)` line of its cell with your code, run that "
                                 "cell, then run this check again.", n_cases=n_cases)
            break
        if problem is None:
            n_passed += 1
        elif failed is None:
            failed = (i + 1, problem, case)
    else:
        if failed is None:
            result = CheckResult(exercise, True, f"Correct — {exercise}: matches the reference on {n_cases} random "
                                 "cases.", n_passed=n_passed, n_cases=n_cases)
        else:
            number, problem, case = failed
            message = (f"Not yet — {exercise}: {problem}\n  (case {number}: {_shown(case)})\n"
                       f"  Right on {n_passed} of {n_cases} cases.")
            result = CheckResult(exercise, False, message, case, n_passed, n_cases)
    if not quiet:
        print(result.message)
    return result


# -- chapter 1 (gradient-based meta-learning): MAML's objective on one task ----------------------------

def _maml_objective_case(rng, i):
    d, k, m_in, m_out = [(5, 2, 4, 7), (8, 3, 10, 5), (4, 1, 3, 6), (10, 4, 12, 20), (6, 2, 9, 2)][i % 5]
    return {"B": rng.standard_normal((d, k)) / np.sqrt(d), "w": rng.standard_normal(k),
            "X_in": rng.standard_normal((m_in, d)), "y_in": rng.standard_normal(m_in),
            "X_out": rng.standard_normal((m_out, d)), "y_out": rng.standard_normal(m_out),
            "alpha": float(rng.uniform(0.05, 0.3))}


def _maml_objective_reference(B, w, X_in, y_in, X_out, y_out, alpha):
    return meta_objective("maml", B, w, SampledTasks(X_in[None], y_in[None], X_out[None], y_out[None]), alpha)


def _maml_objective_variant(B, w, X_in, y_in, X_out, y_out, alpha, *, adapt=True, adapt_body=True, sign=1.0,
                            order=None, inner_scale=1.0, outer_data="query", outer_half=True, outer_mean=True):
    """The one-task MAML objective, with switches that reproduce plausible mistakes (``order``: see
    :func:`_maml_variant`; ``inner_scale`` multiplies the support gradient)."""
    u = inner_scale * X_in.T @ (X_in @ B @ w - y_in) / len(y_in)
    B_t, w_t = B, w
    if adapt:
        w_t = w - sign * alpha * B.T @ u
        if adapt_body:
            B_t = B - sign * alpha * np.outer(u, w_t if order == "head-first" else w)
            if order == "body-first":
                w_t = w - sign * alpha * B_t.T @ u
    X, y = (X_out, y_out) if outer_data == "query" else (X_in, y_in)
    residual = X @ B_t @ w_t - y
    return float(residual @ residual * (0.5 if outer_half else 1.0) / (len(y) if outer_mean else 1.0))


def check_maml_objective(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, X_in, y_in, X_out, y_out, alpha) -> float``: MAML's objective on one task (chapter 1).

    One inner step on the support data ``(X_in, y_in)`` adapts both ``B`` (d, k) and ``w`` (k,), with both
    gradients of ``L(B, w) = ||X B w - y||^2 / (2m)`` taken at ``(B, w)``; the result is the query loss
    ``||X_out B_t w_t - y_out||^2 / (2 m_out)`` of the adapted parameters.
    """
    v = _maml_objective_variant
    mistakes = {
        "you evaluated the query loss at (B, w), before adaptation: the objective is the loss *after* the "
        "inner step, at (B_t, w_t). (A bug of this kind once made 'adapted' equal 'not adapted' in "
        "public meta-learning code.)": lambda **c: v(**c, adapt=False),
        "you evaluated the adapted parameters on the support data: the outer loss uses the query set "
        "(X_out, y_out), which the inner step has not seen.": lambda **c: v(**c, outer_data="support"),
        "you adapted only the head, which is ANIL's objective: MAML's inner step also moves the body, "
        "B_t = B - alpha * u w^T with u = X_in^T (X_in B w - y_in) / m_in.": lambda **c: v(**c, adapt_body=False),
        "you used the adapted body B_t in the head's inner step: both inner gradients are taken at the same "
        "point (B, w), so w_t = w - alpha * B^T u.": lambda **c: v(**c, order="body-first"),
        "you used the adapted head w_t in the body's inner step: both inner gradients are taken at the same "
        "point (B, w), so B_t = B - alpha * u w^T.": lambda **c: v(**c, order="head-first"),
        "the inner step goes uphill: gradient descent *subtracts* alpha times the gradient (and the residual "
        "is X B w - y, prediction minus label).": lambda **c: v(**c, sign=-1.0),
        "the support loss is an average: divide X_in^T (X_in B w - y_in) by m_in = len(y_in).":
            lambda **c: v(**c, inner_scale=len(c["y_in"])),
        "the loss is ||X B_t w_t - y||^2 / (2 m): the factor 1/2 is missing.": lambda **c: v(**c, outer_half=False),
        "the query loss is an average over its m_out samples: divide by m_out (and by 2).":
            lambda **c: v(**c, outer_mean=False),
    }
    return compare("Exercise (maml_objective)", fn, reference=_maml_objective_reference,
                   make_case=_maml_objective_case, mistakes=mistakes,
                   forbid=("gbml.meta_objective", "gbml.meta_gradient", "gbml.adapt", "gbml.beyond.adapt_steps",
                           "gbml.beyond.multistep_objective", "SampledTasks.inner.grad"), **kwargs)


# -- chapter 2 (a linear representation): the subspace distance, the head second moment ----------------

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
                   mistakes=mistakes, forbid=("gbml.subspace_distance", "gbml.principal_angles"), **kwargs)


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


# -- chapters 3 and 4 (the average loss, ANIL) ---------------------------------------------------------

def _pair_structure(names=("grad_B", "grad_w")):
    """A structure hook for answers ``(gradient in B, gradient in w)``: a hint when the pair is malformed."""
    def hint(out, case):
        d, k = case["B"].shape
        if not isinstance(out, (tuple, list)) or len(out) != 2:
            return (f"return the two gradients as a pair, `return {names[0]}, {names[1]}` "
                    f"(your function returned {type(out).__name__}).")
        gB, gw = (np.shape(x) for x in out)
        if gB == (k, d) and k != d:
            return (f"{names[0]} has shape {gB}, the transpose of B's shape {(d, k)}: the gradient with "
                    "respect to B is the outer product (residual) w^T, np.outer(residual, w), not w (residual)^T.")
        if gB != (d, k):
            return f"{names[0]} has shape {gB}; a gradient with respect to B has B's shape {(d, k)}."
        if gw == (d,) and d != k:
            return (f"{names[1]} has shape {gw}, like a vector in R^d: the head gradient has k = {k} entries; "
                    "multiply the residual by B^T.")
        if gw != (k,):
            return f"{names[1]} has shape {gw}; a gradient with respect to w has w's shape {(k,)}."
        return None

    return hint


def _population_pair_case(rng, i, with_alpha=False):
    d, k, n = [(6, 2, 4), (10, 3, 7), (5, 1, 3), (8, 4, 12), (12, 2, 5)][i % 5]
    case = {"B": 0.7 * rng.standard_normal((d, k)), "w": rng.standard_normal(k), "thetas": rng.standard_normal((n, d))}
    if with_alpha:
        case["alpha"] = float(rng.uniform(0.05, 0.5))
    return case


def _population_gradient(method):
    """``meta_gradient(method)`` on population tasks, as a function of a case ``(B, w, thetas, alpha)``."""
    return lambda B, w, thetas, alpha=0.0: meta_gradient(method, B, w, PopulationTasks(thetas), alpha)


def _average_loss_gradient(B, w, thetas, *, target=None):
    residual = B @ w - (thetas.mean(axis=0) if target is None else target)
    return np.outer(residual, w), B.T @ residual


def check_average_loss_gradient(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas) -> (grad_B, grad_w)``: the gradient of the population average loss (chapter 3).

    ``(1/n) sum_t 1/2 ||B w - theta_t||^2`` with B (d, k), w (k,), thetas (n, d); the answer is
    ``((B w - theta_bar) w^T, B^T (B w - theta_bar))`` with ``theta_bar`` the mean row of ``thetas``.
    """
    def scaled(c):
        return lambda B, w, thetas: tuple(c * g for g in _average_loss_gradient(B, w, thetas))

    mistakes = {
        "both gradients have the wrong sign: the residual is the prediction minus the target, B w - theta_bar.":
            scaled(-1.0),
        "you summed over the tasks: the average loss divides by n, so the gradients use the mean regressor "
        "theta_bar = thetas.mean(axis=0).": lambda B, w, thetas: scaled(float(len(thetas)))(B, w, thetas),
        "you used the sum of the regressors as the target; the average loss sees their mean, thetas.mean(axis=0).":
            lambda B, w, thetas: _average_loss_gradient(B, w, thetas, target=thetas.sum(axis=0)),
        "you used only the first task (thetas[0]); average over all n rows of thetas.":
            lambda B, w, thetas: _average_loss_gradient(B, w, thetas, target=thetas[0]),
        "the factor 1/2 in the loss cancels the 2 from differentiating the square: remove the factor 2.":
            scaled(2.0),
    }
    return compare("Exercise (average_loss_gradient)", fn,
                   reference=_population_gradient("avg-loss"), make_case=_population_pair_case,
                   mistakes=mistakes, structure=_pair_structure(),
                   forbid=("gbml.meta_gradient", "gbml.beyond.multistep_gradient"), **kwargs)


def _anil_case(rng, i):
    d, k, m = [(6, 2, 4), (10, 3, 12), (5, 1, 3), (8, 4, 20), (12, 2, 7)][i % 5]
    return {"B": rng.standard_normal((d, k)), "w": rng.standard_normal(k), "X": rng.standard_normal((m, d)),
            "y": rng.standard_normal(m), "alpha": float(rng.uniform(0.05, 0.5))}


def _anil_reference(B, w, X, y, alpha):
    return adapt("anil", B, w, SampledTasks(X[None], y[None], X[None], y[None]), alpha)[1][0]


def check_anil_inner_step(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, X, y, alpha) -> w_t``: ANIL's inner step on one task's support data (chapter 4).

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
                   mistakes=mistakes, forbid=("gbml.adapt", "gbml.beyond.adapt_steps", "SampledTasks.inner.grad"),
                   **kwargs)


def _first_order_variant(B, w, thetas, alpha, *, maml=False, inner_sign=-1.0, inner_alpha=True,
                         outer_adapted=True, head_adapted=True, body_in_head=True, summed=False):
    """FO-ANIL's (``maml``: FO-MAML's) population gradient (G_B, G_w), with switches that reproduce plausible
    mistakes; MAML's adapted body ``B_t = B - alpha r_t w^T`` enters through ``B_t w_t`` and ``B_t^T q_t``."""
    step = inner_sign * (alpha if inner_alpha else 1.0)
    r = w @ B.T - thetas                                             # (n, d) residuals before adaptation
    w_t = w + step * (r @ B)                                         # (n, k) adapted heads
    pred = w_t @ B.T + (step * (w_t @ w)[:, None] * r if maml else 0.0)   # B_t w_t, as rows
    q = pred - thetas if outer_adapted else r                        # outer residuals
    heads = w_t if head_adapted else np.broadcast_to(w, w_t.shape)
    G_w = q @ B
    if maml and body_in_head:
        G_w = G_w + step * np.sum(r * q, axis=1)[:, None] * w      # B_t^T q_t = B^T q_t - alpha (r_t . q_t) w
    scale = len(thetas) if summed else 1.0
    return scale * q.T @ heads / len(thetas), scale * G_w.mean(axis=0)


def check_fo_anil_gradient(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas, alpha) -> (G_B, G_w)``: FO-ANIL's population outer gradient (chapter 4).

    With ``w_t = w - alpha B^T (B w - theta_t)`` and ``rt_t = B w_t - theta_t``:
    ``G_B = (1/n) sum_t rt_t w_t^T`` and ``G_w = (1/n) sum_t B^T rt_t``; B (d, k), w (k,), thetas (n, d).
    """
    v = _first_order_variant
    mistakes = {
        "the outer residual must be taken *after* adaptation, rt_t = B w_t - theta_t; you used B w - theta_t, "
        "so your 'adapted' gradient ignores the adaptation in the residual.":
            lambda **c: v(**c, outer_adapted=False),
        "you used no adaptation at all (w in place of every w_t): that is the average loss's gradient. Compute "
        "w_t = w - alpha B^T (B w - theta_t) for each task first.":
            lambda B, w, thetas, alpha: _average_loss_gradient(B, w, thetas),
        "G_B is the outer product of the adapted residual with the adapted head, rt_t w_t^T; you used w instead "
        "of w_t.": lambda **c: v(**c, head_adapted=False),
        "you differentiated through the inner step: that is the exact ANIL gradient. FO-ANIL treats w_t as a "
        "constant: G_B = mean of rt_t w_t^T, G_w = mean of B^T rt_t.": _population_gradient("anil"),
        "the inner step is gradient *descent*: w_t = w - alpha B^T (B w - theta_t); you added the gradient.":
            lambda **c: v(**c, inner_sign=1.0),
        "the inner step size alpha is missing: w_t = w - alpha B^T (B w - theta_t).":
            lambda **c: v(**c, inner_alpha=False),
        "you summed over the tasks: the outer gradient is the average, divide by n.":
            lambda **c: v(**c, summed=True),
    }
    return compare("Exercise (fo_anil_gradient)", fn, reference=_population_gradient("fo-anil"),
                   make_case=lambda rng, i: _population_pair_case(rng, i, with_alpha=True), mistakes=mistakes,
                   structure=_pair_structure(("G_B", "G_w")),
                   forbid=("gbml.meta_gradient", "gbml.adapt", "gbml.beyond.adapt_steps",
                           "gbml.beyond.multistep_gradient"), **kwargs)


def _two_step_anil_variant(B, w, thetas, alpha, *, back=2, propagate=True, body_terms=True, path_heads=True,
                           summed=False):
    """The exact gradient of ANIL's two-step population objective, with switches that reproduce plausible
    mistakes (``back``: how many inner steps are differentiated through)."""
    n, k = thetas.shape[0], B.shape[1]
    heads, residuals = [np.broadcast_to(w, (n, k))], []
    for _ in range(2):                                      # w^(j+1) = w^(j) - alpha B^T r^(j)
        residuals.append(heads[-1] @ B.T - thetas)
        heads.append(heads[-1] - alpha * residuals[-1] @ B)
    q = heads[2] @ B.T - thetas                             # outer residuals, (n, d)
    grad_B, xi = q.T @ heads[2], q @ B                      # xi: adjoints xi^(2) = B^T q, one row per task
    P = np.eye(k) - alpha * B.T @ B
    for j in (1, 0)[:back]:
        head = heads[j] if path_heads else heads[0]
        grad_B = grad_B - alpha * (residuals[j].T @ xi + body_terms * B @ (xi.T @ head))
        xi = xi @ P if propagate else xi
    scale = n if summed else 1.0
    return scale * grad_B / n, scale * xi.mean(axis=0)


def check_two_step_anil_gradient(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas, alpha) -> (grad_B, grad_w)``: the exact gradient of ANIL's meta-objective with
    *two* inner steps, population tasks (chapter 4's challenge; chapter 9 computes any number of steps).

    With ``w^(0) = w``, ``r^(j) = B w^(j) - theta_t``, ``w^(j+1) = w^(j) - alpha B^T r^(j)``, ``q = B w^(2) - theta_t``,
    ``xi^(2) = B^T q`` and ``xi^(j) = (I - alpha B^T B) xi^(j+1)``: ``grad_B = mean of q w^(2)^T - alpha sum_j
    (r^(j) xi^(j+1)^T + B xi^(j+1) w^(j)^T)`` and ``grad_w = mean of xi^(0)``.
    """
    def steps(number, first_order=False):
        return lambda B, w, thetas, alpha: multistep_gradient(B, w, PopulationTasks(thetas), alpha, number,
                                                              first_order=first_order)

    mistakes = {
        "you treated the adapted head w^(2) as a constant: that is the first-order (FO-ANIL) surrogate. The exact "
        "gradient differentiates through both inner steps.": steps(2, first_order=True),
        "that is the one-step ANIL gradient of the chapter: with two inner steps the adapted head is "
        "w^(2) = w^(1) - alpha B^T (B w^(1) - theta_t), with w^(1) the one-step head.": steps(1),
        "you differentiated through the second inner step only: w^(1) depends on B and w too, so the first step "
        "adds -alpha (r^(0) xi^(1)^T + B xi^(1) w^T) and one more factor (I - alpha B^T B) in grad_w.":
            lambda **c: _two_step_anil_variant(**c, back=1),
        "passing back through an inner step multiplies the adjoint by (I - alpha B^T B): xi^(1) = (I - alpha B^T B) "
        "xi^(2), and grad_w = (I - alpha B^T B)^2 B^T q on average.": lambda **c: _two_step_anil_variant(**c, propagate=False),
        "the term B xi^(j+1) w^(j)^T uses the head *before* step j (w^(1) for the second step, w for the first); "
        "you used w in both.": lambda **c: _two_step_anil_variant(**c, path_heads=False),
        "B also enters each inner step through B^T B w^(j): differentiating it gives the terms "
        "-alpha B xi^(j+1) w^(j)^T, which are missing.": lambda **c: _two_step_anil_variant(**c, body_terms=False),
        "you summed over the tasks: the meta-objective is an average, divide by n.":
            lambda **c: _two_step_anil_variant(**c, summed=True),
    }
    return compare("Exercise (two_step_anil_gradient)", fn, reference=steps(2),
                   make_case=lambda rng, i: _population_pair_case(rng, i, with_alpha=True), mistakes=mistakes,
                   structure=_pair_structure(),
                   forbid=("gbml.meta_gradient", "gbml.adapt", "gbml.beyond.adapt_steps",
                           "gbml.beyond.multistep_gradient", "gbml.beyond.multistep_objective"), **kwargs)


# -- chapters 5 and 6 (MAML, first-order methods) ------------------------------------------------------

def _maml_batch_case(rng, i):
    """n population tasks: B (d, k), w (k,), thetas (n, d), alpha (in this order: the learner's arguments)."""
    d, k, n = [(6, 2, 4), (10, 3, 7), (5, 1, 3), (8, 4, 12), (12, 2, 5)][i % 5]
    return {"B": 0.7 * rng.standard_normal((d, k)), "w": rng.standard_normal(k) + 0.3,
            "thetas": rng.standard_normal((n, d)), "alpha": float(rng.uniform(0.05, 0.5))}


def _maml_variant(B, w, thetas, alpha, *, adapt_body=True, adapt_head=True, order=None, sign=1.0, residual=False):
    """MAML's adapted predictions B_t w_t (n, d), with switches that reproduce plausible mistakes (``order``:
    None, both inner gradients at (B, w); "head-first", the body step uses w_t; "body-first", the reverse)."""
    r = B @ w - thetas                                               # (n, d)
    w_t = w - sign * alpha * r @ B if adapt_head else np.broadcast_to(w, (len(thetas), w.size))
    out = []
    for t in range(len(thetas)):
        B_t = B - sign * alpha * np.outer(r[t], w_t[t] if order == "head-first" else w) if adapt_body else B
        head = w - sign * alpha * B_t.T @ r[t] if order == "body-first" else w_t[t]
        out.append(B_t @ head - (thetas[t] if residual else 0.0))
    return np.array(out)


def _maml_prediction(B, w, thetas, alpha):
    B_t, w_t = adapt("maml", B, w, PopulationTasks(thetas), alpha)
    return np.einsum("tdk,tk->td", B_t, w_t)


def _rows_per_task(out, case):
    """A structure hook: a hint when the learner returned the (d, n) transpose of the (n, d) answer."""
    n_d = case["thetas"].shape
    if np.shape(out) == n_d[::-1] != n_d:
        return f"your output has shape {np.shape(out)}, the transpose of (n, d) = {n_d}: return one row per task."
    return None


def check_maml_adapted_prediction(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas, alpha) -> (n, d)``: MAML's adapted predictions ``B_t w_t`` of n population tasks
    (chapter 5).

    With ``r_t = B w - theta_t``: ``B_t = B - alpha r_t w^T`` and ``w_t = w - alpha B^T r_t`` (both inner
    gradients at the same ``(B, w)``), so ``B_t w_t = B w_t - alpha (w . w_t) r_t``.  B (d, k), w (k,),
    thetas (n, d), one task per row.
    """
    v = _maml_variant
    mistakes = {
        "you adapted only the head: B w_t is ANIL's prediction. MAML also moves the body, B_t = B - alpha r_t w^T, "
        "which adds - alpha (w . w_t) r_t.": lambda **c: v(**c, adapt_body=False),
        "you adapted the body but kept the old head: the prediction is B_t w_t with the adapted head "
        "w_t = w - alpha B^T r_t.": lambda **c: v(**c, adapt_head=False),
        "you used the adapted head w_t in the body's step: both inner gradients are taken at the same point "
        "(B, w), so B_t = B - alpha r_t w^T and B_t w_t = B w_t - alpha (w . w_t) r_t.":
            lambda **c: v(**c, order="head-first"),
        "you used the adapted body B_t in the head's step: both inner gradients are taken at the same point "
        "(B, w), so w_t = w - alpha B^T r_t.": lambda **c: v(**c, order="body-first"),
        "the inner step goes uphill: gradient descent subtracts alpha times the gradient, and the residual is "
        "r_t = B w - theta_t (prediction minus target).": lambda **c: v(**c, sign=-1.0),
        "you returned the adapted residuals B_t w_t - theta_t; the exercise asks for the predictions B_t w_t.":
            lambda **c: v(**c, residual=True),
        "the inner step size alpha is missing.": lambda B, w, thetas, alpha: v(B, w, thetas, 1.0),
    }
    return compare("Exercise (maml_adapted_prediction)", fn, reference=_maml_prediction, make_case=_maml_batch_case,
                   mistakes=mistakes, structure=_rows_per_task, forbid=("gbml.adapt",), **kwargs)


def check_fo_maml_gradient(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas, alpha) -> (G_B, G_w)``: FO-MAML's population outer gradient (chapter 6).

    With ``B_t, w_t`` MAML's adapted parameters and ``rh_t = B_t w_t - theta_t``:
    ``G_B = (1/n) sum_t rh_t w_t^T`` and ``G_w = (1/n) sum_t B_t^T rh_t``; B (d, k), w (k,), thetas (n, d).
    """
    def v(**case):
        return _first_order_variant(**case, maml=True)

    mistakes = {
        "that is FO-ANIL's gradient: MAML's inner step also adapts the body, B_t = B - alpha r_t w^T, so the "
        "adapted residual is B w_t - alpha (w . w_t) r_t - theta_t and G_w = B_t^T rh_t.":
            _population_gradient("fo-anil"),
        "you evaluated the outer residual before adaptation (B w - theta_t): the first-order gradient is the "
        "gradient of the loss *at the adapted parameters*, with rh_t = B_t w_t - theta_t.":
            lambda **c: v(**c, outer_adapted=False),
        "G_B is the outer product of the adapted residual with the adapted head, rh_t w_t^T; you used w.":
            lambda **c: v(**c, head_adapted=False),
        "G_w is B_t^T rh_t, with the adapted body: B_t^T rh_t = B^T rh_t - alpha (r_t . rh_t) w. You used B.":
            lambda **c: v(**c, body_in_head=False),
        "that is the exact MAML gradient, Hessian term included: the first-order method drops it and returns "
        "the plain gradient of the loss at (B_t, w_t).": _population_gradient("maml"),
        "you summed over the tasks: the outer gradient is the average, divide by n.":
            lambda **c: v(**c, summed=True),
    }
    return compare("Exercise (fo_maml_gradient)", fn, reference=_population_gradient("fo-maml"),
                   make_case=_maml_batch_case, mistakes=mistakes, structure=_pair_structure(("G_B", "G_w")),
                   forbid=("gbml.meta_gradient", "gbml.adapt"), **kwargs)


# -- chapter 7 (task diversity): the Gram matrix of ANIL's adapted heads -------------------------------

def _head_gram_case(rng, i):
    d, k, n = [(6, 2, 5), (10, 3, 8), (5, 1, 3), (12, 4, 20), (8, 3, 2)][i % 5]
    B_star = random_orthonormal(d, k, rng)
    return {"B": 0.8 * rng.standard_normal((d, k)), "w": rng.standard_normal(k),
            "thetas": rng.standard_normal((n, k)) @ B_star.T, "alpha": float(rng.uniform(0.05, 0.5))}


def _adapted_heads(B, w, thetas, alpha, *, sign=-1.0, step=True):
    """ANIL's adapted heads ``w - alpha B^T (B w - theta_t)`` as rows (n, k), with switches for mistakes."""
    return w + sign * (alpha if step else 1.0) * (w @ B.T - thetas) @ B


def _gram(heads):
    return heads.T @ heads / len(heads)


def check_head_gram(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, thetas, alpha) -> (k, k)``: the Gram matrix ``(1/n) sum_t w_t w_t^T`` of ANIL's adapted heads.

    Population tasks (chapter 7): ``w_t = w - alpha B^T (B w - theta_t)`` with B (d, k), w (k,) non-zero and
    thetas (n, d), one regressor per row.
    """
    mistakes = {
        "you used the head before adaptation: the Gram matrix is built from the adapted heads "
        "w_t = w - alpha B^T (B w - theta_t), one per task.": lambda B, w, thetas, alpha: np.outer(w, w),
        "you used the w = 0 formula alpha^2 B^T theta_t: with w != 0 the adapted head is w - alpha B^T (B w - theta_t), "
        "keep the w terms.": lambda B, w, thetas, alpha: _gram(alpha * thetas @ B),
        "the inner step is gradient *descent*: w_t = w - alpha B^T (B w - theta_t); you added the gradient "
        "(or used the residual theta_t - B w).": lambda B, w, thetas, alpha: _gram(_adapted_heads(B, w, thetas, alpha, sign=1.0)),
        "the inner step size alpha is missing: w_t = w - alpha B^T (B w - theta_t).":
            lambda B, w, thetas, alpha: _gram(_adapted_heads(B, w, thetas, alpha, step=False)),
        "you forgot to divide by the number of tasks n = len(thetas).":
            lambda B, w, thetas, alpha: len(thetas) * _gram(_adapted_heads(B, w, thetas, alpha)),
        "you subtracted the mean head (that is the covariance); the Gram matrix is the second moment "
        "(1/n) sum_t w_t w_t^T, mean included.":
            lambda B, w, thetas, alpha: np.atleast_2d(np.cov(_adapted_heads(B, w, thetas, alpha).T, bias=True)),
    }
    return compare("Exercise (head_gram)", fn,
                   reference=lambda B, w, thetas, alpha: _gram(adapt("anil", B, w, PopulationTasks(thetas), alpha)[1]),
                   make_case=_head_gram_case, mistakes=mistakes, forbid=("gbml.adapt", "gbml.beyond.adapt_steps"),
                   **kwargs)


# -- chapter 8 (finite samples): the sampled inner gradient of every task ------------------------------

def _sampled_gradient_case(rng, i):
    d, k, n, m = [(6, 2, 3, 4), (10, 3, 5, 12), (5, 1, 1, 3), (8, 4, 6, 20), (12, 2, 4, 7)][i % 5]
    return {"B": rng.standard_normal((d, k)), "w": rng.standard_normal(k), "X": rng.standard_normal((n, m, d)),
            "y": rng.standard_normal((n, m))}


def _sampled_gradient(B, w, X, y, *, scale=1.0, sign=1.0, labels=True):
    r = sign * (X @ (B @ w) - (y if labels else 0.0))          # (n, m) residuals
    return scale * (r[:, None, :] @ X)[:, 0, :] / len(r[0])     # (n, d): X_t^T r_t / m


def check_sampled_inner_gradient(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, w, X, y) -> (n, d)``: the sampled gradient ``X_t^T (X_t B w - y_t) / m`` of every task (chapter 8).

    B (d, k), w (k,), X (n, m, d) support inputs, y (n, m) support labels; row t of the answer is task t's
    gradient of ``1/(2m) ||X_t B w - y_t||^2`` with respect to the prediction ``v = B w``.
    """
    mistakes = {
        "the loss is an average over the m samples of a task: divide X_t^T (X_t B w - y_t) by m = X.shape[1].":
            lambda B, w, X, y: _sampled_gradient(B, w, X, y, scale=X.shape[1]),
        "you divided by n * m: each task has its own gradient, averaged over its own m samples only.":
            lambda B, w, X, y: _sampled_gradient(B, w, X, y, scale=1.0 / X.shape[0]),
        "the residual is prediction minus label, X_t B w - y_t; you used y_t - X_t B w.":
            lambda B, w, X, y: _sampled_gradient(B, w, X, y, sign=-1.0),
        "the labels are missing: the residual is X_t B w - y_t, not X_t B w.":
            lambda B, w, X, y: _sampled_gradient(B, w, X, y, labels=False),
        "you averaged the gradients over the tasks: return one gradient per task, an (n, d) array.":
            lambda B, w, X, y: np.broadcast_to(_sampled_gradient(B, w, X, y).mean(axis=0), (X.shape[0], X.shape[2])),
    }
    return compare("Exercise (sampled_inner_gradient)", fn,
                   reference=lambda B, w, X, y: SampledTasks(X, y, X, y).inner.grad(B @ w),
                   make_case=_sampled_gradient_case, mistakes=mistakes, forbid=("SampledTasks.inner.grad",), **kwargs)


# -- chapter 9 (beyond the theorem): least-squares heads, the inner loop of alternating minimisation ---

def _ls_heads_case(rng, i):
    d, k, n = [(6, 2, 3), (10, 3, 5), (5, 1, 4), (12, 4, 2), (8, 3, 6)][i % 5]
    A = rng.standard_normal((d, d))
    Sigma = A @ A.T / d + 0.5 * np.eye(d)  # a non-isotropic input covariance (positive definite)
    return {"B": rng.standard_normal((d, k)), "thetas": rng.standard_normal((n, d)), "Sigma": Sigma}


def check_least_squares_heads(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(B, thetas, Sigma) -> (n, k)``: the population least-squares heads of chapter 9.

    ``w_t = (B^T Sigma B)^{-1} B^T Sigma theta_t`` for B (d, k), thetas (n, d) (one regressor per row) and
    an input covariance Sigma (d, d); one head per row of the result.
    """
    def solve(B, thetas, M, N):
        return np.linalg.solve(B.T @ M @ B, B.T @ N @ thetas.T).T

    eye = lambda B: np.eye(B.shape[0])  # noqa: E731
    mistakes = {
        "you left out the input covariance: with x ~ N(0, Sigma) the task loss is 1/2 (Bw - theta)^T Sigma "
        "(Bw - theta), so the normal equations are (B^T Sigma B) w = B^T Sigma theta.":
            lambda B, thetas, Sigma: solve(B, thetas, eye(B), eye(B)),
        "Sigma belongs on both sides of the normal equations: (B^T Sigma B) w = B^T Sigma theta "
        "(you dropped it on the right-hand side).": lambda B, thetas, Sigma: solve(B, thetas, Sigma, eye(B)),
        "Sigma belongs on both sides of the normal equations: (B^T Sigma B) w = B^T Sigma theta "
        "(you dropped it from the Gram matrix).": lambda B, thetas, Sigma: solve(B, thetas, eye(B), Sigma),
        "you returned B^T Sigma theta_t, one gradient step from w = 0 with step 1: the least-squares head also "
        "solves with the Gram matrix B^T Sigma B.": lambda B, thetas, Sigma: thetas @ Sigma @ B,
    }
    return compare("Exercise (least_squares_heads)", fn,
                   reference=lambda B, thetas, Sigma: fit_heads(B, PopulationTasks(thetas, input_cov=Sigma)),
                   make_case=_ls_heads_case, mistakes=mistakes, forbid=("gbml.beyond.fit_heads",), **kwargs)


# -- chapter 10 (the paper's experiments, re-run): iterations to a tolerance ---------------------------

def _iterations_case(rng, i):
    if i < 2:  # exact powers first: 1 * 0.1**5 = 1e-5 and 0.3 * 0.9**4 = 0.19683 (5 and 4 rounds)
        return [{"d0": 1.0, "rate": 0.1, "tol": 1e-5}, {"d0": 0.3, "rate": 0.9, "tol": 0.19683}][i]
    d0 = float(10 ** rng.uniform(-4, 0))
    return {"d0": d0, "rate": float(rng.uniform(0.9, 0.999)), "tol": d0 * float(10 ** -rng.uniform(1, 9))}


def check_iterations_needed(fn: Callable, **kwargs) -> CheckResult:
    """Check ``fn(d0, rate, tol) -> int``: the fewest s >= 0 with ``d0 * rate**s <= tol`` (0 < tol < d0, 0 < rate < 1).

    ``s = log(tol/d0) / log(rate)`` is rounded up after a relative ``1e-9`` is taken off, so that exact
    powers give their exponent (``0.1**5 > 1e-5`` in floating point).  For ``rate <= 1 - 1e-6`` and
    ``tol <= d0 (1 - 1e-6)`` rounding moves ``s`` by a relative ``eps (3/|log(tol/d0)| + 2/|log rate| + 3)
    < 1e-9`` (``eps = 2**-53``), so an exact power ``tol = d0 * rate**n`` gives ``n`` for any ``n < 10**8``.
    """
    def reference(d0, rate, tol):
        return float(np.ceil(np.log(tol / d0) / np.log(rate) * (1 - 1e-9)))

    mistakes = {
        "log(tol/d0)/log(rate) is a whole number up to rounding here (an exact power, such as d0 = 1, rate = 0.1, "
        "tol = 1e-5), and np.ceil rounded the rounding error up: take a relative 1e-9 off before rounding up.":
            lambda d0, rate, tol: float(np.ceil(np.log(tol / d0) / np.log(rate))),
        "you rounded down: the fewest iterations that reach the tolerance round log(tol/d0)/log(rate) *up* "
        "(np.ceil).": lambda d0, rate, tol: float(np.floor(np.log(tol / d0) / np.log(rate))),
        "you used the approximation log(1/rate) ~ 1 - rate; it is close for rates near 1 but not exact: divide "
        "by -log(rate).": lambda d0, rate, tol: float(np.ceil(np.log(d0 / tol) / (1 - rate))),
        "the starting distance d0 is missing: d0 * rate^s <= tol gives s >= log(tol / d0) / log(rate).":
            lambda d0, rate, tol: float(np.ceil(np.log(tol) / np.log(rate))),
        "you mixed logarithms of different bases (log10 on one side, natural log on the other): any base "
        "works if it is the same in the numerator and the denominator.":
            lambda d0, rate, tol: float(np.ceil(np.log10(tol / d0) / np.log(rate))),
        "you did not round to a whole number of iterations (np.ceil).":
            lambda d0, rate, tol: np.log(tol / d0) / np.log(rate),
    }
    return compare("Exercise (iterations_needed)", fn, reference=reference, make_case=_iterations_case,
                   mistakes=mistakes, forbid=("gbml.iterations_to",), **kwargs)
