"""One functional core for ANIL, FO-ANIL, MAML, FO-MAML and the average loss (book chapters 1, 4-6).

Every method takes the outer step ``(B, w) <- (B, w) - beta * meta_gradient(...)``.  They differ in two
switches (``METHODS``): whether the inner step adapts the body ``B`` as well as the head ``w``, and
whether the outer gradient is exact or first-order.  The average loss is ANIL with ``alpha = 0`` trained
on all samples of each task.  Derivations in chapters 1 and 4-6.

With ``r_t = dL_in/dv`` at ``v = B w`` (the inner residual), one inner step is

    w_t = w - alpha B^T r_t                     (both methods)
    B_t = B - alpha r_t w^T                     (MAML only; never formed: B_t w_t = B w_t - alpha (w.w_t) r_t)

and with ``q_t = dL_out/dv`` at the adapted prediction ``B_t w_t`` the first-order gradient is
``G_B = q_t w_t^T``, ``G_w = B_t^T q_t``.  The exact gradient is ``(I - alpha H_t) G`` where ``H_t`` is the
Hessian of the inner loss restricted to the adapted parameters: for MAML, along ``(G_B, G_w)``; for ANIL,
along ``(0, G_w)``.  The Hessian-vector product of ``L(B, w)`` along ``(V, v)`` is
``(u w^T + r v^T, V^T r + B^T u)`` with ``u = Sigma (V w + B v)``.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import _checks, _guard
from .tasks import PopulationTasks, SampledTasks

__all__ = ["METHODS", "Method", "meta_gradient", "meta_objective", "adapt"]


class Method(NamedTuple):
    """The two switches that distinguish the algorithms."""

    adapt_body: bool  # MAML: the inner step also moves B
    first_order: bool  # FO-*: treat the adapted parameters as constants in the outer gradient
    adapts: bool = True  # False only for the average loss (no inner step, all samples)


METHODS: dict[str, Method] = {
    "anil": Method(adapt_body=False, first_order=False),
    "fo-anil": Method(adapt_body=False, first_order=True),
    "maml": Method(adapt_body=True, first_order=False),
    "fo-maml": Method(adapt_body=True, first_order=True),
    "avg-loss": Method(adapt_body=False, first_order=False, adapts=False),
}


def method_spec(method) -> Method:
    """The switches of a method named in ``METHODS`` (the name checked: an unknown one is a clear error).

    Not part of ``gbml``'s reader-facing API; ``gbml.training`` uses it to pick a method's objective.
    """
    return METHODS[_checks.method_name("method", method, METHODS)]


def _finite(what, *values, alpha):
    """Refuse a result that overflowed, naming what and suggesting the fix."""
    _checks.finite_result(what, *values, hint=f"alpha = {alpha:g} or the scale of B and w is too large for "
                          "floating point; use a smaller alpha or rescale B and w")


def checked_point(B, w, tasks, alpha):
    """Check a point ``(B, w)`` and an inner step ``alpha`` against the tasks; return them as arrays and a float.

    ``tasks`` must be a ``PopulationTasks`` or ``SampledTasks``; ``B`` is (d, k) with ``k <= d``, ``w`` is
    (k,) and ``alpha >= 0``.  Every error names the parameter.  Not part of ``gbml``'s reader-facing API;
    ``gbml.beyond`` checks its arguments with it.
    """
    if not isinstance(tasks, (PopulationTasks, SampledTasks)):
        raise TypeError(f"tasks must be a gbml.PopulationTasks or gbml.SampledTasks, got {type(tasks).__name__}")
    B = _checks.array("B", B, 2, (tasks.d, None))
    k = B.shape[1]
    if k > tasks.d:
        raise ValueError(f"B must be d x k with k <= d, got shape {B.shape}")
    w = _checks.array("w", w, 1, (k,))
    alpha = _checks.real("alpha", alpha, low=0.0)
    return B, w, alpha


def _inner_step(spec: Method, B, w, inner, alpha):
    """One inner step on the support data of every task.

    Returns the inner residual r (n, d), the adapted heads w_t (n, k) and the adapted predictions
    v_t = B_t w_t (n, d).
    """
    r = inner.grad(B @ w)
    w_t = w - alpha * (r @ B)
    v_t = w_t @ B.T
    if spec.adapt_body:
        v_t = v_t - alpha * (w_t @ w)[:, None] * r
    return r, w_t, v_t


@_guard.reference("gbml.adapt")
def adapt(method: str, B, w, tasks, alpha: float):
    """Adapted parameters of every task after one inner step on its support data.

    Returns
    -------
    B_t : array (n, d, k)
        Adapted bodies (equal to ``B`` for ANIL and the average loss).
    w_t : array (n, k)
        Adapted heads (equal to ``w`` for the average loss).
    """
    spec = method_spec(method)
    B, w, alpha = checked_point(B, w, tasks, alpha)
    if not spec.adapts:
        alpha = 0.0
    _checks.fits("adapt's adapted bodies (n, d, k)", tasks.n * B.size)
    with _checks.no_float_warnings():
        r, w_t, _ = _inner_step(spec, B, w, tasks.inner, alpha)
        B_t = np.broadcast_to(B, (tasks.n,) + B.shape).copy()
        if spec.adapt_body:
            B_t -= alpha * r[:, :, None] * w[None, None, :]
    _finite("adapt", B_t, w_t, alpha=alpha)
    return B_t, w_t


@_guard.reference("gbml.meta_objective")
def meta_objective(method: str, B, w, tasks, alpha: float) -> float:
    """The outer objective ``(1/n) sum_t L_out(B_t, w_t)``; the average loss is ``(1/n) sum_t L_t(B, w)``.

    Written from the definition (adapted bodies formed explicitly), independently of
    :func:`meta_gradient`, so that tests can differentiate it numerically.  For first-order methods this is
    the objective of the corresponding exact method: their gradient is only a surrogate of its gradient.
    """
    spec = method_spec(method)
    B, w, alpha = checked_point(B, w, tasks, alpha)
    with _checks.no_float_warnings():
        if not spec.adapts:
            value = float(np.mean(tasks.pooled.loss(B @ w)))
        else:
            B_t, w_t = adapt(method, B, w, tasks, alpha)
            value = float(np.mean(tasks.outer.loss(np.einsum("tdk,tk->td", B_t, w_t))))
    _finite("meta_objective", value, alpha=alpha)
    return value


def unchecked_objective(spec: Method, B, w, tasks, alpha) -> float:
    """The outer objective from the inner step's adapted predictions, without argument checks.

    The fast form used to record the loss during training (``gbml.train``); ``meta_objective`` (from the
    definition) is what tests hold it to.  Not part of ``gbml``'s reader-facing API.
    """
    with _checks.no_float_warnings():
        if not spec.adapts:
            return float(np.mean(tasks.pooled.loss(B @ w)))
        _, _, v_t = _inner_step(spec, B, w, tasks.inner, alpha)
        return float(np.mean(tasks.outer.loss(v_t)))


@_guard.reference("gbml.meta_gradient")
def meta_gradient(method: str, B, w, tasks, alpha: float):
    """Gradient of a method's outer objective, averaged over the n tasks of the round.

    Parameters
    ----------
    method : {"anil", "fo-anil", "maml", "fo-maml", "avg-loss"}
    B : array (d, k)
        Representation (body).
    w : array (k,)
        Head.
    tasks : PopulationTasks or SampledTasks
    alpha : float >= 0
        Inner step size (ignored by "avg-loss").

    Returns
    -------
    grad_B : array (d, k)
    grad_w : array (k,)
        For "fo-anil" and "fo-maml", the first-order surrogate ``(G_B, G_w)``.

    Raises
    ------
    ValueError
        For bad input (naming the parameter), or ``gbml._checks.NonFiniteError`` (a ValueError) when the
        gradient overflows floating point (too large an ``alpha`` or scale of ``B``): never NaN or inf.
    """
    spec = method_spec(method)
    B, w, alpha = checked_point(B, w, tasks, alpha)
    with _checks.no_float_warnings():
        grad_B, grad_w = _gradient(spec, B, w, tasks, alpha)
    _finite("meta_gradient", grad_B, grad_w, alpha=alpha)
    return grad_B, grad_w


def _gradient(spec: Method, B, w, tasks, alpha):
    """The body of :func:`meta_gradient`, on checked arguments."""
    inner, outer = tasks.inner, tasks.outer
    if not spec.adapts:  # average loss: no inner step, every sample of every task
        alpha, inner = 0.0, tasks.pooled
        outer = inner
    n = tasks.n
    r, w_t, v_t = _inner_step(spec, B, w, inner, alpha)
    q = outer.grad(v_t)  # dL_out/dv at the adapted prediction

    # First-order gradient at the adapted parameters: G_B,t = q_t w_t^T, G_w,t = B_t^T q_t.
    G_w = q @ B
    if spec.adapt_body:
        G_w = G_w - alpha * np.sum(r * q, axis=1)[:, None] * w
    if spec.first_order:
        return q.T @ w_t / n, G_w.mean(axis=0)

    # Exact: subtract alpha * H_t (V_t, G_w,t) with V_t = G_B,t (MAML) or 0 (ANIL).
    Vw = G_w @ B.T  # B G_w,t, as rows
    if spec.adapt_body:
        Vw = Vw + (w_t @ w)[:, None] * q  # + G_B,t w = q_t (w_t . w)
    u = inner.cov(Vw)
    grad_B = (q.T @ w_t - alpha * (np.outer(u.sum(axis=0), w) + r.T @ G_w)) / n
    grad_w_t = G_w - alpha * (u @ B)
    if spec.adapt_body:
        grad_w_t = grad_w_t - alpha * np.sum(q * r, axis=1)[:, None] * w_t  # G_B,t^T r_t
    return grad_B, grad_w_t.mean(axis=0)


def runs_gradient(spec: Method, B, w, tasks, alpha):
    """:func:`meta_gradient` and the outer objective of R runs at once, each with its own method.

    ``B`` is (R, d, k) and ``w`` (R, k): run i is at ``(B[i], w[i])``; all runs share the round's tasks.
    ``spec`` holds each switch of ``Method`` as one boolean array (R,), run i's method being
    ``Method(spec.adapt_body[i], spec.first_order[i], spec.adapts[i])``, or as one plain bool that every run
    shares.  The same equations as ``_gradient``, with a leading axis of runs: a shared switch is a plain
    branch, a switch given per run is chosen per run (``np.where``).  Returns ``grad_B`` (R, d, k), ``grad_w``
    (R, k) and the objective (R,) at ``(B, w)``.  No argument checks (``gbml.train_runs`` checks them); the
    average loss needs population tasks (its pooled data is the inner data only there).  Not part of
    ``gbml``'s reader-facing API.
    """
    body, first_order, adapts = spec
    maml = body is not False  # MAML's terms (the inner step moves B), computed if some run may need them

    def if_maml(with_term, without):
        return with_term if body is True else np.where(body[:, None, None], with_term, without)

    # The average loss: no inner step (alpha = 0).
    a = (alpha if adapts else 0.0) if isinstance(adapts, bool) else np.where(adapts, alpha, 0.0)[:, None, None]
    inner, outer, n = tasks.inner, tasks.outer, tasks.n
    Bt = B.transpose(0, 2, 1)
    # Inner step (_inner_step): r_t, w_t = w - alpha B^T r_t, v_t = B w_t - alpha (w . w_t) r_t (MAML).
    r = inner.grad((B @ w[:, :, None])[:, None, :, 0])  # (R, n, d)
    w_t = w[:, None, :] - a * (r @ B)
    v_t = w_t @ Bt
    if maml:
        ww_t = w_t @ w[:, :, None]  # (R, n, 1): w_t . w
        v_t = if_maml(v_t - a * ww_t * r, v_t)
    q, losses = outer.grad_and_loss(v_t)  # dL_out/dv and L_out at the adapted predictions
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
