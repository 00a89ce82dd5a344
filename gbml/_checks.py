"""Argument checks shared by the package: every error names the parameter and what is accepted."""
from __future__ import annotations

import math
import numbers
import os

import numpy as np


class NonFiniteError(ValueError):
    """A computation overflowed (its result holds NaN or inf) although every input was finite."""


def as_rng(rng, stream: int | None = None) -> np.random.Generator:
    """A Generator from an int seed or a Generator (used as it is).  ``stream`` keeps the draws of one kind of
    object apart from others of the same seed (``Problem(rng=1)`` and ``train(rng=1)`` must not draw the
    same numbers, or the random initial body would equal ``B*``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if rng < 0:
            raise ValueError(f"rng must be a non-negative int seed or a numpy Generator, got {rng}")
        return np.random.default_rng(int(rng) if stream is None else [int(rng), stream])
    raise TypeError(
        "rng must be an int seed or a numpy.random.Generator "
        f"(randomness is always passed in), got {type(rng).__name__}"
    )


def positive_int(name: str, value, minimum: int = 1) -> int:
    """Check an integer size ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def real(name: str, value, *, low: float | None = None, strict_low: bool = False) -> float:
    """Check a finite real number, optionally bounded below (``>= low`` or ``> low``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and not (value > low if strict_low else value >= low):
        raise ValueError(f"{name} must be {'>' if strict_low else '>='} {low}, got {value}")
    return value


def array(name: str, value, ndim: int, shape: tuple | None = None, *, nonempty: bool = True,
          copy: bool = False, finite: bool = True) -> np.ndarray:
    """Convert to a finite float array with ``ndim`` axes; ``shape`` entries of None are free.

    Complex input is refused (never truncated to its real part); with ``nonempty`` every axis has length
    >= 1; with ``copy`` the result is read-only and never the caller's writeable array; ``finite=False``
    lets NaN and inf through (a distance curve that stops at a divergence).
    """
    if type(value) is np.ndarray and value.dtype == np.float64:  # the common case, fast (the training hot path)
        arr = value
    elif np.iscomplexobj(value) or (isinstance(value, (list, tuple)) and _holds_complex(value)):
        raise TypeError(f"{name} must be a real array, got complex values (pass .real explicitly if meant)")
    else:
        try:
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real array, got {type(value).__name__}") from None
    if arr.ndim != ndim:
        want = "x".join("?" if s is None else str(s) for s in shape) if shape else f"{ndim}-d"
        raise ValueError(f"{name} must have {ndim} axes (shape {want}), got shape {arr.shape}")
    for axis, (got, want) in enumerate(zip(arr.shape, shape or ())):
        if want is not None and got != want:
            raise ValueError(f"{name} has shape {arr.shape}, but axis {axis} must have length "
                             f"{want} to match the other arguments")
    if nonempty and 0 in arr.shape:
        raise ValueError(f"{name} must not be empty (every axis of length >= 1), got shape {arr.shape}")
    if finite and not all_finite(arr):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    if copy and (arr.flags.writeable or arr.base is not None):  # a read-only array owning its data is kept
        arr = arr.copy()
        arr.setflags(write=False)
    return arr


def _holds_complex(value) -> bool:
    """True if a (nested) list or tuple holds a complex number."""
    return any(isinstance(v, complex) or (isinstance(v, (list, tuple)) and _holds_complex(v)) for v in value)


# The largest request (bytes) accepted before allocating: half the machine's memory (8 GB if unknown).
try:
    MAX_BYTES = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) // 2
except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
    MAX_BYTES = 8 * 2**30


def fits(what: str, count: int, itemsize: int = 8) -> None:
    """Refuse, before allocating, a request of ``count`` numbers that cannot fit in memory."""
    nbytes = int(count) * itemsize
    if nbytes > MAX_BYTES:
        raise ValueError(
            f"{what} needs {nbytes / 1e9:.3g} GB ({nbytes} bytes), more than the {MAX_BYTES / 1e9:.3g} GB "
            "this machine can spare; use smaller sizes"
        )


def method_name(name: str, value, known) -> str:
    """Check that ``value`` is one of the names in ``known`` (any other type is refused, not hashed)."""
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"{name} must be one of {', '.join(repr(m) for m in known)}; got {value!r}")
    return value


def method_spec(value, methods):
    """The switches ``methods[value]`` of the parameter ``method`` (a name of ``gbml.METHODS``)."""
    return methods[method_name("method", value, methods)]


def names(name: str, values, known) -> list:
    """A non-empty list or tuple of names of ``known`` (the parameter ``methods`` holds ``method`` names)."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)) or not values:
        raise TypeError(f"{name} must be a non-empty list of {name[:-1]} names, got {values!r}")
    return [method_name(name[:-1], value, known) for value in values]


def per_run(name: str, value, R: int) -> list:
    """One value for every one of R runs, or a list, tuple or array of one per run."""
    values = list(value) if isinstance(value, (list, tuple, np.ndarray)) else [value] * R
    if len(values) != R:
        raise ValueError(f"{name} must be one number or one per run ({R}), got {len(values)}")
    return values


def no_float_warnings():
    """Silence numpy's overflow/invalid warnings inside a ``with`` block whose results are then checked."""
    return np.errstate(all="ignore")


def all_finite(a) -> bool:
    """Whether every entry of the float array ``a`` is finite: its sum of squares is (one fast dot product),
    or, when that overflows, every ``np.isfinite`` entry is."""
    return math.isfinite(np.vdot(a, a)) or bool(np.isfinite(a).all())


def finite_result(what: str, *values, alpha: float | None = None, steps: bool = False):
    """The value (or the tuple of ``values``) if every one is finite, else :class:`NonFiniteError` naming
    ``what`` and the fix: a smaller ``alpha`` (when the routine has one), fewer inner ``steps`` (when it has
    them), or rescaling."""
    if all(all_finite(v) for v in values):
        return values[0] if len(values) == 1 else values
    causes, fixes = ["the scale of B and w"], ["rescale B and w"]
    if steps:
        causes, fixes = ["the number of steps"] + causes, ["fewer steps"] + fixes
    if alpha is not None:
        causes, fixes = [f"alpha = {alpha:g}"] + causes, ["use a smaller alpha"] + fixes
    raise NonFiniteError(f"{what} overflowed (the result holds NaN or inf): {', '.join(causes)} is too large "
                         f"for floating point; {', '.join(fixes)}")


def orthonormal(name: str, value, shape: tuple | None = None, *, atol: float = 1e-10) -> np.ndarray:
    """Check a d x k matrix with orthonormal columns (``M^T M = I``)."""
    M = array(name, value, 2, shape)
    if M.shape[1] > M.shape[0] or not np.allclose(M.T @ M, np.eye(M.shape[1]), atol=atol):
        raise ValueError(f"{name} must have orthonormal columns ({name}^T {name} = I_k), e.g. from "
                         "gbml.orthonormal_basis")
    return M


def seeds(name: str, value) -> tuple:
    """A non-empty sequence of non-negative int seeds (not a bare int, not floats)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, range, np.ndarray)):
        raise TypeError(f"{name} must be a non-empty sequence of int seeds, e.g. (0, 1, 2), got {value!r}")
    out = tuple(positive_int(f"{name}[{i}]", v, minimum=0) for i, v in enumerate(value))
    if not out:
        raise ValueError(f"{name} must hold at least one seed, e.g. (0, 1, 2)")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must not repeat a seed, got {out}")
    return out


def grid(name: str, values, *, minimum: int = 2, same_kind: bool = True) -> list:
    """Grid values: at least ``minimum``, hashable, pairwise distinct, numbers finite; with ``same_kind``
    all numbers or all labels (a slider cannot mix them)."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
        raise TypeError(f"{name} must be a sequence of grid values, got {values!r}")
    values = list(values)
    if len(values) < minimum:
        raise ValueError(f"{name} must hold at least {minimum} grid value{'s' * (minimum > 1)}, got "
                         f"{values!r}{' (it is empty)' if not values else ''}")
    is_num = [isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values]
    if same_kind and any(is_num) and not all(is_num):
        raise TypeError(f"{name} mixes numbers and other values: give all numbers or all labels, got {values!r}")
    for i, v in enumerate(values):
        try:
            hash(v)
        except TypeError:
            raise TypeError(f"{name} values must be hashable (numbers or strings), got {v!r}") from None
        if is_num[i] and not np.isfinite(float(v)):
            raise ValueError(f"{name} must hold finite numbers (no NaN or inf), got {values!r}")
        if any(v == u for u in values[:i]):
            raise ValueError(f"{name} holds the value {v!r} twice: each grid value must be distinct")
    return values


def psd_matrix(name: str, value, size: int | None = None, *, copy: bool = False) -> np.ndarray:
    """Check a symmetric positive semi-definite ``size x size`` matrix (any square size if None)."""
    M = array(name, value, 2, (size, size), copy=copy)
    if M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square symmetric positive semi-definite matrix, got shape {M.shape}")
    if not np.allclose(M, M.T, atol=1e-12):
        raise ValueError(f"{name} must be symmetric positive semi-definite (it is not symmetric)")
    smallest = np.linalg.eigvalsh(M)[0]
    # Rounding moves an eigenvalue by about (size x machine precision x the largest entry): no more is let by.
    if smallest < -10 * M.shape[0] * np.finfo(float).eps * np.abs(M).max():
        raise ValueError(f"{name} must be symmetric positive semi-definite (smallest eigenvalue {smallest:.3g} < 0)")
    return M


_TASK_TYPES = None  # (PopulationTasks, SampledTasks), once gbml.tasks is imported


def point(B, w, tasks, alpha):
    """Check a point ``B`` (d, k), ``w`` (k,) and an inner step ``alpha >= 0`` against the ``tasks``
    (PopulationTasks or SampledTasks, with k <= d); return them as arrays and a float."""
    global _TASK_TYPES
    if _TASK_TYPES is None:  # imported here: gbml.tasks itself imports this module
        from .tasks import PopulationTasks, SampledTasks
        _TASK_TYPES = (PopulationTasks, SampledTasks)
    if (type(B) is np.ndarray and type(w) is np.ndarray and B.dtype == w.dtype == np.float64 and B.ndim == 2
            and w.ndim == 1 and type(alpha) is float and 0.0 <= alpha < np.inf and isinstance(tasks, _TASK_TYPES)
            and B.shape[0] == tasks.d and 0 < B.shape[1] == w.shape[0] <= tasks.d and all_finite(B) and all_finite(w)):
        return B, w, alpha  # every check passed, fast (the common case; the errors come from the checks below)
    if not isinstance(tasks, _TASK_TYPES):
        raise TypeError(f"tasks must be a gbml.PopulationTasks or gbml.SampledTasks, got {type(tasks).__name__}")
    B = array("B", B, 2, (tasks.d, None))
    k = B.shape[1]
    if k > tasks.d:
        raise ValueError(f"B must be d x k with k <= d, got shape {B.shape}")
    w = array("w", w, 1, (k,))
    alpha = real("alpha", alpha, low=0.0)
    return B, w, alpha
