"""One functional core for ANIL, FO-ANIL, MAML, FO-MAML and the average loss (book chapters 1, 4-6).

Every method takes the outer step ``(B, w) <- (B, w) - beta * meta_gradient(...)``.  They differ in two
switches (``METHODS``): whether the inner step adapts the body ``B`` as well as the head ``w``, and
whether the outer gradient is exact or first-order.  The average loss is ANIL with ``alpha = 0`` trained
on all samples of each task.

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
from ._kernels import gradient, inner_step

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


@_guard.reference("gbml.adapt")
def adapt(method: str, B, w, tasks, alpha: float):
    """Adapted parameters of every task after one inner step on its support data: the bodies ``B_t``
    (n, d, k; ``B`` for ANIL and the average loss) and heads ``w_t`` (n, k; ``w`` for the average loss)."""
    spec = _checks.method_spec(method, METHODS)
    B, w, alpha = _checks.point(B, w, tasks, alpha)
    if not spec.adapts:
        alpha = 0.0
    _checks.fits("adapt's adapted bodies (n, d, k)", tasks.n * B.size)
    with _checks.no_float_warnings():
        r, w_t, _ = inner_step(spec, B, w, tasks.inner, alpha)
        B_t = np.broadcast_to(B, (tasks.n,) + B.shape).copy()
        if spec.adapt_body:
            B_t -= alpha * r[:, :, None] * w[None, None, :]
    return _checks.finite_result("adapt", B_t, w_t, alpha=alpha)


@_guard.reference("gbml.meta_objective")
def meta_objective(method: str, B, w, tasks, alpha: float) -> float:
    """The outer objective ``(1/n) sum_t L_out(B_t, w_t)``; the average loss is ``(1/n) sum_t L_t(B, w)``.

    Written from the definition (adapted bodies formed), independently of :func:`meta_gradient`, so that
    tests can differentiate it numerically.  A first-order method has its exact method's objective (its
    gradient is a surrogate of that objective's).
    """
    spec = _checks.method_spec(method, METHODS)
    B, w, alpha = _checks.point(B, w, tasks, alpha)
    with _checks.no_float_warnings():
        if not spec.adapts:
            value = float(np.mean(tasks.pooled.loss(B @ w)))
        else:
            B_t, w_t = adapt(method, B, w, tasks, alpha)
            value = float(np.mean(tasks.outer.loss(np.einsum("tdk,tk->td", B_t, w_t))))
    return _checks.finite_result("meta_objective", value, alpha=alpha)


@_guard.reference("gbml.meta_gradient")
def meta_gradient(method: str, B, w, tasks, alpha: float):
    """Gradient ``(grad_B (d, k), grad_w (k,))`` of a method's outer objective, averaged over the n tasks.

    ``method`` is a name of ``METHODS``, ``B`` (d, k) the body, ``w`` (k,) the head, ``tasks`` a
    PopulationTasks or SampledTasks and ``alpha >= 0`` the inner step (ignored by "avg-loss").  For "fo-anil"
    and "fo-maml", the first-order surrogate ``(G_B, G_w)``.  Bad input (named) and an overflowing gradient
    raise a ValueError or TypeError: never NaN or inf.
    """
    spec = _checks.method_spec(method, METHODS)
    B, w, alpha = _checks.point(B, w, tasks, alpha)
    with _checks.no_float_warnings():
        return _checks.finite_result("meta_gradient", *gradient(spec, B, w, tasks, alpha), alpha=alpha)
