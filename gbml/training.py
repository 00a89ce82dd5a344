"""The outer loop: run any method for T rounds and record what the book plots (chapters 3-10)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks, _kernels, _loop
from .algorithms import METHODS, Method, meta_gradient
from .problem import Problem

__all__ = ["DivergenceError", "History", "train", "train_runs"]


class DivergenceError(RuntimeError):
    """A run whose iterates became non-finite or exploded; carries the iteration and the history so far."""

    def __init__(self, method, iteration, alpha, beta, history):
        self.method, self.iteration, self.history = method, iteration, history
        if history is not None and history.diverged_at is None:
            history.diverged_at = iteration
        super().__init__(
            f"{method} diverged at iteration {iteration} (alpha={alpha:g}, beta={beta:g}): the iterates "
            "became non-finite or exploded. Try a smaller outer step beta or inner step alpha."
        )


@dataclass
class History:
    """What one run recorded, one entry per iteration 0..T (iteration 0 is the initialisation).

    Attributes
    ----------
    distance : (T+1,) ``dist(B_s, B*)``
    angles : (T+1, k) principal angles between ``col(B_s)`` and ``col(B*)``, ascending
    loss : (T+1,) outer objective of the round's tasks at ``(B_s, w_s)``; the last entry (there is no round
        T) uses the tasks of the last round (for T = 0, one round is drawn for it).  None when ``train``
        got a custom ``gradient`` and no ``objective`` for a method outside ``gbml.METHODS`` (there is no
        objective to record).
    head_norm : (T+1,) ``||w_s||``
    orth_error : (T+1,) ``||I - alpha B_s^T B_s||_2``
    B, w : final iterates (the last recorded ones, for a run that diverged)
    diverged_at : iteration at which the run stopped diverging, or None
    snapshot_iterations, snapshots : (S,) iterations and (S, d, k') bodies ``B`` kept there, when ``train``
        got ``snapshot_every``: iterations 0, every, 2 every, ... and the last recorded one; else None

    Every recorded value is finite: a run stops (or raises) before recording an iterate whose
    distance, loss, head norm or ``orth_error`` would overflow.
    """

    method: str
    alpha: float
    beta: float
    distance: np.ndarray
    angles: np.ndarray
    loss: np.ndarray | None
    head_norm: np.ndarray
    orth_error: np.ndarray
    B: np.ndarray
    w: np.ndarray
    diverged_at: int | None = None
    settings: dict = field(default_factory=dict)
    snapshot_iterations: np.ndarray | None = None
    snapshots: np.ndarray | None = None

    @property
    def iterations(self) -> np.ndarray:
        return np.arange(len(self.distance))


def train(
    method: str,
    problem: Problem,
    *,
    alpha: float,
    beta: float,
    T: int,
    n_tasks: int,
    rng,
    m_in: int | None = None,
    m_out: int | None = None,
    pool=None,
    B0=None,
    w0=None,
    on_divergence: str = "raise",
    blowup: float = 1e6,
    gradient=None,
    objective=None,
    settings: dict | None = None,
    snapshot_every: int | None = None,
) -> History:
    """Run ``(B, w) <- (B, w) - beta * meta_gradient(method, B, w, tasks, alpha)`` for T rounds.

    Without a custom ``gradient`` or ``objective`` the run is one run of :func:`train_runs` (its loop
    records everything at the end, all at once); several runs on the same tasks go faster together there.

    Parameters
    ----------
    method : one of ``gbml.METHODS``
    problem : Problem
    alpha, beta : inner (>= 0) and outer (> 0) step sizes
    T : number of rounds
    n_tasks : tasks per round
    rng : int or Generator; draws the tasks (and ``B0`` when it is not given)
    m_in, m_out : samples per task for the inner and outer step; None for population
    pool : None (fresh tasks every round), an int P (draw P heads once) or an array (P, k) of heads;
        each round uses n_tasks of them (all of them, in population, when n_tasks == P: a fixed batch)
    B0, w0 : initial iterates; default the theory's ``problem.init(alpha, rng)`` (random subspace)
    on_divergence : "raise" (DivergenceError) or "stop" (return the history so far, ``diverged_at`` set)
    blowup : float > 1; a run stops when ``||B||`` or ``||w||`` exceeds ``blowup`` times its initial scale
        (or when a recorded value or the gradient overflows)
    gradient : callable ``gradient(B, w, tasks, alpha) -> (grad_B, grad_w)``, optional
        Replaces ``meta_gradient(method, ...)`` (the variants of ``gbml.beyond``); ``method`` is then
        only the run's label.  It must return arrays shaped like ``B`` and ``w``.
    objective : callable ``objective(B, w, tasks, alpha) -> float``, optional
        The loss recorded each round (default: the method's outer objective; with a custom ``gradient``,
        the objective of ``method`` if it is a name of ``gbml.METHODS``, else none: ``History.loss`` is
        None).  It must return a finite real number at the start.
    settings : dict, optional
        Extra entries for ``History.settings``.
    snapshot_every : int >= 1, optional
        Keep the body ``B`` every ``snapshot_every`` rounds, and at the last recorded iteration, in
        ``History.snapshots`` (chapter 9 follows the directions of a wide body this way).
    """
    # A method of METHODS with its own objective runs in train_runs' loop (the same run, vectorised).
    vectorised = gradient is None and objective is None
    if gradient is None:
        spec = _checks.method_spec(method, METHODS)
        gradient = lambda B, w, tasks, alpha: meta_gradient(method, B, w, tasks, alpha)  # noqa: E731
        if objective is None:
            objective = lambda B, w, tasks, alpha: _kernels.objective(spec, B, w, tasks, alpha)  # noqa: E731
    elif not callable(gradient):
        raise TypeError(f"gradient must be a callable gradient(B, w, tasks, alpha), got {type(gradient).__name__}")
    elif objective is None and isinstance(method, str) and method in METHODS:
        spec = METHODS[method]
        objective = lambda B, w, tasks, alpha: _kernels.objective(spec, B, w, tasks, alpha)  # noqa: E731
    if objective is not None and not callable(objective):
        raise TypeError(f"objective must be a callable objective(B, w, tasks, alpha), got {type(objective).__name__}")
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a gbml.Problem, got {type(problem).__name__}")
    alpha = _checks.real("alpha", alpha, low=0.0)
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    if on_divergence not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop', got {on_divergence!r}")
    T, n, blowup, snapshot_every, rng, B0, w0_default = _loop.run_settings(
        problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0)
    if w0_default is None:
        w0_default = np.zeros(problem.k)
    # B0 may have k' != k columns (a model narrower or wider than the truth); w0 then has k' entries.
    B = _checks.array("B0", B0, 2, (problem.d, None)).copy()
    if B.shape[1] > problem.d:
        raise ValueError(f"B0 must be d x k' with k' <= d, got shape {B.shape}")
    if w0 is None and B.shape[1] != problem.k:
        w0_default = np.zeros(B.shape[1])
    w = (w0_default if w0 is None else _checks.array("w0", w0, 1, (B.shape[1],))).copy()
    k = B.shape[1]
    if vectorised and (m_in is None or method != "avg-loss"):
        history, = train_runs([method], problem, alpha=alpha, betas=beta, T=T, n_tasks=n, rng=rng, m_in=m_in,
                              m_out=m_out, pool=pool, B0=B, w0=w, blowup=blowup, snapshot_every=snapshot_every)
        history.settings.update(settings or {})
        if history.diverged_at is not None and on_divergence == "raise":
            raise DivergenceError(method, history.diverged_at, alpha, beta, history)
        return history
    _checks.fits(f"train's record of T={T} rounds", (T + 1) * (k + 4))
    if snapshot_every is not None:
        _checks.fits(f"the snapshots of B every {snapshot_every} rounds",
                     (T // snapshot_every + 2) * problem.d * k)
    snapshots = {}  # iteration -> B
    next_round = _loop.round_source(problem, n, pool, rng, m_in, m_out)
    with _checks.no_float_warnings():
        scale = blowup * (1.0 + np.linalg.norm(B) + np.linalg.norm(w))
    if not np.isfinite(scale):
        raise ValueError("B0 and w0 are too large for floating point (their norm overflows); rescale them")

    rec = {
        "distance": np.full(T + 1, np.nan),
        "angles": np.full((T + 1, min(k, problem.k)), np.nan),
        "loss": np.full(T + 1, np.nan),
        "head_norm": np.full(T + 1, np.nan),
        "orth_error": np.full(T + 1, np.nan),
    }
    eye = np.eye(k)
    B_star = problem.B_star  # orthonormal columns

    def record(s, tasks, Q):
        """Record iterate s; False (nothing recorded) if a value overflowed."""
        with _checks.no_float_warnings():
            ang = _kernels.angles_between_bases(Q, B_star)
            values = {"angles": ang, "distance": np.sin(ang[-1]), "head_norm": np.linalg.norm(w),
                      "orth_error": np.abs(np.linalg.eigvalsh(eye - alpha * B.T @ B)).max()}
            if objective is not None:
                values["loss"] = _loss(objective, B, w, tasks, alpha)
        if not all(np.all(np.isfinite(v)) for v in values.values()):
            return False
        for name, v in values.items():
            rec[name][s] = v
        if snapshot_every is not None and (s % snapshot_every == 0 or s == T):
            snapshots[s] = B.copy()
        return True

    def history(upto, diverged_at=None):
        kept = {}
        if snapshot_every is not None:
            snapshots.setdefault(upto, B.copy())  # the last recorded iterate
            its = sorted(i for i in snapshots if i <= upto)
            kept = dict(snapshot_iterations=np.array(its), snapshots=np.array([snapshots[i] for i in its]))
        return History(
            method, alpha, beta, *(v[: upto + 1] if name != "loss" or objective is not None else None
                                   for name, v in rec.items()), B=B.copy(), w=w.copy(),
            diverged_at=diverged_at,
            settings=dict(d=problem.d, k=k, n_tasks=n, m_in=m_in, m_out=m_out, T=T, **(settings or {})),
            **kept,
        )

    def diverge(iteration, upto):
        if on_divergence == "raise":
            raise DivergenceError(method, iteration, alpha, beta, history(upto, diverged_at=iteration))
        return history(upto, diverged_at=iteration)

    Q = _kernels.basis_or_none(B)
    if Q is None:
        raise ValueError("B0 must have full column rank")
    tasks = next_round() if T == 0 and objective is not None else None  # the loss of T = 0 needs one round
    B_prev, w_prev = B, w  # the last recorded iterates
    for s in range(T):
        tasks = next_round()
        if not record(s, tasks, Q):
            if s == 0:
                raise _loop.start_overflows()
            B, w = B_prev, w_prev
            return diverge(s, s - 1)
        try:
            out = gradient(B, w, tasks, alpha)
        except _checks.NonFiniteError:  # the gradient overflowed: the run diverges at the next iterate
            return diverge(s + 1, s)
        gB, gw = _checked_gradient(out, B, w)
        with _checks.no_float_warnings():
            B_new, w_new = B - beta * gB, w - beta * gw
            size = np.linalg.norm(B_new) + np.linalg.norm(w_new)  # NaN if any entry is
        Q = _kernels.basis_or_none(B_new) if size <= scale else None  # None: exploded, non-finite or rank-deficient
        if Q is None:
            return diverge(s + 1, s)
        B_prev, w_prev, B, w = B, w, B_new, w_new
    if not record(T, tasks, Q):
        if T == 0:
            raise _loop.start_overflows()
        B, w = B_prev, w_prev
        return diverge(T, T - 1)
    return history(T)


def train_runs(methods, problem: Problem, *, alpha: float, betas, T: int, n_tasks: int, rng, m_in=None, m_out=None,
               pool=None, B0=None, w0=None, blowup: float = 1e6, snapshot_every: int | None = None) -> list[History]:
    """Several runs on the same tasks, vectorised over the runs: one loop instead of one per run.

    Equals ``[train(m, problem, beta=b, rng=rng, on_divergence="stop", ...) for m, b in zip(methods, betas)]``
    with an int seed ``rng`` (every run then draws the same ``B0`` and the same tasks), to rounding, and
    is several times faster than those calls when there are several runs (an explorer redrawing every run
    of a figure, the sweeps of chapter 10).

    Parameters
    ----------
    methods : list of names of ``gbml.METHODS`` (``"avg-loss"`` in population only)
    betas : one outer step (> 0) for every run, or one per run
    B0, w0 : initial iterates shared by every run (default ``problem.init(alpha, rng)``), or one per run
        (arrays (R, d, k') and (R, k'))
    alpha, T, n_tasks, rng, m_in, m_out, pool, blowup, snapshot_every : as for :func:`train`

    Returns
    -------
    list of History, one per run in the order of ``methods``; a run that blows up stops (``diverged_at``).
    """
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)) or not methods:
        raise TypeError(f"methods must be a non-empty list of method names, got {methods!r}")
    specs = [_checks.method_spec(m, METHODS) for m in methods]
    R = len(specs)
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a gbml.Problem, got {type(problem).__name__}")
    if m_in is not None and "avg-loss" in methods:
        raise ValueError("train_runs trains the average loss in population only; use train for finite samples")
    alpha = _checks.real("alpha", alpha, low=0.0)
    betas = [betas] * R if not isinstance(betas, (list, tuple, np.ndarray)) else list(betas)
    if len(betas) != R:
        raise ValueError(f"betas must be one number or one per run ({R}), got {len(betas)}")
    beta = np.array([_checks.real(f"betas[{i}]", b, low=0.0, strict_low=True) for i, b in enumerate(betas)])
    T, n, blowup, snapshot_every, rng, B0, w0_default = _loop.run_settings(
        problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0)
    B = _checks.array("B0", B0, np.ndim(B0), (None,) * (np.ndim(B0) - 2) + (problem.d, None))
    if B.ndim not in (2, 3) or B.ndim == 3 and len(B) != R or B.shape[-1] > problem.d:
        raise ValueError(f"B0 must be d x k' (k' <= d) or one per run (R, d, k'), got shape {B.shape}")
    B = np.array(np.broadcast_to(B, (R,) + B.shape[-2:]))
    k = B.shape[2]
    if w0 is None:
        w0 = w0_default if w0_default is not None and k == problem.k else np.zeros(k)
    w = _checks.array("w0", w0, np.ndim(w0), (None,) * (np.ndim(w0) - 1) + (k,))
    if w.ndim not in (1, 2) or w.ndim == 2 and len(w) != R:
        raise ValueError(f"w0 must have k' entries or be one per run (R, k'), got shape {w.shape}")
    w = np.array(np.broadcast_to(w, (R, k)))
    _checks.fits(f"train_runs' record of {R} runs of T={T} rounds", 2 * (T + 1) * R * (problem.d + 1) * k)
    with _checks.no_float_warnings():
        scale = blowup * (1.0 + np.linalg.norm(B, axis=(1, 2)) + np.linalg.norm(w, axis=1))
    if not np.all(np.isfinite(scale)):
        raise ValueError("B0 and w0 are too large for floating point (their norm overflows); rescale them")
    if not _kernels.bases_or_none(B)[1].all():
        raise ValueError("B0 must have full column rank")
    switches = Method(*(np.array(column) for column in zip(*specs)))  # each switch of METHODS, one per run
    next_round = _loop.round_source(problem, n, pool, rng, m_in, m_out)
    # Every iterate is kept: the bases, angles, head norms and orth_error are computed at the end, all at once
    # (from each run's own iterates: the zeros after a run's last one are never used).
    Bs, ws = np.zeros((T + 1, R, problem.d, k)), np.zeros((T + 1, R, k))
    loss = np.full((T + 1, R), np.nan)
    last = np.full(R, T)  # the last iterate recorded by each run
    diverged_at = [None] * R
    active = np.arange(R)  # the runs still going
    tasks = next_round() if T == 0 else None

    def going(active):
        """The index of the runs still going (a slice is faster while every run goes on), their switches, outer
        steps and blow-up sizes: recomputed only when a run stops.  A switch or step that they all share is one
        bool or float (a plain branch in runs_gradient, and a scalar is cheaper to broadcast than an array)."""
        runs = slice(None) if len(active) == R else active
        shared = lambda a: a[0].item() if (a == a[0]).all() else a  # noqa: E731
        spec, b = Method(*(shared(column[runs]) for column in switches)), shared(beta[runs])
        beta_B, beta_w = (b, b) if isinstance(b, float) else (b[:, None, None], b[:, None])
        return runs, spec, beta_B, beta_w, scale[runs]

    runs, spec, beta_B, beta_w, scale_runs = going(active)
    with _checks.no_float_warnings():  # overflows are found by the checks below
        for s in range(T + 1):
            if s < T:
                tasks = next_round()
            Bs[s, runs], ws[s, runs] = B, w
            gB, gw, objective = _kernels.runs_gradient(spec, B, w, tasks, alpha)
            loss[s, runs] = objective
            stop = ~np.isfinite(objective)  # the loss overflowed: iterate s is not recorded
            stopped = stop.any()
            if stopped:
                if s == 0:
                    raise _loop.start_overflows()
                for i in active[stop]:
                    last[i], diverged_at[i] = s - 1, s
            if s == T:
                break
            B_new, w_new = B - beta_B * gB, w - beta_w * gw
            # ||B_new|| + ||w_new|| of each run (Frobenius norms, from sums of squares): NaN if any entry is
            size = np.sqrt(np.einsum("rdk,rdk->r", B_new, B_new)) + np.sqrt(np.einsum("rk,rk->r", w_new, w_new))
            small = size <= scale_runs  # not exploded, finite
            if not stopped and small.all():
                B, w = B_new, w_new
                continue
            keep = ~stop & small
            for i in active[~stop & ~keep]:
                last[i], diverged_at[i] = s, s + 1
            active, B, w = active[keep], B_new[keep], w_new[keep]
            if not active.size:
                break
            runs, spec, beta_B, beta_w, scale_runs = going(active)
    return _loop.histories(methods, problem, alpha, beta, Bs, ws, loss, last, diverged_at,
                      dict(d=problem.d, k=k, n_tasks=n, m_in=m_in, m_out=m_out, T=T), snapshot_every)


def _loss(objective, B, w, tasks, alpha) -> float:
    """The objective's value as a float (NaN when it overflowed); a non-number is refused."""
    try:
        value = objective(B, w, tasks, alpha)
    except _checks.NonFiniteError:
        return np.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"objective must return a real number, got {type(value).__name__}") from None


def _checked_gradient(out, B, w):
    """A custom gradient must return two real arrays shaped like B and w."""
    try:
        gB, gw = out
        if np.iscomplexobj(gB) or np.iscomplexobj(gw):
            raise TypeError
        gB, gw = np.asarray(gB, dtype=float), np.asarray(gw, dtype=float)
    except (TypeError, ValueError):
        raise TypeError("gradient must return two real arrays (grad_B, grad_w)") from None
    if gB.shape != B.shape or gw.shape != w.shape:
        raise ValueError(f"gradient must return (grad_B, grad_w) shaped like B {B.shape} and w {w.shape}, "
                         f"got shapes {gB.shape} and {gw.shape}")
    return gB, gw
