"""Argument checks shared by the package: every error names the parameter and what is accepted."""
from __future__ import annotations

import numbers

import numpy as np


def as_rng(rng, stream: int | None = None) -> np.random.Generator:
    """Return a Generator from an int seed or a Generator (the only two things accepted).

    ``stream`` keeps the draws of one kind of object apart from the others made from the same int seed
    (``Problem(rng=1)`` and ``train(rng=1)`` must not draw the same numbers, or the random initial body
    would equal ``B*``); a Generator passed in is used as it is.
    """
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
    if low is not None:
        if strict_low and not value > low:
            raise ValueError(f"{name} must be > {low}, got {value}")
        if not strict_low and not value >= low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    return value


def array(name: str, value, ndim: int, shape: tuple | None = None) -> np.ndarray:
    """Convert to a finite float array with ``ndim`` axes; ``shape`` entries of None are free."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real array, got {type(value).__name__}") from None
    if arr.ndim != ndim:
        want = "x".join("?" if s is None else str(s) for s in shape) if shape else f"{ndim}-d"
        raise ValueError(f"{name} must have {ndim} axes (shape {want}), got shape {arr.shape}")
    if shape is not None:
        for axis, (got, want) in enumerate(zip(arr.shape, shape)):
            if want is not None and got != want:
                raise ValueError(
                    f"{name} has shape {arr.shape}, but axis {axis} must have length {want}"
                    " to match the other arguments"
                )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values (found NaN or inf)")
    return arr


def psd_matrix(name: str, value, size: int) -> np.ndarray:
    """Check a symmetric positive semi-definite ``size x size`` matrix."""
    M = array(name, value, 2, (size, size))
    if not np.allclose(M, M.T, atol=1e-12):
        raise ValueError(f"{name} must be symmetric positive semi-definite (it is not symmetric)")
    smallest = np.linalg.eigvalsh(M)[0]
    if smallest < -1e-12 * max(1.0, np.abs(M).max()):
        raise ValueError(f"{name} must be symmetric positive semi-definite (smallest eigenvalue {smallest:.3g} < 0)")
    return M
