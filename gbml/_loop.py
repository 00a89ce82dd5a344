"""The one training loop of the package (private to ``gbml``): ``train``, ``train_runs`` and
``beyond.train_variants`` check their settings (:func:`run_settings`) and hand a ``step`` to :func:`run_loop`.
"""
from __future__ import annotations

import numpy as np

from . import _checks
from ._kernels import angles_between_bases, bases_or_none
from .problem import Problem
from .tasks import PopulationTasks, SampledTasks


def run_settings(problem, alpha, T, n_tasks, blowup, snapshot_every, rng, B0, w0, m_in, m_out, pool, R=1,
                 per_run=False, rounds=None) -> dict:
    """Check the settings every trainer shares, draw the start and the rounds: the keyword arguments of
    :func:`run_loop`.  The starts ``B`` (R, d, k') and ``w`` (R, k') are ``B0`` (default
    ``problem.init(alpha, rng)``) and ``w0`` (default 0) for every run, or with ``per_run`` one per run."""
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a gbml.Problem, got {type(problem).__name__}")
    alpha = _checks.real("alpha", alpha, low=0.0)
    T = _checks.positive_int("T", T, minimum=0)
    n = _checks.positive_int("n_tasks", n_tasks)
    blowup = _checks.real("blowup", blowup, low=1.0, strict_low=True)
    if snapshot_every is not None:
        snapshot_every = _checks.positive_int("snapshot_every", snapshot_every)
    rng = _checks.as_rng(rng)
    if B0 is None:
        if alpha == 0:
            raise ValueError("alpha = 0 needs an explicit B0 (the default B0 = Q/sqrt(alpha))")
        B0 = problem.init(alpha, rng)[0]
    # B0 may have k' != k columns (a model narrower or wider than the truth); w0 then has k' entries.
    ndim = np.ndim(B0) if per_run else 2
    B = _checks.array("B0", B0, ndim, (None,) * (ndim - 2) + (problem.d, None))
    if B.ndim not in (2, 3) or B.ndim == 3 and len(B) != R or B.shape[-1] > problem.d:
        raise ValueError(f"B0 must be d x k' with k' <= d{' (or one per run, R x d x k)' * per_run}"
                         f", got shape {B.shape}")
    d, k = B.shape[-2:]
    ndim = np.ndim(w0) if per_run and w0 is not None else 1
    w = np.zeros(k) if w0 is None else _checks.array("w0", w0, ndim, (None,) * (ndim - 1) + (k,))
    if w.ndim not in (1, 2) or w.ndim == 2 and len(w) != R:
        raise ValueError(f"w0 must have k' entries or be one per run (R, k'), got shape {w.shape}")
    B, w = np.array(np.broadcast_to(B, (R, d, k))), np.array(np.broadcast_to(w, (R, k)))
    _checks.fits(f"the record of {R} run{'s' * (R > 1)} of T={T} rounds", 2 * (T + 1) * R * (d + 1) * k)
    with _checks.no_float_warnings():  # each run's blow-up size
        scale = blowup * (1.0 + np.linalg.norm(B, axis=(1, 2)) + np.linalg.norm(w, axis=1))
    if not np.all(np.isfinite(scale)):
        raise ValueError("B0 and w0 are too large for floating point (their norm overflows); rescale them")
    if not bases_or_none(B)[1].all():
        raise ValueError("B0 must have full column rank")
    if rounds is None:
        next_round = _round_source(problem, n, pool, rng, m_in, m_out)
    else:
        next_round = _given_rounds(rounds, problem, n, T, pool, m_in, m_out)
        m_in, m_out = getattr(rounds[0], "m_in", None), getattr(rounds[0], "m_out", None)
    settings = dict(d=problem.d, k=k, n_tasks=n, m_in=m_in, m_out=m_out, T=T)
    return dict(B=B, w=w, next_round=next_round, T=T, scale=scale, problem=problem, alpha=alpha,
                snapshot_every=snapshot_every, settings=settings)


def _round_source(problem, n, pool, rng, m_in, m_out):
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


def _given_rounds(rounds, problem, n, T, pool, m_in, m_out):
    """A function giving the tasks of each round from a list drawn beforehand (``train_variants(rounds)``)."""
    if pool is not None or m_in is not None or m_out is not None:
        raise ValueError("give the tasks of every round (rounds) or how to draw them (pool, m_in, m_out), "
                         "not both")
    if not isinstance(rounds, (list, tuple)) or len(rounds) != max(T, 1):
        raise ValueError(f"rounds must be a list of the tasks of the {max(T, 1)} rounds, "
                         f"got {len(rounds) if isinstance(rounds, (list, tuple)) else type(rounds).__name__}")
    for i, tasks in enumerate(rounds):
        if not isinstance(tasks, (PopulationTasks, SampledTasks)):
            raise TypeError(f"rounds[{i}] must be a gbml.PopulationTasks or gbml.SampledTasks, "
                            f"got {type(tasks).__name__}")
        if (tasks.n, tasks.d) != (n, problem.d):
            raise ValueError(f"rounds[{i}] must hold n_tasks = {n} tasks in dimension d = {problem.d}, "
                             f"got n = {tasks.n}, d = {tasks.d}")
    return iter(rounds).__next__


def shared(a):
    """``a`` (R,) as one Python scalar when every run has the same value (cheaper to broadcast), else ``a``."""
    return a[0].item() if (a == a[0]).all() else a


def run_loop(step, betas, *, labels, B, w, next_round, T, scale, problem, alpha, settings, snapshot_every,
             one_by_one=False):
    """Train R runs for T rounds on the same tasks: ``(B, w) <- (B, w) - beta * grad`` for every run still going.

    ``step(idx, B, w, tasks) -> (grad_B, grad_w, loss)`` gives the gradients (R', d, k'), (R', k') and the
    objective (R',) of the runs ``idx`` (``slice(None)`` while every run goes on, else an index array; the same
    object until a run stops) at their iterates ``B`` (R', d, k'), ``w`` (R', k'); a non-finite loss refuses
    an iterate.  A run stops before an iterate whose loss is not finite, whose ``||B|| + ||w||`` exceeds its
    ``scale`` or is not finite, that lost rank, or whose record overflows; ``diverged_at`` is that iterate (at
    the start, a ValueError).  Returns each run's History.
    """
    R = len(B)
    Bs, ws = np.zeros((T + 1,) + B.shape), np.zeros((T + 1,) + w.shape)
    loss = np.full((T + 1, R), np.nan)
    last, diverged_at = np.full(R, T), [None] * R  # the last iterate each run keeps, and where it stopped
    active = np.arange(R)  # the runs still going

    def going(active):
        """The runs still going (a slice while all are), their outer steps and blow-up sizes."""
        idx = slice(None) if len(active) == R else active
        b = shared(betas[idx])
        beta_B, beta_w = (b, b) if isinstance(b, float) else (b[:, None, None], b[:, None])
        return idx, beta_B, beta_w, scale[idx]

    idx, beta_B, beta_w, scale_now = going(active)
    tasks = next_round() if T == 0 else None  # the loss of T = 0 needs one round
    with _checks.no_float_warnings():  # overflows are found by the checks below
        for s in range(T + 1):
            if s < T:
                tasks = next_round()
            Bs[s, idx], ws[s, idx] = B, w
            gB, gw, value = step(idx, B, w, tasks)
            loss[s, idx] = value
            stop = ~np.isfinite(value)  # the loss overflowed: iterate s is not recorded
            stopped = stop.any()
            if stopped:
                if s == 0:
                    raise _start_overflows()
                for i in active[stop]:
                    last[i], diverged_at[i] = s - 1, s
            if s == T:
                break
            B_new, w_new = B - beta_B * gB, w - beta_w * gw
            # ||B_new|| + ||w_new|| of each run (Frobenius norms, from sums of squares): NaN if any entry is
            size = np.sqrt(np.einsum("rdk,rdk->r", B_new, B_new)) + np.sqrt(np.einsum("rk,rk->r", w_new, w_new))
            small = size <= scale_now  # not exploded, finite
            if not stopped and small.all():
                B, w = B_new, w_new
                continue
            keep = ~stop & small
            for i in active[~stop & ~keep]:
                last[i], diverged_at[i] = s, s + 1
            active, B, w = active[keep], B_new[keep], w_new[keep]
            if not active.size:
                break
            idx, beta_B, beta_w, scale_now = going(active)
    return _histories(labels, problem, alpha, betas, Bs, ws, loss, last, diverged_at, settings, snapshot_every,
                      one_by_one)


def _histories(labels, problem, alpha, beta, Bs, ws, loss, last, diverged_at, settings, snapshot_every, one_by_one):
    """The History of each of R runs from every iterate ``Bs`` (T+1, R, d, k'), ``ws`` (T+1, R, k') and ``loss``
    (T+1, R), up to ``last`` (R,) or an iterate that lost rank or whose record overflows."""
    from .training import History  # here: gbml.training imports this module

    R = Bs.shape[1]
    # The records of the iterates each run kept (its first last[i] + 1), all at once: rows starts[i] ..
    # starts[i] + last[i] of the stacks below hold run i's.
    starts = np.cumsum(last + 1) - (last + 1)
    B_kept = np.concatenate([Bs[: last[i] + 1, i] for i in range(R)])  # (N, d, k')
    w_kept = np.concatenate([ws[: last[i] + 1, i] for i in range(R)])  # (N, k')
    with _checks.no_float_warnings():
        if one_by_one:  # iterate by iterate, as train given functions always recorded them (to the last bit)
            records = [_records(B[None], w[None], alpha, problem.B_star) for B, w in zip(B_kept, w_kept)]
            angles, full_rank, distance, _, orth = (np.concatenate(v) for v in zip(*records))
            head_norm = np.array([np.linalg.norm(w) for w in w_kept])
        else:
            angles, full_rank, distance, head_norm, orth = _records(B_kept, w_kept, alpha, problem.B_star)
    bad = ~full_rank | ~np.isfinite(head_norm) | ~np.isfinite(orth)
    histories = []
    for i in range(R):
        bad_run = bad[starts[i]: starts[i] + last[i] + 1]
        if bad_run.any():
            first = int(np.argmax(bad_run))
            if first == 0:
                raise _start_overflows()
            last[i], diverged_at[i] = first - 1, first
        upto = last[i] + 1
        rows = slice(starts[i], starts[i] + upto)
        kept = {}
        if snapshot_every is not None:  # iterations 0, every, 2 every, ... and the last recorded one
            its = sorted({*range(0, upto, snapshot_every), last[i]})
            kept = dict(snapshot_iterations=np.array(its), snapshots=Bs[its, i])
        histories.append(History(
            labels[i], alpha, float(beta[i]), distance=distance[rows], angles=angles[rows],
            loss=loss[:upto, i].copy(), head_norm=head_norm[rows], orth_error=orth[rows],
            B=Bs[last[i], i].copy(), w=ws[last[i], i].copy(), diverged_at=diverged_at[i],
            settings=dict(settings), **kept))
    return histories


def _records(B, w, alpha, B_star):
    """The angles, rank test, distance, head norm and ``orth_error`` of iterates B (N, d, k'), w (N, k')."""
    Qs, full_rank = bases_or_none(B)
    angles = angles_between_bases(Qs, B_star)  # (N, min(k, k*))
    orth = np.abs(np.linalg.eigvalsh(np.eye(B.shape[2]) - alpha * np.swapaxes(B, 1, 2) @ B)).max(axis=1)
    return angles, full_rank, np.sin(angles[:, -1]), np.linalg.norm(w, axis=1), orth


def _start_overflows() -> ValueError:
    return ValueError("the loss or ||I - alpha B0^T B0|| overflows at the start (inf or NaN): rescale B0 and "
                      "w0, use a smaller alpha, or check that objective returns a finite number")
