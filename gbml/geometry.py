"""Distances between representations (book chapter 2; Collins et al. 2022, Section 2).

``dist(B, B*) = ||(I - Q Q^T) B*||_2`` with ``Q`` an orthonormal basis of ``col(B)``.  It is the
sine of the largest principal angle between the two column spaces.
"""
from __future__ import annotations

import numpy as np

from . import _checks, _guard
from ._kernels import angles_between_bases, basis_or_none

__all__ = ["orthonormal_basis", "principal_angles", "subspace_distance", "random_orthonormal", "split_body"]


def orthonormal_basis(B, name: str = "B") -> np.ndarray:
    """Orthonormal basis ``Q`` (d x k) of the column space of a full-rank ``B`` (d x k); the rank test does not
    depend on the scale of ``B`` or of any of its columns."""
    B = _checks.array(name, B, 2)
    d, k = B.shape
    if k > d:
        raise ValueError(f"{name} must have at most as many columns as rows (k <= d), got shape {B.shape}")
    Q = basis_or_none(B)
    if Q is None:
        raise ValueError(f"{name} must have full column rank: its columns are linearly dependent (or zero)")
    return Q


@_guard.reference("gbml.principal_angles")
def principal_angles(B, B_star) -> np.ndarray:
    """Principal angles (min(k, k*),), in [0, pi/2] and ascending, between ``col(B)`` and ``col(B_star)``
    for full-rank ``B`` (d, k) and ``B_star`` (d, k*)."""
    Q = orthonormal_basis(B)
    Qs = orthonormal_basis(B_star, "B_star")
    if Q.shape[0] != Qs.shape[0]:
        raise ValueError(f"B and B_star must have the same number of rows d, got {Q.shape[0]} and {Qs.shape[0]}")
    return angles_between_bases(Q, Qs)


@_guard.reference("gbml.subspace_distance")
def subspace_distance(B, B_star) -> float:
    """``dist(B, B*) = ||(I - Q Q^T) Q*||_2`` with ``Q``, ``Q*`` orthonormal bases of ``col(B)``, ``col(B*)``.

    The paper's measure (``Q* = B*`` for orthonormal ``B*``), for full-rank arguments; only their column
    spaces matter (invariant to ``B -> B R`` for invertible R).  In [0, 1], 0 iff the column spaces agree;
    the sine of the largest principal angle, and ``||Q Q^T - Q* Q*^T||_2`` when both have k columns.
    """
    Q = orthonormal_basis(B)
    B_star = _checks.array("B_star", B_star, 2)
    k_star = B_star.shape[1]
    if k_star > B_star.shape[0] or not np.allclose(B_star.T @ B_star, np.eye(k_star), rtol=0, atol=1e-13):
        B_star = orthonormal_basis(B_star, "B_star")  # an orthonormal B* is its own basis, used as it is
    if B_star.shape[0] != Q.shape[0]:
        raise ValueError(f"B and B_star must have the same number of rows d, got {Q.shape[0]} and {B_star.shape[0]}")
    residual = B_star - Q @ (Q.T @ B_star)
    return float(min(np.linalg.norm(residual, 2), 1.0))


def random_orthonormal(d: int, k: int, rng) -> np.ndarray:
    """A uniformly random d x k matrix with orthonormal columns (Haar measure)."""
    d = _checks.positive_int("d", d)
    k = _checks.positive_int("k", k)
    if k > d:
        raise ValueError(f"k must be <= d, got k={k}, d={d}")
    _checks.fits(f"random_orthonormal({d}, {k})", 2 * d * k)
    G = _checks.as_rng(rng).standard_normal((d, k))
    Q, R = np.linalg.qr(G)
    return Q * np.sign(np.diag(R))


def split_body(B, B_star):
    """The parts of a body inside and outside ``col(B*)``: ``A = B*^T B`` (k x k') and ``E = U_perp^T B``.

    ``B = B* A + U_perp E`` (chapter 7, ``eq-td-split``) for ``B`` (d, k') and an orthonormal ``B_star``
    (d, k): ``A`` is (k, k') and ``E`` (d - k, k'), with ``U_perp`` the basis of ``col(B*)^perp`` from the
    full SVD of ``B_star``.  ``E`` is defined up to a rotation of its rows; what the book uses of it
    (``E^T E``, ``||E||_2``, the singular values of ``E A^-1``) does not depend on the choice.
    """
    B_star = _checks.orthonormal("B_star", B_star)
    B = _checks.array("B", B, 2, (B_star.shape[0], None))
    U_perp = np.linalg.svd(B_star, full_matrices=True)[0][:, B_star.shape[1]:]
    return B_star.T @ B, U_perp.T @ B
