"""The paper's experiments, re-run: the settings, runs, numbers and figures of chapter 10 in one place, so
the chapter and ``make reproduce`` cannot drift apart.  Settings: population tasks, ``d = 20``, ``k = 3``,
``n = 20`` fresh tasks per round, ``alpha = 0.1``, ``beta = 0.5`` (``0.05`` for the average loss, its
stable step), ``w_0 = 0``, a random ``B_0 = Q / sqrt(alpha)``, heads ``N(0, diag(1, ..., 1, mu^2))``.  Seed
``s`` makes two generators (``SeedSequence(s).spawn(2)``): the first draws ``B*``, the second the rest.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .. import __version__, _checks
from ..problem import Problem
from ..theory import iterations_to, local_rate, measured_rate
from ..training import History, train
from . import plotting

__all__ = [
    "SETTINGS", "METHOD_ORDER", "Experiment", "generators", "run_methods", "run_diversity",
    "iterations_table", "table_markdown", "draw_methods", "draw_diversity", "settings_text",
    "run_all"
]

#: The chapter's defaults (the settings above; seeds and T chosen so the chapter runs in < 20 s).
SETTINGS = dict(
    d=20, k=3, n_tasks=20, alpha=0.1, beta=0.5, beta_avg=0.05,
    seeds=(0, 1, 2), T=530, T_diversity=1350, mus=(1.0, 0.5), method_diversity="anil",
    tolerances=(1e-3, 1e-6, 1e-10),
)
#: The four meta-learning methods, then the baseline.
METHOD_ORDER = ("anil", "fo-anil", "maml", "fo-maml", "avg-loss")


@dataclass
class Experiment:
    """Runs of one experiment (``name`` "methods" or "diversity"): ``runs[label]`` holds one History per seed
    of ``settings`` (everything needed to re-run it), ``seconds`` their wall-clock time, ``mu[label]`` the
    diversity of the label's problem, ``reused[label]`` the label of another experiment whose runs it took,
    ``version`` the ``gbml.__version__`` that produced it."""

    name: str
    settings: dict
    runs: dict
    seconds: float
    mu: dict = field(default_factory=dict)
    reused: dict = field(default_factory=dict)
    version: str = __version__

    @property
    def seeds(self) -> tuple:
        return tuple(self.settings["seeds"])

    def distances(self, label) -> np.ndarray:
        """Distance curves of a label, one row per seed, shape (n_seeds, T+1); NaN after a divergence."""
        runs = self.runs[label]
        T = max(len(h.distance) for h in runs)
        out = np.full((len(runs), T), np.nan)
        for i, h in enumerate(runs):
            out[i, : len(h.distance)] = h.distance
        return out

    def predicted_rate(self, label) -> float | None:
        """``1 - alpha beta mu^2`` (the local rate of chapter 4); None for the average loss."""
        if label == "avg-loss" or label not in self.mu:
            return None
        s = self.settings
        return local_rate(s["alpha"], s["beta"], np.diag([1.0] * (s["k"] - 1) + [self.mu[label] ** 2]))


def generators(seed: int):
    """The two independent generators of a seed: (problem_rng, run_rng)."""
    seed = _checks.positive_int("seed", seed, minimum=0)
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]


def _experiment(name, value, kinds=("methods", "diversity")) -> Experiment:
    """Check an Experiment (of one of ``kinds``), as run_methods / run_diversity return it."""
    if not isinstance(value, Experiment) or value.name not in kinds:
        what = " or ".join(f"run_{kind}()" for kind in kinds)
        raise TypeError(f"{name} must be an Experiment from gbml.book.paper.{what}, got {type(value).__name__}"
                        + (f" {value.name!r}" if isinstance(value, Experiment) else ""))
    return value


def _one_run(method, mu, seed, T, s) -> History:
    problem_rng, run_rng = generators(seed)
    problem = Problem(s["d"], s["k"], rng=problem_rng, mu=mu)
    beta = s["beta_avg"] if method == "avg-loss" else s["beta"]
    return train(method, problem, alpha=s["alpha"], beta=beta, T=T, n_tasks=s["n_tasks"], rng=run_rng,
                 on_divergence="stop")


def _settings(**overrides) -> dict:
    unknown = set(overrides) - set(SETTINGS)
    if unknown:
        raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(SETTINGS)}")
    s = {**SETTINGS, **{k: v for k, v in overrides.items() if v is not None}}
    s["seeds"] = _checks.seeds("seeds", s["seeds"])
    for key in ("d", "k", "n_tasks", "T", "T_diversity"):
        s[key] = _checks.positive_int(key, s[key])
    for key in ("alpha", "beta", "beta_avg"):
        s[key] = _checks.real(key, s[key], low=0.0, strict_low=True)
    if s["k"] > s["d"]:
        raise ValueError(f"k must be <= d, got k={s['k']}, d={s['d']}")
    s["mus"] = _values("mus", s["mus"], "diversities mu in [0, 1], e.g. (1.0, 0.5)", 0.0, 1.0, closed=True)
    s["tolerances"] = _values("tolerances", s["tolerances"], "tolerances in (0, 1), e.g. (1e-3, 1e-6)", 0.0, 1.0)
    _checks.method_name("method_diversity", s["method_diversity"], METHOD_ORDER)
    return s


def _values(name, values, what, low, high, closed=False) -> tuple:
    """A non-empty tuple of distinct reals in (low, high) (or [low, high] when ``closed``)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (list, tuple, np.ndarray)):
        raise TypeError(f"{name} must be a non-empty sequence of {what}, got {values!r}")
    out = tuple(_checks.real(f"{name}[{i}]", v) for i, v in enumerate(values))
    inside = (lambda v: low <= v <= high) if closed else (lambda v: low < v < high)
    if not out or not all(map(inside, out)) or len(set(out)) != len(out):
        raise ValueError(f"{name} must be a non-empty sequence of distinct {what}, got {values!r}")
    return out


def run_methods(**overrides) -> Experiment:
    """All four methods and the average loss at ``mu = 1``, T rounds each (``runs[method]``); ``overrides``
    are keys of :data:`SETTINGS` (e.g. ``seeds=(0, 1)``, ``T=300``)."""
    s = _settings(**overrides)
    start = time.perf_counter()
    runs = {m: [_one_run(m, 1.0, seed, s["T"], s) for seed in s["seeds"]] for m in METHOD_ORDER}
    return Experiment("methods", s, runs, time.perf_counter() - start, mu={m: 1.0 for m in METHOD_ORDER})


def run_diversity(methods_experiment: Experiment | None = None, **overrides) -> Experiment:
    """One method (ANIL by default) for every ``mu`` of the settings, ``T_diversity`` rounds each
    (``runs["mu = 0.5"]`` etc.).  Runs at ``mu = 1`` are taken from ``methods_experiment`` when it holds the
    same method, settings and seeds (they are the same runs, of T rounds, timed there)."""
    if methods_experiment is not None:
        _experiment("methods_experiment", methods_experiment, ("methods",))
    s = _settings(**overrides)
    method = s["method_diversity"]
    start = time.perf_counter()
    runs, mu, reused = {}, {}, {}
    for value in s["mus"]:
        label = f"mu = {value:g}"
        mu[label] = float(value)
        reusable = (methods_experiment is not None and value == 1.0 and method in methods_experiment.runs
                    and methods_experiment.seeds == s["seeds"]
                    and all(methods_experiment.settings[key] == s[key] for key in ("d", "k", "n_tasks", "alpha", "beta")))
        if reusable:
            runs[label] = methods_experiment.runs[method]
            reused[label] = method
        else:
            runs[label] = [_one_run(method, value, seed, s["T_diversity"], s) for seed in s["seeds"]]
    return Experiment("diversity", s, runs, time.perf_counter() - start, mu=mu, reused=reused)


def iterations_table(experiments, tolerances=None) -> list[dict]:
    """Iterations to reach each tolerance, per experiment, label and seed (``gbml.iterations_to``): one row
    (a dict) per (experiment, label) with ``experiment``, ``label``, ``mu``, ``T`` and, per tolerance,
    ``per_seed`` (None where not reached), ``median``, ``min``, ``max`` (None unless every seed reached it)
    and ``predicted``, ``s_0 + log(tol / tol_0) / log(rate)`` from the median crossing ``s_0`` of the first
    tolerance ``tol_0`` and the local rate (None for the first tolerance, the average loss, or ``tol_0``
    not reached)."""
    if isinstance(experiments, Experiment) or not isinstance(experiments, (list, tuple)) or not experiments:
        raise TypeError("experiments must be a non-empty list of Experiments (from run_methods, run_diversity "
                        f"or run_all), got {experiments!r}")
    experiments = [_experiment(f"experiments[{i}]", exp) for i, exp in enumerate(experiments)]
    if tolerances is not None:
        tolerances = _values("tolerances", tolerances, "tolerances in (0, 1), e.g. (1e-3, 1e-6)", 0.0, 1.0)
    rows = []
    for exp in experiments:
        tols = tuple(tolerances or exp.settings["tolerances"])
        for label, runs in exp.runs.items():
            row = {"experiment": exp.name, "label": label, "mu": exp.mu.get(label),
                   "T": max(h.settings.get("T", len(h.distance) - 1) for h in runs),
                   "method": label if exp.name == "methods" else exp.settings["method_diversity"],
                   "reused_from": exp.reused.get(label), "diverged_at": [h.diverged_at for h in runs],
                   "tolerances": {}}
            rate = exp.predicted_rate(label)
            for j, tol in enumerate(tols):
                hits = [iterations_to(h.distance, tol) for h in runs]
                done = [x for x in hits if x is not None]
                full = len(done) == len(hits)
                first = row["tolerances"][tols[0]]["median"] if j else None
                row["tolerances"][tol] = {
                    "per_seed": hits,
                    "median": float(np.median(done)) if full else None,
                    "min": min(done) if full else None,
                    "max": max(done) if full else None,
                    "predicted": (first + float(np.log(tol / tols[0]) / np.log(rate))
                                  if rate is not None and first is not None else None),
                }
            rows.append(row)
    return rows


def _label(exp, label):
    if exp.name == "methods":
        return plotting.LABELS.get(label, label)
    return f"{plotting.LABELS.get(exp.settings['method_diversity'], '')}, μ = {exp.mu[label]:g}"


def table_markdown(rows) -> str:
    """A Markdown table of :func:`iterations_table` rows: median (min–max) iterations per tolerance."""
    if isinstance(rows, (str, bytes)) or not isinstance(rows, (list, tuple)) or not rows:
        raise ValueError("rows must be a non-empty list of rows from gbml.book.paper.iterations_table, "
                         f"got {rows!r}")
    if not all(isinstance(row, dict) and {"experiment", "label", "tolerances"} <= set(row) for row in rows):
        raise TypeError("rows must be the rows (dicts) of gbml.book.paper.iterations_table")
    tols = list(rows[0]["tolerances"])
    powers = [plotting._power_of_ten(t) or f"{t:g}" for t in tols]  # "10⁻⁶"
    head = "| run | " + " | ".join(f"iterations to {power}" for power in powers) + " |"
    lines = [head, "|" + "---|" * (len(tols) + 1)]
    for row in rows:
        name = plotting.LABELS.get(row["method"], row["method"])
        if row["experiment"] != "methods":
            name += f", μ = {row['mu']:g}"
        if row.get("reused_from"):
            name += f" (the {plotting.LABELS.get(row['reused_from'], row['reused_from'])} runs above)"
        cells = []
        for t in tols:
            c = row["tolerances"][t]
            reached = sum(x is not None for x in c["per_seed"])
            if c["median"] is not None:
                cells.append(f"{c['median']:.0f} ({c['min']}–{c['max']})")
            elif reached:
                cells.append(f"{reached} of {len(c['per_seed'])} seeds within T = {row['T']}")
            else:
                cells.append(f"not within T = {row['T']}")
            diverged = [x for x in row.get("diverged_at") or [] if x is not None]
            if diverged and c["median"] is None:
                at = f"{min(diverged)}" if min(diverged) == max(diverged) else f"{min(diverged)}–{max(diverged)}"
                if len(diverged) == len(c["per_seed"]) and not reached:
                    cells[-1] = f"diverged (iteration {at})"
                else:
                    cells[-1] += f"; {len(diverged)} of {len(c['per_seed'])} seeds diverged (iteration {at})"
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _band(ax, curves, style, label, index=0, floor=1e-16):
    """Median line and min–max band across seeds (rows of ``curves``); markers staggered by ``index``."""
    finite = np.where(np.isfinite(curves), np.clip(curves, floor, None), np.nan)
    s = np.arange(curves.shape[1])
    with np.errstate(all="ignore"):
        lo, med, hi = (np.nanmin(finite, axis=0), np.nanmedian(finite, axis=0), np.nanmax(finite, axis=0))
    ax.fill_between(s, lo, hi, color=style["color"], alpha=0.12, linewidth=0)
    step = max(1, len(s) // 8)
    ax.semilogy(s, med, label=label, markevery=((index * step) // 5 % step, step), **style)


def _predicted(ax, exp, label, curves, anchor=1e-2, colour="0.35"):
    rate = exp.predicted_rate(label)
    med = np.nanmedian(curves, axis=0)
    below = np.flatnonzero(med <= anchor)
    if rate is None or not below.size:
        return
    s0 = int(below[0])
    s = np.arange(s0, curves.shape[1])
    ax.semilogy(s, np.clip(med[s0] * rate ** (s - s0), 1e-16, None), color=colour, linestyle=(0, (4, 3)),
                linewidth=1.2, label=f"rate 1 − αβμ² = {rate:.4g}" if exp.name == "methods" else f"predicted, μ = {exp.mu[label]:g}")


def draw_methods(ax, exp: Experiment):
    """Distance against iteration for every method: median over seeds and min–max band; predicted rate."""
    plotting._axes(ax), _experiment("exp", exp, ("methods",))
    for i, label in enumerate(exp.runs):
        _band(ax, exp.distances(label), plotting.method_style(label, i), _label(exp, label), i)
    _predicted(ax, exp, "anil", exp.distances("anil"))
    return _distance_axes(ax, legend_columns=2)


def draw_diversity(ax, exp: Experiment):
    """Distance against iteration for each diversity mu: median and min–max band, with the predicted rates."""
    plotting._axes(ax), _experiment("exp", exp, ("diversity",))
    styles = [dict(color=plotting.PALETTE["blue"], linestyle="-", marker="o"),
              dict(color=plotting.PALETTE["vermillion"], linestyle="--", marker="s"),
              dict(color=plotting.PALETTE["green"], linestyle="-.", marker="^")]
    for i, label in enumerate(exp.runs):
        _band(ax, exp.distances(label), styles[i % len(styles)], _label(exp, label), i)
        _predicted(ax, exp, label, exp.distances(label), colour="0.3" if i % 2 == 0 else "0.55")
    return _distance_axes(ax, legend_columns=1)


def _distance_axes(ax, legend_columns):
    ax.set_xlabel("iteration s")
    ax.set_ylabel(r"$\mathrm{dist}(B_s, B^*)$")
    ax.set_ylim(1e-13, 2)
    ax.legend(fontsize=8, loc="lower left", ncols=legend_columns)
    return ax


def settings_text(exp: Experiment) -> str:
    """One line with the settings, seeds, version and run time of an experiment."""
    _experiment("exp", exp)
    s = exp.settings
    T = s["T"] if exp.name == "methods" else s["T_diversity"]
    beta = f"β = {s['beta']:g} (average loss {s['beta_avg']:g})" if exp.name == "methods" else f"β = {s['beta']:g}"
    return (f"population, d = {s['d']}, k = {s['k']}, n = {s['n_tasks']} fresh tasks per round, α = {s['alpha']:g}, "
            f"{beta}, T = {T}; seeds {', '.join(map(str, s['seeds']))}; gbml {exp.version}; "
            f"run time {exp.seconds:.1f} s")


def run_all(**overrides) -> list[Experiment]:
    """Both experiments of chapter 10 with the given overrides of :data:`SETTINGS`."""
    methods = run_methods(**overrides)
    return [methods, run_diversity(methods, **overrides)]
