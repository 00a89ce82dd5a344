"""The unchecked numerical kernels the core shares (private to ``gbml``): a method's inner step, objective and
meta-gradient (chapters 1, 4-6), also of R runs at once, rank-tested bases and principal angles (chapter 2).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import _checks

if TYPE_CHECKING:
    from .algorithms import Method


def inner_step(spec: Method, B, w, inner, alpha):
    """One inner step on the support data of every task: the inner residual r (n, d), the adapted heads
    w_t (n, k) and the adapted predictions v_t = B_t w_t (n, d)."""
    r = inner._grad(B @ w)
    w_t = w - alpha * (r @ B)
    v_t = w_t @ B.T
    if spec.adapt_body:
        v_t = v_t - alpha * (w_t @ w)[:, None] * r
    return r, w_t, v_t


def objective(spec: Method, B, w, tasks, alpha) -> float:
    """The outer objective from the inner step's adapted predictions, without argument checks (the fast
    form ``gbml.train`` records; tests hold it to ``meta_objective``, written from the definition)."""
    with _checks.no_float_warnings():
        if not spec.adapts:
            return float(np.mean(tasks.pooled.loss(B @ w)))
        return float(np.mean(tasks.outer.loss(inner_step(spec, B, w, tasks.inner, alpha)[2])))


def gradient(spec: Method, B, w, tasks, alpha):
    """The meta-gradient of one run, without argument checks: the body of ``gbml.meta_gradient`` (the
    equations are in ``gbml.algorithms``' docstring)."""
    inner, outer, n = tasks.inner, tasks.outer, tasks.n
    if not spec.adapts:  # average loss: no inner step, every sample of every task
        alpha, inner = 0.0, tasks.pooled
        outer = inner
    r, w_t, v_t = inner_step(spec, B, w, inner, alpha)
    q = outer._grad(v_t)  # dL_out/dv at the adapted prediction

    # First-order gradient at the adapted parameters: G_B,t = q_t w_t^T, G_w,t = B_t^T q_t.
    G_w = q @ B
    if spec.adapt_body:
        a_rq = alpha * (r * q).sum(axis=1)[:, None]  # alpha (r_t . q_t)
        G_w = G_w - a_rq * w
    if spec.first_order:
        return q.T @ w_t / n, G_w.sum(axis=0) / n

    # Exact: subtract alpha * H_t (V_t, G_w,t) with V_t = G_B,t (MAML) or 0 (ANIL).
    Vw = G_w @ B.T  # B G_w,t, as rows
    if spec.adapt_body:
        Vw = Vw + (w_t @ w)[:, None] * q  # + G_B,t w = q_t (w_t . w)
    u = inner.cov(Vw)
    grad_B = (q.T @ w_t - alpha * (np.outer(u.sum(axis=0), w) + r.T @ G_w)) / n
    grad_w_t = G_w - alpha * (u @ B)
    if spec.adapt_body:
        grad_w_t = grad_w_t - a_rq * w_t  # G_B,t^T r_t
    return grad_B, grad_w_t.sum(axis=0) / n


def runs_gradient(spec: Method, B, w, tasks, alpha):
    """:func:`gradient` and the outer objective of R runs at once on the round's tasks, each with its method.

    Run i is at ``(B[i], w[i])`` (B (R, d, k), w (R, k)).  Each switch of ``spec`` is a boolean array (R,)
    (chosen per run with ``np.where``) or one bool that every run shares (a plain branch).  Returns
    ``grad_B`` (R, d, k), ``grad_w`` (R, k) and the objective (R,).  The average loss needs population
    tasks (its pooled data is the inner data only there).
    """
    body, first_order, adapts = spec
    maml = body is not False  # MAML's terms (the inner step moves B), computed if some run may need them

    def if_maml(with_term, without):
        return with_term if body is True else np.where(body[:, None, None], with_term, without)

    # The average loss: no inner step (alpha = 0).
    a = (alpha if adapts else 0.0) if isinstance(adapts, bool) else np.where(adapts, alpha, 0.0)[:, None, None]
    inner, outer, n = tasks.inner, tasks.outer, tasks.n
    Bt = B.transpose(0, 2, 1)
    # Inner step (inner_step): r_t, w_t = w - alpha B^T r_t, v_t = B w_t - alpha (w . w_t) r_t (MAML).
    r = inner._grad((B @ w[:, :, None])[:, None, :, 0])  # (R, n, d)
    w_t = w[:, None, :] - a * (r @ B)
    v_t = w_t @ Bt
    if maml:
        ww_t = w_t @ w[:, :, None]  # (R, n, 1): w_t . w
        v_t = if_maml(v_t - a * ww_t * r, v_t)
    q, losses = outer._grad_and_loss(v_t)  # dL_out/dv and L_out at the adapted predictions
    objective = losses.sum(axis=1) / n  # the mean over tasks (np.mean's sum / n, without its overhead)
    # First-order gradient: G_B,t = q_t w_t^T, G_w,t = B_t^T q_t.
    G_B = q.transpose(0, 2, 1) @ w_t  # sum over tasks of q_t w_t^T
    G_w = q @ B
    if maml:
        a_rq = a * (r * q).sum(axis=2, keepdims=True)  # alpha (r_t . q_t), (R, n, 1)
        G_w = if_maml(G_w - a_rq * w[:, None, :], G_w)
    if first_order is True:
        return G_B / n, G_w.sum(axis=1) / n, objective
    # Exact: subtract alpha * H_t (V_t, G_w,t) with V_t = G_B,t (MAML) or 0 (ANIL).
    Vw = G_w @ Bt
    if maml:
        Vw = if_maml(Vw + ww_t * q, Vw)
    u = inner.cov(Vw)
    exact_B = (G_B - a * (u.sum(axis=1)[:, :, None] * w[:, None, :] + r.transpose(0, 2, 1) @ G_w)) / n
    exact_w_t = G_w - a * (u @ B)
    if maml:
        exact_w_t = if_maml(exact_w_t - a_rq * w_t, exact_w_t)
    if first_order is not False:  # the first-order runs keep (G_B, G_w)
        fo = first_order[:, None, None]
        exact_B, exact_w_t = np.where(fo, G_B / n, exact_B), np.where(fo, G_w, exact_w_t)
    return exact_B, exact_w_t.sum(axis=1) / n, objective


#: Smallest distance of a unit column of a full-rank matrix from the span of the columns before it.
_RANK_TOL = 1e-12


def bases_or_none(B):
    """Orthonormal bases (R, d, k) of the column spaces of finite bodies B (R, d, k) and which have full rank.

    The one rank test of the package (``orthonormal_basis`` raises where it fails, training stops a run).
    With ``B = Q R``, ``|R_jj| / ||b_j||`` is the distance of the unit column ``b_j / ||b_j||`` from the span
    of the columns before it; every one must exceed ``_RANK_TOL``, so the test ignores the scale of every
    column (one scaled by 1e-13, or all of ``B`` by 1e200, keeps its basis).
    """
    big = np.abs(B).max(axis=(-2, -1))
    rescale = ~((1e-100 < big) & (big < 1e100))  # keep the squares of the entries representable
    B = np.where(rescale[:, None, None], B / np.where(big > 0, big, 1.0)[:, None, None], B)
    Q, R = np.linalg.qr(B)
    norms = np.linalg.norm(R, axis=-2)  # the column norms of B
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.min(np.abs(np.diagonal(R, axis1=-2, axis2=-1)) / norms, axis=-1)
    return Q, np.all(norms > 0, axis=-1) & (ratio > _RANK_TOL) & (big > 0)


def basis_or_none(B):
    """:func:`bases_or_none` of one body B (d, k): its basis, or None when B has (numerically) lost rank."""
    Q, full_rank = bases_or_none(B[None])
    return Q[0] if full_rank[0] else None


def angles_between_bases(Q, Qs):
    """Principal angles (radians, ascending) between the column spaces of two orthonormal Q (d, k) and Qs,
    or of a stack of them (S, d, k) -> (S, min(k, k*)): ``principal_angles`` without checks."""
    A, C = (Q, Qs) if Q.shape[-1] <= Qs.shape[-1] else (Qs, Q)
    # Cosines alone lose small angles to rounding (arccos(1 - eps) ~ 1e-8); pairing them with the sines
    # (singular values of the part of A outside col(C)) keeps every angle accurate.
    CtA = np.swapaxes(C, -1, -2) @ A  # C^T A (a stack of them, for a stack of bases)
    cosines = np.sort(np.linalg.svd(CtA, compute_uv=False), axis=-1)[..., ::-1]
    sines = np.sort(np.linalg.svd(A - C @ CtA, compute_uv=False), axis=-1)
    return np.arctan2(sines, cosines)
