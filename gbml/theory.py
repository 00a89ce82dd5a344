"""What the theory predicts, and how to read it off a run (book chapters 4 and 7)."""
from __future__ import annotations

import warnings

import numpy as np

from . import _checks, _guard
from .geometry import split_body

__all__ = ["local_rate", "diversity", "measured_rate", "iterations_to", "global_bound"]


def _psi(Psi_or_problem):
    """A head second moment: a symmetric positive semi-definite k x k array (k >= 1), or a Problem's."""
    return _checks.psd_matrix("Psi", getattr(Psi_or_problem, "Psi", Psi_or_problem))


@_guard.reference("gbml.local_rate")
def local_rate(alpha: float, beta: float, Psi) -> float:
    """Predicted contraction factor per round near the solution: ``1 - alpha * beta * lambda_min(Psi)``.

    ``Psi`` is the head second moment (k x k, or a ``Problem``'s): ``(1/n) sum_t w*_t w*_t^T`` of a fixed
    batch, or ``E[w* w*^T]`` for fresh tasks.  Chapter 7 (``prop-td-local``) derives it for FO-ANIL and ANIL
    on a fixed batch under ``alpha * beta * lambda_max(Psi) < 1/2`` (ANIL; ``< 1`` for FO-ANIL); past that
    condition a run may diverge, or settle on a period-2 orbit, although the value is below 1.  For MAML,
    FO-MAML and fresh tasks it is an approximation the book checks by measurement.
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

    ``diversity(heads)`` uses ``Psi_hat = (1/n) sum_t w*_t w*_t^T`` (an array passed positionally is always
    a batch of heads); ``diversity(Psi=M)`` a symmetric PSD ``M`` (k, k) or a Problem's ``Psi``.  Returns
    ``mu2 = lambda_min``, ``L2 = lambda_max``, ``kappa = sqrt(L2 / mu2)`` (inf when ``mu2 = 0``; the book's
    ``mu*^2``, ``L*^2``, ``kappa*``) and the ``eigenvalues``.
    """
    if (heads is None) == (Psi is None):
        raise TypeError("diversity takes a batch of heads (n, k) positionally or a second moment as Psi=, "
                        "exactly one of them")
    if Psi is not None or hasattr(heads, "Psi"):  # a second moment, or a Problem's
        Psi = _psi(heads if Psi is None else Psi)
    else:
        A = _checks.array("heads", heads, 2)
        Psi = A.T @ A / A.shape[0]
    eig = np.linalg.eigvalsh(Psi)
    mu2, L2 = max(float(eig[0]), 0.0), float(eig[-1])
    return {"mu2": mu2, "L2": L2, "kappa": float(np.sqrt(L2 / mu2)) if mu2 > 0 else float("inf"),
            "eigenvalues": eig}


def measured_rate(distance, *, low: float = 1e-10, high: float = 1e-2) -> float:
    """Per-iteration contraction factor fitted to the part of a distance curve inside [low, high].

    ``exp(slope)`` of a least-squares line through ``log(distance)`` against the iteration.  ``distance`` is a
    curve of finite numbers >= 0 (of a diverged run, the part before it), ``0 < low < high``; fewer than 3
    points in the window (an all-zero curve, say) is a ValueError, never NaN.
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
    """First iteration at which the distance reaches ``tol`` (None if never).

    Reaching is at or below ``tol`` up to a relative ``1e-9``, so exact powers reach it on time
    (``0.1 ** np.arange(10)`` reaches ``1e-5`` at 5, although ``0.1**5 > 1e-5`` in floating point).
    ``distance`` is a curve of numbers >= 0 starting finite; NaN may follow (after a divergence; never counts).
    """
    dist = _checks.array("distance", distance, 1, finite=False)  # NaN after a divergence never counts
    tol = _checks.real("tol", tol, low=0.0, strict_low=True)
    if not np.isfinite(dist[0]) or np.isinf(dist).any() or (dist < 0).any():
        raise ValueError("distance must be a curve of distances >= 0 starting with a finite value (NaN may only "
                         "follow, after a divergence), got " + ("no finite value" if np.isnan(dist).all() else
                                                                  f"{dist[:5]!r}..."))
    hit = np.flatnonzero(dist <= tol * (1 + 1e-9))
    return int(hit[0]) if hit.size else None


def global_bound(alpha: float, beta: float, Psi, B0, B_star, *, T: int | None = None) -> dict:
    """The constants of chapter 7's global theorem for FO-ANIL (``thm-global-fo-anil``).

    FO-ANIL starts at ``(B0, w0 = 0)`` and trains on a fixed batch whose heads have mean zero and second
    moment ``Psi`` (or in the population limit with ``E[w*] = 0``).  With ``B0 = B* A0 + U_perp E0``
    (:func:`gbml.split_body`) and ``W0 = alpha Psi^(1/2) A0 A0^T Psi^(1/2)``, the theorem's constants are

    * ``ell = min(lambda_min(W0), lambda_min(Psi))`` and ``u = max(lambda_max(W0), lambda_max(Psi))`` (the
      book's h): the spectrum of ``alpha A_t^T Psi A_t`` stays in ``[ell, u]`` for every round t;
    * ``rho = 1 - alpha beta ell`` (the book's rho_ell): ``||E_t||_2 <= rho^t ||E0||_2``;
    * ``C = sqrt(alpha lambda_max(Psi) / ell) ||E0||_2`` (the book's D_0): ``dist(B_t, B*) <= C rho^t``;

    all under the step condition ``alpha beta u <= 1/3`` (``step_ok``, which allows a relative 1e-12 of
    rounding, so that ``beta = 1 / (3 alpha u)`` counts as at the limit).  With ``T``, also the theorem's
    sharper bound along rounds 0..T (``refined``): with ``ell_0 = ell`` and
    ``ell_(s+1) = ell_s (1 + alpha beta (lambda_min(Psi) - ell_s))^2``, every ``alpha A_s^T Psi A_s``
    has smallest eigenvalue at least ``ell_s`` and
    ``dist(B_t, B*) <= sqrt(alpha lambda_max(Psi) / ell_t) ||E0||_2 prod_(s<t) (1 - alpha beta ell_s)``.
    ``Psi`` must be positive definite and ``A0`` invertible (``dist(B0, B*) < 1``), else this raises.

    Returns a dict with floats ``ell``, ``u``, ``rho``, ``C``, ``step`` (``alpha beta u``), bool ``step_ok``
    and, with ``T``, arrays ``ell_t`` and ``refined`` of shape (T + 1,).
    """
    alpha = _checks.real("alpha", alpha, low=0.0, strict_low=True)
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    Psi = _psi(Psi)
    A0, E0 = split_body(B0, B_star)
    if A0.shape != Psi.shape:
        raise ValueError(f"Psi must be k x k with k = {A0.shape[0]} (the columns of B_star and of B0), "
                         f"got shape {Psi.shape}")
    lam, V = np.linalg.eigh(Psi)
    if lam[0] <= 0:
        raise ValueError("Psi must be positive definite: with lambda_min(Psi) = 0 the theorem gives no "
                         "contraction (a direction no task uses is never learned)")
    Z0 = np.sqrt(alpha) * (V * np.sqrt(lam)) @ V.T @ A0  # W0 = Z0 Z0^T
    z = np.linalg.svd(Z0, compute_uv=False) ** 2
    if z.min() <= 1e-14 * max(z.max(), lam[-1]):
        raise ValueError("B0 must have an invertible inside part A0 = B*^T B0 (dist(B0, B*) < 1)")
    ell, u = min(z.min(), lam[0]), max(z.max(), lam[-1])
    step, eta, E0_norm = alpha * beta * u, alpha * beta, np.linalg.norm(E0, 2)
    out = {"ell": float(ell), "u": float(u), "rho": float(1 - eta * ell),
           "C": float(np.sqrt(alpha * lam[-1] / ell) * E0_norm),
           "step": float(step), "step_ok": bool(step <= (1 / 3) * (1 + 1e-12))}  # 1/3 up to rounding
    if T is not None:
        T = _checks.positive_int("T", T, minimum=0)
        ell_t = np.empty(T + 1)
        ell_t[0] = ell
        for s in range(T):
            ell_t[s + 1] = ell_t[s] * (1 + eta * (lam[0] - ell_t[s])) ** 2
        factors = np.concatenate([[1.0], np.cumprod(1 - eta * ell_t[:-1])])
        out["ell_t"] = ell_t
        out["refined"] = np.sqrt(alpha * lam[-1] / ell_t) * E0_norm * factors
    return out
