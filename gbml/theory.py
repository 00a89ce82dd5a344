"""What the theory predicts, and how to read it off a run (book chapters 4 and 7)."""
from __future__ import annotations

import warnings

import numpy as np

from . import _checks
from . import _guard

__all__ = ["local_rate", "diversity", "measured_rate", "iterations_to"]


def _psi(Psi_or_problem):
    """A head second moment: a symmetric positive semi-definite k x k array (k >= 1), or a Problem's."""
    Psi = getattr(Psi_or_problem, "Psi", Psi_or_problem)
    return _checks.psd_matrix("Psi", Psi)


@_guard.reference("gbml.local_rate")
def local_rate(alpha: float, beta: float, Psi) -> float:
    """Predicted contraction factor per round near the solution: ``1 - alpha * beta * lambda_min(Psi)``.

    ``Psi`` is the head second moment (a k x k array, or a ``Problem``): of a fixed batch,
    ``(1/n) sum_t w*_t w*_t^T``, or ``E[w* w*^T]`` for fresh tasks each round.

    Chapter 7 (``prop-td-local``) derives it for FO-ANIL and ANIL on a fixed batch, as the contraction of
    the linearised error outside ``col(B*)`` at ``B = B* Q / sqrt(alpha)``, ``w = 0``, and only under the
    step-size condition ``alpha * beta * lambda_max(Psi) < 1/2`` (ANIL; ``< 1`` for FO-ANIL), which keeps
    the linearised ``(A, w)`` block stable.  Outside it the value returned can be below 1 while the
    solution is unstable and a run diverges (chapter 7: ``Psi = diag(21, 1, 0.3)``, ``alpha = 0.1``,
    ``beta = 0.5``).  For MAML and FO-MAML, and for fresh tasks each round, it is an approximation that
    the book checks by measurement, not an identity.
    """
    alpha = _checks.real("alpha", alpha, low=0.0, strict_low=True)
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    rate = float(1.0 - alpha * beta * np.linalg.eigvalsh(_psi(Psi))[0])
    if rate <= -1:  # rate > 1 cannot happen: Psi is PSD; rate = 1 (lambda_min = 0) means no contraction
        warnings.warn(f"local_rate: the factor {rate:.4g} lies outside (-1, 1): alpha * beta * lambda_min(Psi) "
                      ">= 2, so the iteration does not contract near the solution; use a smaller alpha or beta",
                      RuntimeWarning, stacklevel=2)
    return rate


def diversity(heads=None, *, Psi=None) -> dict:
    """Diversity statistics of a batch of heads (n, k), or of a second-moment matrix given as ``Psi=``.

    ``diversity(heads)`` uses ``Psi_hat = (1/n) sum_t w*_t w*_t^T`` (every array passed positionally is a
    batch of heads, square or not); ``diversity(Psi=M)`` uses a symmetric PSD ``M`` (k, k) or a Problem's
    ``Psi``.  Returns ``mu2 = lambda_min``, ``L2 = lambda_max`` and ``kappa = sqrt(L2 / mu2)`` (the paper's
    ``mu*^2``, ``L*^2`` and ``kappa*``; inf when ``mu2 = 0``).
    """
    if (heads is None) == (Psi is None):
        raise TypeError("diversity takes a batch of heads (n, k) positionally or a second moment as Psi=, "
                        "exactly one of them")
    if Psi is not None:
        Psi = _psi(Psi)
    elif hasattr(heads, "Psi"):  # a Problem: its Psi
        Psi = _psi(heads)
    else:
        A = _checks.array("heads", heads, 2)
        Psi = A.T @ A / A.shape[0]
    eig = np.linalg.eigvalsh(Psi)
    mu2, L2 = max(float(eig[0]), 0.0), float(eig[-1])
    return {"mu2": mu2, "L2": L2, "kappa": float(np.sqrt(L2 / mu2)) if mu2 > 0 else float("inf"),
            "eigenvalues": eig}


def measured_rate(distance, *, low: float = 1e-10, high: float = 1e-2) -> float:
    """Per-iteration contraction factor fitted to the part of a distance curve inside [low, high].

    A least-squares line through ``log(distance)`` against the iteration; returns ``exp(slope)``.
    ``distance`` is a curve of finite numbers >= 0 (a run that diverged: pass the part before it); the window
    must satisfy ``0 < low < high`` (finite).  Fewer than 3 points inside it (an all-zero curve, say) is a
    ValueError, never NaN.
    """
    low = _checks.real("low", low, low=0.0, strict_low=True)
    high = _checks.real("high", high, low=low, strict_low=True)
    dist = _checks.array("distance", distance, 1)
    if dist.min() < 0:
        raise ValueError(f"distance must hold distances >= 0, got a minimum of {dist.min():g}")
    idx = np.flatnonzero((dist >= low) & (dist <= high))
    if idx.size < 3:
        raise ValueError(
            f"distance has fewer than 3 points in [{low:g}, {high:g}]; run longer or widen the window"
        )
    slope = np.polyfit(idx, np.log(dist[idx]), 1)[0]
    return float(np.exp(slope))


@_guard.reference("gbml.iterations_to")
def iterations_to(distance, tol: float) -> int | None:
    """First iteration at which the distance is below ``tol`` (None if never).

    ``distance`` is a curve of numbers >= 0 that starts finite; NaN entries may follow (the iterations after a
    run diverged: they never count).  An all-NaN curve, inf or a negative distance is a ValueError.
    """
    dist = _checks.array("distance", distance, 1, finite=False)  # NaN after a divergence never counts
    tol = _checks.real("tol", tol, low=0.0, strict_low=True)
    if not np.isfinite(dist[0]) or np.isinf(dist).any() or (dist < 0).any():
        raise ValueError("distance must be a curve of distances >= 0 starting with a finite value (NaN may only "
                         "follow, after a divergence), got " + ("no finite value" if np.isnan(dist).all() else
                                                                 f"{dist[:5]!r}..."))
    hit = np.flatnonzero(dist < tol)
    return int(hit[0]) if hit.size else None
