"""Variants the paper does not analyse (book chapter 9, "Beyond the theorem"), for the head-only (ANIL) family.

Several inner steps (:func:`multistep_gradient`, exact or first-order; ``steps = 1`` is ANIL / FO-ANIL),
exact head fitting as in FedRep and AltMinGD (:func:`altmin_gradient`), their training
(:func:`train_variants`) and two measurements for wide models and non-isotropic inputs.  ``B`` is (d, k') with
any ``k'``, ``w`` (k',), ``tasks`` population or sampled with any input covariance, ``alpha >= 0``.
"""
from __future__ import annotations

import numpy as np

from . import _checks, _guard, _loop, training
from .problem import Problem
from .tasks import PopulationTasks
from .training import History

__all__ = [
    "VARIANTS", "adapt_steps", "multistep_objective", "multistep_gradient", "fit_heads",
    "altmin_objective", "altmin_gradient", "train_variant", "train_variants",
    "outside_singular_values", "invariant_rate"
]

#: Variants understood by :func:`train_variant`.
VARIANTS = ("anil", "fo-anil", "altmin")


def _body(B, tasks) -> np.ndarray:
    """Check a body B (d, k) against the tasks (as ``_checks.point`` does, without a head)."""
    B = _checks.array("B", B, 2)
    return _checks.point(B, np.zeros(B.shape[1]), tasks, 0.0)[0]


#: Most inner steps accepted (each one is a full pass over the support data of every task).
_MAX_STEPS = 100_000


def _steps(steps, tasks=None, k: int = 0) -> int:
    steps = _checks.positive_int("steps", steps, minimum=0)
    if steps > _MAX_STEPS:
        raise ValueError(f"steps must be <= {_MAX_STEPS}, got {steps}")
    if tasks is not None:  # the inner path keeps every head and residual
        _checks.fits(f"{steps} inner steps on {tasks.n} tasks", (steps + 1) * tasks.n * (k + tasks.d))
    return steps


@_guard.reference("gbml.beyond.adapt_steps")
def adapt_steps(B, w, tasks, alpha: float, steps: int = 1) -> np.ndarray:
    """Adapted heads (n, k) after ``steps`` gradient steps from ``w`` on each task's support loss
    ``L_in,t(B w)`` (0 steps: ``w`` for every task; 1: ANIL's inner step)."""
    B, w, alpha = _checks.point(B, w, tasks, alpha)
    steps = _steps(steps, tasks, B.shape[1])
    with _checks.no_float_warnings():
        w_t = _inner_path(B, w, tasks.inner, alpha, steps, tasks.n)[0][-1]
    return _checks.finite_result("adapt_steps", w_t, alpha=alpha, steps=True)


def _inner_path(B, w, inner, alpha, steps, n):
    """Heads ``w^(0..steps)`` (list of (n, k)) and inner residuals ``r^(0..steps-1)`` (list of (n, d))."""
    heads, residuals = [np.repeat(w[None, :], n, axis=0)], []
    for _ in range(steps):
        r = inner._grad(heads[-1] @ B.T)
        residuals.append(r)
        heads.append(heads[-1] - alpha * (r @ B))
    return heads, residuals


@_guard.reference("gbml.beyond.multistep_objective")
def multistep_objective(B, w, tasks, alpha: float, steps: int = 1) -> float:
    """The ``steps``-step meta-objective ``(1/n) sum_t L_out,t(B w_t^(steps))`` (a float).

    Written from the definition, independently of :func:`multistep_gradient`, so tests can differentiate
    it numerically.  ``steps = 1`` is ``gbml.meta_objective("anil", ...)``.
    """
    w_t = adapt_steps(B, w, tasks, alpha, steps)
    return _outer_loss("multistep_objective", B, w_t, tasks, alpha=alpha, steps=True)


def _outer_loss(what, B, w_t, tasks, **fixes) -> float:
    """``(1/n) sum_t L_out,t(B w_t)`` of checked heads, refused as ``what`` when it overflows."""
    with _checks.no_float_warnings():
        value = float(np.mean(tasks.outer.loss(w_t @ np.asarray(B, dtype=float).T)))
    return _checks.finite_result(what, value, **fixes)


@_guard.reference("gbml.beyond.multistep_gradient")
def multistep_gradient(B, w, tasks, alpha: float, steps: int = 1, *, first_order: bool = False):
    """Gradient of :func:`multistep_objective` (exact), or its first-order surrogate.

    Exact: back-propagation through the inner loop.  With ``q_t = dL_out/dv`` at ``B w_t^(S)`` the adjoint
    of the last head is ``xi^(S) = B^T q_t``, and going back one step (``j = S-1, ..., 0``)

        grad_B += -alpha (r^(j) xi^(j+1)^T + Sigma_in B xi^(j+1) w^(j)^T)
        xi^(j)  = xi^(j+1) - alpha B^T Sigma_in B xi^(j+1)

    starting from ``grad_B = q_t w_t^(S)^T``; then ``grad_w = xi^(0)`` (all averaged over tasks).  For
    ``S = 1`` this is exact ANIL's gradient (chapter 4).  With ``first_order`` (a bool): ``(q_t w_t^(S)^T,
    B^T q_t)`` averaged, FO-ANIL with S inner steps.  Returns ``grad_B`` (d, k) and ``grad_w`` (k,).
    """
    if not isinstance(first_order, (bool, np.bool_)):
        raise TypeError(f"first_order must be True or False, got {first_order!r}")
    B, w, alpha = _checks.point(B, w, tasks, alpha)
    steps, n = _steps(steps, tasks, B.shape[1]), tasks.n
    with _checks.no_float_warnings():
        grad_B, grad_w, _ = _multistep(B, w, tasks, alpha, steps, n, first_order)
    return _checks.finite_result("multistep_gradient", grad_B, grad_w, alpha=alpha, steps=True)


def _multistep(B, w, tasks, alpha, steps, n, first_order):
    """The body of :func:`multistep_gradient`, on checked arguments; also the outer losses (n,) at the
    adapted predictions ``v_t = B w_t^(S)`` (the objective is their mean)."""
    heads, residuals = _inner_path(B, w, tasks.inner, alpha, steps, n)
    q, losses = tasks.outer._grad_and_loss(heads[-1] @ B.T)  # dL_out/dv (n, d) and L_out at v_t
    grad_B = q.T @ heads[-1]
    xi = q @ B  # adjoint of the last head, (n, k)
    if not first_order:
        for j in range(steps - 1, -1, -1):
            u = tasks.inner.cov(xi @ B.T)  # Sigma_in B xi, (n, d)
            grad_B -= alpha * (residuals[j].T @ xi + u.T @ heads[j])
            xi = xi - alpha * (u @ B)
    return grad_B / n, xi.sum(axis=0) / n, losses  # the averages over tasks (sum / n: np.mean without its overhead)


@_guard.reference("gbml.beyond.fit_heads")
def fit_heads(B, tasks) -> np.ndarray:
    """Least-squares heads (n, k) on the support data: ``w_t = argmin_w L_in,t(B w)`` for every task.

    Population: ``w_t = (B^T Sigma B)^{-1} B^T Sigma theta_t``; samples: the least-squares fit of ``y_in``
    on ``X_in B``.  When ``B^T Sigma_in B`` is singular (e.g. fewer support samples than columns of B) the
    minimum-norm minimiser is returned.
    """
    B = _body(B, tasks)
    with _checks.no_float_warnings():
        heads = _fit_heads(B, tasks)
    return _checks.finite_result("fit_heads", heads)


def _fit_heads(B, tasks):
    n, (d, k) = tasks.n, B.shape
    inner = tasks.inner
    # Gram matrices B^T Sigma_t B (n, k, k) and right-hand sides B^T Sigma_t theta_t.  In population every task
    # has the same Sigma, so one Gram matrix (1, k, k) serves them all (broadcast below).
    if isinstance(tasks, PopulationTasks):
        gram = (inner.cov(B.T) @ B)[None]
    else:  # Sigma_t b_j for every column j and task t at once (k, n, d), times B
        gram = np.moveaxis(inner.cov(np.broadcast_to(B.T[:, None, :], (k, n, d))) @ B, 0, 2)
    rhs = -(inner._grad(np.zeros((n, d))) @ B)  # -B^T dL/dv at v = 0
    # Minimum-norm solution through the eigendecomposition (the Gram matrices are symmetric PSD).
    vals, vecs = np.linalg.eigh(gram)
    keep = vals > 1e-12 * np.maximum(vals[:, -1:], 1e-300)
    coef = (rhs[:, None, :] @ vecs)[:, 0, :]  # the right-hand sides in the eigenbases
    coef = coef / vals if keep.all() else np.where(keep, coef / np.where(keep, vals, 1.0), 0.0)
    return (vecs @ coef[:, :, None])[:, :, 0]


def altmin_objective(B, tasks) -> float:
    """Outer loss at the least-squares heads: ``(1/n) sum_t L_out,t(B w_t(B))``, ``w_t`` from :func:`fit_heads`."""
    return _outer_loss("altmin_objective", B, fit_heads(B, tasks), tasks)


def altmin_gradient(B, tasks) -> np.ndarray:
    """Body gradient (d, k) of alternating minimisation: ``(1/n) sum_t q_t w_t^T`` at the least-squares heads.

    ``q_t = dL_out/dv`` at ``v = B w_t``; the heads are held fixed (FedRep / AltMinGD).  In population the
    inner and outer losses coincide and ``w_t`` minimises it, so by the envelope theorem this *is* the
    gradient of :func:`altmin_objective`; with a support/query split it is the partial derivative in B.
    """
    B = _body(B, tasks)
    w_t = fit_heads(B, tasks)
    with _checks.no_float_warnings():
        grad_B = tasks.outer.grad(w_t @ B.T).T @ w_t / tasks.n
    return _checks.finite_result("altmin_gradient", grad_B)


def train_variant(variant: str, problem: Problem, *, steps: int = 1, **kwargs) -> History:
    """One run of :func:`train_variants`, returned or raised as :func:`gbml.train` does (``on_divergence``).

    ``kwargs`` are the arguments of :func:`gbml.train` except ``gradient``, ``objective`` and ``settings``.
    Returns the History: ``method`` is ``"anil"`` / ``"fo-anil"`` for one step, ``"anil (S steps)"``
    otherwise, or ``"altmin"``; ``loss`` is the variant's own objective; ``settings`` also holds ``steps``.
    """
    steps = _steps(steps)  # one int (train_variants takes one per run); the variant is checked there
    taken = sorted({"gradient", "objective", "settings"} & set(kwargs))
    if taken:
        raise TypeError(f"train_variant sets {', '.join(taken)} itself; call gbml.train to pass your own")
    on_divergence = kwargs.pop("on_divergence", "raise")
    training._on_divergence(on_divergence)
    history, = train_variants([variant], problem, steps=steps, **kwargs)
    return training._outcome(history, on_divergence)


def train_variants(variants, problem: Problem, *, steps=1, alpha: float, beta: float, T: int, n_tasks: int, rng,
                   m_in=None, m_out=None, pool=None, B0=None, w0=None, blowup: float = 1e6,
                   snapshot_every: int | None = None, rounds=None) -> list[History]:
    """Several variants trained on the same tasks, in one loop over the rounds (chapter 9's explorer).

    Equals ``[train_variant(v, problem, steps=S, on_divergence="stop", rng=rng, ...) for v, S in zip(variants,
    steps)]`` with an int seed ``rng`` (every run then draws the same ``B0`` and the same tasks), to rounding.

    Parameters
    ----------
    variants : list of {"anil", "fo-anil", "altmin"}
        ``"anil"`` / ``"fo-anil"``: exact / first-order gradient of the ``steps``-step meta-objective
        (``steps = 1`` reproduces ``gbml.train("anil" | "fo-anil", ...)``).  ``"altmin"``: least-squares
        heads in the inner loop and a gradient step on the body only (``w`` is unused and stays ``w0``;
        ``alpha`` only sets the default initial scale ``B0 = Q / sqrt(alpha)`` and ``orth_error``).
    steps : int >= 0, or one per run
        Inner steps (ignored by "altmin").
    alpha, beta, T, n_tasks, rng, m_in, m_out, pool, B0, w0, blowup, snapshot_every : as for :func:`gbml.train`
        (``B0`` and ``w0`` are shared by every run).
    rounds : list of PopulationTasks or SampledTasks, optional
        The tasks of every round, drawn beforehand (T of them; one for T = 0, for the last loss), used in place
        of drawing them from ``rng`` (which then only draws a missing ``B0``); ``pool``, ``m_in`` and ``m_out``
        must then be None.  ``[problem.sample_round(n_tasks, np.random.default_rng(seed)) ...]`` are the
        rounds ``rng=seed`` draws (with ``B0`` given).

    Returns
    -------
    list of History, one per run in the order of ``variants``, as :func:`train_variant` returns them; a run
    that blows up stops (``diverged_at``).
    """
    variants = _checks.names("variants", variants, VARIANTS)
    steps = [_steps(S) for S in _checks.per_run("steps", steps, len(variants))]
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    run = _loop.run_settings(problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0, w0, m_in, m_out,
                             pool, len(variants), rounds=rounds)

    def step(idx, B, w, tasks):
        """Each run's gradient and objective from one inner loop (or one head fit)."""
        runs, alpha = range(len(variants)) if isinstance(idx, slice) else idx, run["alpha"]
        grads_B, grads_w, values = zip(*(_variant_round(variants[i], steps[i], B[j], w[j], tasks, alpha)
                                         for j, i in enumerate(runs)))
        return np.array(grads_B), np.array(grads_w), np.array(values)

    labels = [v if v == "altmin" or S == 1 else f"{v} ({S} steps)" for v, S in zip(variants, steps)]
    histories = _loop.run_loop(step, np.full(len(variants), beta), labels=labels, **run)
    for history, S in zip(histories, steps):
        history.settings["steps"] = S
    return histories


def _variant_round(variant, steps, B, w, tasks, alpha):
    """One round of a variant on checked arguments: ``(grad_B, grad_w, objective)`` at ``(B, w)``, from one
    inner loop (or one head fit; altmin's ``grad_w`` is 0)."""
    if variant == "altmin":
        w_t = _fit_heads(B, tasks)  # least-squares heads (n, k)
        q, losses = tasks.outer._grad_and_loss(w_t @ B.T)
        grad_B, grad_w = q.T @ w_t / tasks.n, np.zeros_like(w)
    else:
        grad_B, grad_w, losses = _multistep(B, w, tasks, alpha, steps, tasks.n, variant == "fo-anil")
    return grad_B, grad_w, losses.sum() / tasks.n


def outside_singular_values(B, B_star) -> np.ndarray:
    """Singular values of the part of ``B`` outside ``col(B*)``: ``(I - B* B*^T) B``, largest first.

    ``B`` is (d, k'), ``B_star`` (d, k) orthonormal; returns (k',).  For a body wider than the truth whose
    column space contains ``col(B*)`` (distance 0), at most ``k' - k`` are non-zero: the extra directions
    the model keeps.
    """
    B = _checks.array("B", B, 2)
    B_star = _checks.orthonormal("B_star", B_star, (B.shape[0], None))
    return np.linalg.svd(B - B_star @ (B_star.T @ B), compute_uv=False)


def invariant_rate(alpha: float, beta: float, Psi, input_cov, B_star, *, tol: float = 1e-10) -> float:
    """Predicted local rate of ANIL / FO-ANIL (population) when the input covariance keeps ``col(B*)`` invariant.

    If ``Sigma B* = B* Sigma_*`` (``Sigma_* = B*^T Sigma B*``) and ``Sigma_perp`` is ``Sigma`` restricted to
    ``col(B*)^perp``, the rate is ``1 - alpha beta lambda_min(Sigma_perp) lambda_min(Sigma_*^{1/2} Psi
    Sigma_*^{1/2})`` (chapter 9); for ``Sigma = I`` it is :func:`gbml.local_rate`.  ``alpha, beta > 0``;
    ``Psi`` (k, k) is the head second moment, ``B_star`` (d, k) orthonormal and ``input_cov`` (d, d) must
    satisfy ``Sigma B* = B* (B*^T Sigma B*)`` up to ``tol`` (relative).
    """
    alpha = _checks.real("alpha", alpha, low=0.0, strict_low=True)
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    B_star = _checks.orthonormal("B_star", B_star)
    d, k = B_star.shape
    Psi = _checks.psd_matrix("Psi", Psi, k)
    Sigma = _checks.psd_matrix("input_cov", input_cov, d)
    S_star = B_star.T @ Sigma @ B_star
    if np.linalg.norm(Sigma @ B_star - B_star @ S_star) > tol * max(1.0, np.linalg.norm(Sigma)):
        raise ValueError("input_cov must keep col(B_star) invariant (Sigma B* = B* B*^T Sigma B*); "
                         "for other covariances measure the rate with gbml.measured_rate")
    vals, vecs = np.linalg.eigh(S_star)
    root = (vecs * np.sqrt(np.clip(vals, 0.0, None))) @ vecs.T
    if d == k:
        raise ValueError("col(B*) is the whole space (k = d): nothing lies outside it, there is no rate")
    N = np.linalg.svd(B_star, full_matrices=True)[0][:, k:]  # orthonormal basis of col(B*)^perp
    lam_perp = np.linalg.eigvalsh(N.T @ Sigma @ N)[0]
    return float(1.0 - alpha * beta * lam_perp * np.linalg.eigvalsh(root @ Psi @ root)[0])
