"""The plumbing that the training loops share (private to ``gbml``): ``gbml.train``, ``gbml.train_runs`` and
``gbml.beyond.train_variants`` check their settings, draw each round's tasks and turn their iterates into
``History`` records the same way, with these functions (their names are public within the package).
"""
from __future__ import annotations

import numpy as np

from . import _checks
from ._kernels import angles_between_bases, bases_or_none


def round_source(problem, n, pool, rng, m_in, m_out):
    """A function giving the tasks of each round: fresh heads, or n heads from a fixed pool."""
    if pool is None:
        return problem.round_drawer(n, rng, m_in=m_in, m_out=m_out)  # = problem.sample_round each round
    if isinstance(pool, (int, np.integer)) and not isinstance(pool, bool):
        pool = problem.sample_heads(_checks.positive_int("pool", pool), rng)
    pool = _checks.array("pool", pool, 2, (None, problem.k))
    if n > len(pool):
        raise ValueError(f"n_tasks must be <= the pool size {len(pool)}, got {n}")
    if n == len(pool) and m_in is None:
        fixed = problem.tasks(pool)  # a fixed batch in population: the same tasks every round
        return lambda: fixed
    if n == len(pool):
        return lambda: problem.tasks(pool, rng, m_in=m_in, m_out=m_out)
    return lambda: problem.tasks(pool[rng.choice(len(pool), n, replace=False)], rng, m_in=m_in, m_out=m_out)


def run_settings(problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0):
    """The settings every trainer checks alike (``train``, ``train_runs``, ``beyond.train_variants``):
    ``(T, n, blowup, snapshot_every, rng, B0, w0)``, with the default start drawn when ``B0`` is None
    (``w0`` is then its head, else None)."""
    T = _checks.positive_int("T", T, minimum=0)
    n = _checks.positive_int("n_tasks", n_tasks)
    blowup = _checks.real("blowup", blowup, low=1.0, strict_low=True)
    if snapshot_every is not None:
        snapshot_every = _checks.positive_int("snapshot_every", snapshot_every)
    rng = _checks.as_rng(rng)
    w0 = None
    if B0 is None:
        if alpha == 0:
            raise ValueError("alpha = 0 needs an explicit B0 (the default B0 = Q/sqrt(alpha))")
        B0, w0 = problem.init(alpha, rng)
    return T, n, blowup, snapshot_every, rng, B0, w0


def histories(labels, problem, alpha, beta, Bs, ws, loss, last, diverged_at, settings, snapshot_every):
    """The History of each of R runs from their iterates, all at once (``train_runs``, ``beyond.train_variants``).

    ``Bs`` (T+1, R, d, k') and ``ws`` (T+1, R, k') hold every iterate, ``loss`` (T+1, R) the objective at each,
    ``last`` (R,) the last iterate each run kept and ``diverged_at`` (list) where it stopped (None: it did
    not); entries after ``last`` are ignored.  A run also stops before an iterate that lost rank or whose
    record overflows, as in ``gbml.train``; ``last`` and ``diverged_at`` are updated in place.
    """
    from .training import History  # here: gbml.training imports this module

    R, k = Bs.shape[1], Bs.shape[3]
    # The bases, angles, head norms and orth_error of the iterates each run kept (its first last[i] + 1), all at
    # once: rows starts[i] .. starts[i] + last[i] of the stacks below hold run i's.
    starts = np.cumsum(last + 1) - (last + 1)
    B_kept = np.concatenate([Bs[: last[i] + 1, i] for i in range(R)])  # (N, d, k')
    w_kept = np.concatenate([ws[: last[i] + 1, i] for i in range(R)])  # (N, k')
    with _checks.no_float_warnings():
        Qs, full_rank = bases_or_none(B_kept)
        angles = angles_between_bases(Qs, problem.B_star)  # (N, min(k, k*))
        head_norm = np.linalg.norm(w_kept, axis=1)
        orth = np.abs(np.linalg.eigvalsh(np.eye(k) - alpha * np.swapaxes(B_kept, 1, 2) @ B_kept)).max(axis=1)
    # As train: a run stops before an iterate that lost rank or whose record overflows.
    bad = ~full_rank | ~np.isfinite(head_norm) | ~np.isfinite(orth)
    histories = []
    for i in range(R):
        bad_run = bad[starts[i]: starts[i] + last[i] + 1]
        if bad_run.any():
            first = int(np.argmax(bad_run))
            if first == 0:
                raise start_overflows()
            last[i], diverged_at[i] = first - 1, first
        upto = last[i] + 1
        rows = slice(starts[i], starts[i] + upto)
        kept = {}
        if snapshot_every is not None:  # iterations 0, every, 2 every, ... and the last recorded one
            its = sorted({*range(0, upto, snapshot_every), last[i]})
            kept = dict(snapshot_iterations=np.array(its), snapshots=Bs[its, i])
        histories.append(History(
            labels[i], alpha, float(beta[i]), distance=np.sin(angles[rows, -1]), angles=angles[rows],
            loss=loss[:upto, i].copy(), head_norm=head_norm[rows], orth_error=orth[rows],
            B=Bs[last[i], i].copy(), w=ws[last[i], i].copy(), diverged_at=diverged_at[i],
            settings=dict(settings), **kept))
    return histories


def start_overflows() -> ValueError:
    return ValueError("the loss or ||I - alpha B0^T B0|| overflows at the start (inf or NaN): rescale B0 and "
                      "w0, use a smaller alpha, or check that objective returns a finite number")
