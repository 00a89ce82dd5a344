"""The outer loop: run any method for T rounds and record what the book plots (chapters 3-10)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _checks, _kernels, _loop
from .algorithms import METHODS, Method
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
        got a custom ``gradient`` and no ``objective`` for a method outside ``gbml.METHODS``.
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


def train(method: str, problem: Problem, *, alpha: float, beta: float, T: int, n_tasks: int, rng,
          m_in: int | None = None, m_out: int | None = None, pool=None, B0=None, w0=None,
          on_divergence: str = "raise", blowup: float = 1e6, gradient=None, objective=None,
          settings: dict | None = None, snapshot_every: int | None = None) -> History:
    """Run ``(B, w) <- (B, w) - beta * meta_gradient(method, B, w, tasks, alpha)`` for T rounds.

    Parameters
    ----------
    method, problem : a name of ``gbml.METHODS`` and a Problem
    alpha, beta : inner (>= 0) and outer (> 0) step sizes
    T, n_tasks : number of rounds and of tasks per round
    rng : int or Generator; draws the tasks (and ``B0`` when it is not given)
    m_in, m_out : samples per task for the inner and outer step; None for population
    pool : None (fresh tasks every round), an int P (draw P heads once) or an array (P, k) of heads;
        each round uses n_tasks of them (all of them, in population, when n_tasks == P: a fixed batch)
    B0, w0 : initial iterates; default the theory's ``problem.init(alpha, rng)`` (random subspace)
    on_divergence : "raise" (DivergenceError) or "stop" (return the history so far, ``diverged_at`` set)
    blowup : float > 1; a run stops when ``||B||`` or ``||w||`` exceeds ``blowup`` times its initial scale
        (or when a recorded value or the gradient overflows)
    gradient : callable ``gradient(B, w, tasks, alpha) -> (grad_B, grad_w)``, optional
        Replaces ``meta_gradient(method, ...)``; ``method`` is then only the run's label.  It must return
        arrays shaped like ``B`` and ``w``.
    objective : callable ``objective(B, w, tasks, alpha) -> float``, optional
        The loss recorded each round (default: the objective of ``method`` if it is a name of
        ``gbml.METHODS``, else none: ``History.loss`` is None).  It must be finite at the start.
    settings : dict with string keys, optional
        Extra entries for ``History.settings``; not the keys the run records itself (``d``, ``k``,
        ``n_tasks``, ``m_in``, ``m_out``, ``T``).
    snapshot_every : int >= 1, optional
        Keep the body ``B`` every ``snapshot_every`` rounds, and at the last recorded iteration, in
        ``History.snapshots`` (chapter 9 follows the directions of a wide body this way).
    """
    if gradient is None:
        spec = _checks.method_spec(method, METHODS)
    elif not callable(gradient):
        raise TypeError(f"gradient must be a callable gradient(B, w, tasks, alpha), got {type(gradient).__name__}")
    if objective is not None and not callable(objective):
        raise TypeError(f"objective must be a callable objective(B, w, tasks, alpha), got {type(objective).__name__}")
    beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    _on_divergence(on_divergence)
    settings = _extra_settings(settings)
    run = _loop.run_settings(problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0, w0, m_in, m_out,
                             pool)
    run["settings"].update(settings)
    alpha = run["alpha"]
    custom = gradient is not None or objective is not None or m_in is not None and not spec.adapts
    if not custom:
        step = _runs_step([spec], alpha)  # the vectorised step of train_runs (the sampled average loss aside)
    else:
        if gradient is None:
            gradient = lambda B, w, tasks, alpha: _kernels.gradient(spec, B, w, tasks, alpha)  # noqa: E731
        if objective is None and isinstance(method, str) and method in METHODS:
            objective = lambda B, w, tasks, alpha: _kernels.objective(METHODS[method], B, w, tasks, alpha)  # noqa: E731
        step = _functions_step(gradient, objective, alpha)
    history, = _loop.run_loop(step, np.array([beta]), labels=[method], one_by_one=custom, **run)
    if gradient is not None and objective is None:
        history.loss = None  # a custom gradient and no objective: nothing to record
    return _outcome(history, on_divergence)


def _on_divergence(value) -> None:
    if value not in ("raise", "stop"):
        raise ValueError(f"on_divergence must be 'raise' or 'stop', got {value!r}")


def _outcome(history, on_divergence) -> History:
    """The history, or DivergenceError for a run that diverged when ``on_divergence`` is "raise"."""
    if history.diverged_at is not None and on_divergence == "raise":
        raise DivergenceError(history.method, history.diverged_at, history.alpha, history.beta, history)
    return history


#: The settings every run records itself (``train(settings=...)`` may not set them).
_RUN_KEYS = ("d", "k", "n_tasks", "m_in", "m_out", "T")


def _extra_settings(settings) -> dict:
    """``train(settings=...)``: a dict with string keys, none of which the run sets itself."""
    if settings is None:
        return {}
    if not isinstance(settings, dict) or not all(isinstance(key, str) for key in settings):
        raise TypeError(f"settings must be a dict with string keys, got {settings!r}")
    taken = [key for key in settings if key in _RUN_KEYS]
    if taken:
        raise ValueError(f"settings must not hold {', '.join(map(repr, taken))}: the run records "
                         f"{', '.join(_RUN_KEYS)} itself")
    return settings


def _runs_step(specs, alpha):
    """The step of ``run_loop`` for methods of ``METHODS``, one per run: ``_kernels.runs_gradient``."""
    switches = Method(*(np.array(column) for column in zip(*specs)))  # each switch of METHODS, one per run
    cache = {}

    def step(idx, B, w, tasks):
        if cache.get("idx") is not idx:  # the switches of the runs still going; one bool where they all agree
            cache.update(idx=idx, spec=Method(*(_loop.shared(column[idx]) for column in switches)))
        return _kernels.runs_gradient(cache["spec"], B, w, tasks, alpha)
    return step


def _functions_step(gradient, objective, alpha):
    """The step of ``run_loop`` for one run given as functions ``gradient(B, w, tasks, alpha)`` and
    ``objective(...)`` (None: no loss recorded); no gradient where the loss overflowed."""

    def step(idx, B, w, tasks):
        B, w = B[0], w[0]
        value = 0.0 if objective is None else _loss(objective, B, w, tasks, alpha)
        if not np.isfinite(value):
            return B[None], w[None], np.array([value])
        try:
            gB, gw = _checked_gradient(gradient(B, w, tasks, alpha), B, w)
        except _checks.NonFiniteError:  # the gradient overflowed: the next iterate is not finite
            gB, gw = np.full_like(B, np.nan), w
        return gB[None], gw[None], np.array([value])
    return step


def train_runs(methods, problem: Problem, *, alpha: float, betas, T: int, n_tasks: int, rng, m_in=None, m_out=None,
               pool=None, B0=None, w0=None, blowup: float = 1e6, snapshot_every: int | None = None) -> list[History]:
    """Several runs on the same tasks, vectorised over the runs: one loop instead of one per run.

    Equals ``[train(m, problem, beta=b, rng=rng, on_divergence="stop", ...) for m, b in zip(methods, betas)]``
    with an int seed ``rng`` (every run then draws the same ``B0`` and the same tasks), to rounding, and
    is several times faster than those calls.

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
    specs = [METHODS[m] for m in _checks.names("methods", methods, METHODS)]
    if m_in is not None and "avg-loss" in methods:
        raise ValueError("train_runs trains the average loss in population only; use train for finite samples")
    betas = [_checks.real(f"betas[{i}]", b, low=0.0, strict_low=True)
             for i, b in enumerate(_checks.per_run("betas", betas, len(specs)))]
    run = _loop.run_settings(problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0, w0, m_in, m_out,
                             pool, len(specs), per_run=True)
    return _loop.run_loop(_runs_step(specs, run["alpha"]), np.array(betas), labels=methods, **run)


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
