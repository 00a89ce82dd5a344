"""Record what every trainer returns, into tests/data/loop_outputs.npz (read by tests/test_loop_equivalence.py).

The fixture was written by the three training loops that existed before issue 20 (``train``'s own loop,
``train_runs`` and ``beyond.train_variants``) and is committed: the one batched loop that replaced them must
return the same histories bit for bit.  Re-run only to extend the cases (on code known to be right):

    .venv/bin/python tests/make_loop_fixture.py
"""
from __future__ import annotations

import json
import pathlib

import numpy as np

import gbml
from gbml import beyond

OUT = pathlib.Path(__file__).parent / "data" / "loop_outputs.npz"
FIELDS = ("distance", "angles", "loss", "head_norm", "orth_error", "B", "w", "snapshot_iterations", "snapshots")


def _problem():
    return gbml.Problem(6, 2, rng=0)


def _collapse(B, w, tasks, alpha):
    """A custom gradient that takes (at beta = 1) the body to rank one in one step: the run loses rank."""
    return B - B[:, [0, 0]], np.zeros_like(w)


def _nan_gradient_after(s):
    """A custom gradient that returns NaN from its (s+1)-th call on (a non-finite gradient)."""
    calls = [0]

    def gradient(B, w, tasks, alpha):
        calls[0] += 1
        gB, gw = gbml.meta_gradient("fo-anil", B, w, tasks, alpha)
        return (gB * np.nan, gw) if calls[0] > s else (gB, gw)
    return gradient


def _inf_objective_after(s):
    """A custom objective that overflows from its (s+1)-th call on (a non-finite loss)."""
    calls = [0]

    def objective(B, w, tasks, alpha):
        calls[0] += 1
        return np.inf if calls[0] > s else gbml.meta_objective("anil", B, w, tasks, alpha)
    return objective


def _scaled_anil(B, w, tasks, alpha):
    gB, gw = gbml.meta_gradient("anil", B, w, tasks, alpha)
    return 0.5 * gB, 0.5 * gw


def cases():
    """name -> a function of no argument returning a History, a list of them, or raising."""
    p = _problem()
    base = dict(alpha=0.3, beta=0.4, T=12, n_tasks=4)
    out = {}
    B_small = 0.2 * np.random.default_rng(1).standard_normal((6, 2))
    for method in gbml.METHODS:
        out[f"train/{method}/population"] = lambda m=method: gbml.train(m, p, rng=1, **base)
        out[f"train/{method}/samples"] = lambda m=method: gbml.train(m, p, rng=2, m_in=9, m_out=7, **base)
        out[f"train/{method}/pool-fixed"] = lambda m=method: gbml.train(m, p, rng=3, pool=4, **base)
        out[f"train/{method}/pool-drawn-samples"] = lambda m=method: gbml.train(
            m, p, rng=4, pool=7, m_in=8, m_out=8, **base)
        out[f"train/{method}/diverge-stop"] = lambda m=method: gbml.train(
            m, p, rng=5, alpha=0.3, beta=6.0, T=30, n_tasks=4, on_divergence="stop")
        out[f"train/{method}/diverge-raise"] = lambda m=method: gbml.train(
            m, p, rng=5, alpha=0.3, beta=6.0, T=30, n_tasks=4)
        out[f"train/{method}/blowup-samples"] = lambda m=method: gbml.train(
            m, p, rng=6, m_in=5, m_out=5, B0=B_small, blowup=1.2, on_divergence="stop", **base)
    out["train/avg-loss/samples-diverge"] = lambda: gbml.train(
        "avg-loss", p, rng=7, m_in=6, m_out=6, alpha=0.3, beta=5.0, T=30, n_tasks=3, on_divergence="stop")
    out["train/avg-loss/samples-raise"] = lambda: gbml.train(
        "avg-loss", p, rng=7, m_in=6, m_out=6, alpha=0.3, beta=5.0, T=30, n_tasks=3)
    out["train/avg-loss/samples-snapshots"] = lambda: gbml.train(
        "avg-loss", p, rng=8, m_in=6, m_out=6, snapshot_every=5, **base)
    out["train/anil/snapshots"] = lambda: gbml.train("anil", p, rng=9, snapshot_every=4, **base)
    out["train/maml/snapshots-samples"] = lambda: gbml.train("maml", p, rng=9, m_in=8, m_out=8, snapshot_every=5, **base)
    rng = np.random.default_rng(10)
    B_wide, B_narrow = rng.standard_normal((6, 3)), rng.standard_normal((6, 1))
    out["train/anil/wide"] = lambda: gbml.train("anil", p, rng=11, B0=B_wide, **base)
    out["train/fo-maml/wide-samples-w0"] = lambda: gbml.train("fo-maml", p, rng=11, B0=B_wide, w0=np.ones(3),
                                                              m_in=10, m_out=10, snapshot_every=3, **base)
    out["train/maml/narrow"] = lambda: gbml.train("maml", p, rng=12, B0=B_narrow, **base)
    out["train/avg-loss/wide-samples"] = lambda: gbml.train("avg-loss", p, rng=12, B0=B_wide, m_in=9, m_out=9, **base)
    out["train/anil/T0"] = lambda: gbml.train("anil", p, rng=13, alpha=0.3, beta=0.4, T=0, n_tasks=4)
    out["train/avg-loss/T0-samples"] = lambda: gbml.train("avg-loss", p, rng=13, alpha=0.3, beta=0.4, T=0,
                                                          n_tasks=4, m_in=5, m_out=5)
    out["train/anil/settings"] = lambda: gbml.train("anil", p, rng=14, settings={"note": "x"}, **base)
    # Custom gradient and objective.
    out["custom/gradient+objective"] = lambda: gbml.train(
        "mine", p, rng=15, gradient=_scaled_anil,
        objective=lambda B, w, tasks, alpha: gbml.meta_objective("anil", B, w, tasks, alpha), **base)
    out["custom/gradient-method-objective"] = lambda: gbml.train("maml", p, rng=16, gradient=_scaled_anil, **base)
    out["custom/gradient-no-objective"] = lambda: gbml.train("mine", p, rng=17, gradient=_scaled_anil,
                                                             snapshot_every=5, m_in=6, m_out=6, **base)
    out["custom/objective-only"] = lambda: gbml.train(
        "fo-maml", p, rng=18, objective=lambda B, w, tasks, alpha: float(np.sum(B**2)), **base)
    out["custom/rank-loss-stop"] = lambda: gbml.train("mine", p, rng=19, gradient=_collapse, alpha=0.3, beta=1.0,
                                                      T=6, n_tasks=3, on_divergence="stop")
    out["custom/rank-loss-raise"] = lambda: gbml.train("anil", p, rng=19, gradient=_collapse, alpha=0.3, beta=1.0,
                                                       T=6, n_tasks=3)
    out["custom/nan-gradient-stop"] = lambda: gbml.train("fo-anil", p, rng=20, gradient=_nan_gradient_after(4),
                                                         on_divergence="stop", **base)
    out["custom/inf-objective-raise"] = lambda: gbml.train(
        "anil", p, rng=21, gradient=_scaled_anil, objective=_inf_objective_after(5), **base)
    out["custom/diverge-snapshots"] = lambda: gbml.train(
        "x", p, rng=22, gradient=_scaled_anil, alpha=0.3, beta=12.0, T=30, n_tasks=4, snapshot_every=2,
        on_divergence="stop")
    out["custom/start-overflow"] = lambda: gbml.train(
        "anil", p, rng=23, gradient=_scaled_anil, objective=lambda *a: np.inf, **base)
    for method in ("maml", "avg-loss"):  # the loss (maml) or orth_error (avg-loss) overflows at the start
        out[f"train/{method}/start-overflow"] = lambda m=method: gbml.train(m, p, rng=23, alpha=1e300, beta=0.1,
                                                                           T=5, n_tasks=3, B0=B_small)
    out["train/avg-loss/start-overflow-samples"] = lambda: gbml.train(
        "avg-loss", p, rng=23, alpha=1e300, beta=0.1, T=5, n_tasks=3, B0=B_small, m_in=4, m_out=4)
    # train_runs: mixed methods and steps, shared and per-run starts, divergence of some runs.
    methods = ["anil", "fo-anil", "maml", "fo-maml", "avg-loss", "anil"]
    out["runs/mixed"] = lambda: gbml.train_runs(methods, p, alpha=0.3, betas=[0.1, 0.2, 0.3, 0.4, 0.5, 6.0],
                                                T=20, n_tasks=4, rng=24)
    out["runs/mixed-samples"] = lambda: gbml.train_runs(
        methods[:4], p, alpha=0.3, betas=[0.3, 5.0, 0.3, 0.3], T=20, n_tasks=4, rng=25, m_in=6, m_out=6,
        snapshot_every=6)
    out["runs/same-method"] = lambda: gbml.train_runs(["maml"] * 3, p, alpha=0.3, betas=0.4, T=15, n_tasks=4,
                                                      rng=26, pool=5)
    starts = np.random.default_rng(27).standard_normal((3, 6, 3))
    out["runs/per-run-starts"] = lambda: gbml.train_runs(["anil", "fo-maml", "maml"], p, alpha=0.3,
                                                         betas=[0.3, 0.3, 9.0], T=15, n_tasks=4, rng=28,
                                                         B0=starts, w0=np.ones((3, 3)), blowup=100.0)
    out["runs/all-diverge"] = lambda: gbml.train_runs(["anil", "maml"], p, alpha=0.3, betas=[8.0, 9.0], T=40,
                                                      n_tasks=4, rng=29)
    # beyond: the variants of chapter 9.
    out["variants/mixed"] = lambda: beyond.train_variants(["anil", "fo-anil", "altmin", "anil"], p,
                                                          steps=[1, 3, 1, 5], T=15, rng=30, **{
                                                              k: v for k, v in base.items() if k != "T"})
    out["variants/samples"] = lambda: beyond.train_variants(["anil", "fo-anil", "altmin"], p, steps=2, alpha=0.2,
                                                            beta=0.3, T=12, n_tasks=4, rng=31, m_in=8, m_out=8,
                                                            snapshot_every=4)
    out["variants/diverge"] = lambda: beyond.train_variants(["anil", "fo-anil", "altmin"], p, steps=[1, 4, 1],
                                                            alpha=0.3, beta=7.0, T=30, n_tasks=4, rng=32)
    rounds = [p.sample_round(4, np.random.default_rng(33)) for _ in range(10)]
    out["variants/rounds"] = lambda: beyond.train_variants(["anil", "altmin"], p, steps=2, alpha=0.3, beta=0.4,
                                                           T=10, n_tasks=4, rng=34, rounds=rounds,
                                                           B0=B_wide)
    out["variant/raise"] = lambda: beyond.train_variant("fo-anil", p, steps=3, alpha=0.3, beta=7.0, T=30,
                                                        n_tasks=4, rng=35)
    out["variant/wide-stop"] = lambda: beyond.train_variant("altmin", p, alpha=0.3, beta=0.5, T=10, n_tasks=4,
                                                            rng=36, B0=B_wide, on_divergence="stop")
    return out


def outcome(fn):
    """What a case gave: ("histories", [History...]), ("divergence", iteration, History) or ("error", text)."""
    try:
        result = fn()
    except gbml.DivergenceError as err:
        return ("divergence", err.iteration, err.history)
    except ValueError as err:
        return ("error", f"{type(err).__name__}: {err}")
    return ("histories", result if isinstance(result, list) else [result])


def flatten(name, result):
    """The arrays of one case (``name/i/field``) and its scalar record (JSON-able)."""
    arrays, meta = {}, {"kind": result[0]}
    if result[0] == "error":
        meta["message"] = result[1]
        return arrays, meta
    if result[0] == "divergence":
        meta["iteration"] = result[1]
        histories = [result[2]]
    else:
        histories = result[1]
    meta["runs"] = []
    for i, h in enumerate(histories):
        meta["runs"].append(dict(method=h.method, alpha=h.alpha, beta=h.beta, diverged_at=h.diverged_at,
                                 settings=repr(h.settings), loss_is_none=h.loss is None,
                                 snapshots_is_none=h.snapshots is None))
        for field in FIELDS:
            value = getattr(h, field)
            if value is not None:
                arrays[f"{name}/{i}/{field}"] = value
    return arrays, meta


def main():
    arrays, meta = {}, {}
    for name, fn in cases().items():
        a, m = flatten(name, outcome(fn))
        arrays.update(a)
        meta[name] = m
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, __meta__=np.array(json.dumps(meta, indent=0)), **arrays)
    print(f"wrote {OUT} ({len(meta)} cases, {OUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
