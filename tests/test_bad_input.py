"""Bad input of issue 20: each is refused before any work, by an error naming the parameter and what is accepted.

(Each test failed before its fix: the input was accepted, or a library's own error escaped.)
"""
from __future__ import annotations

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import gbml  # noqa: E402
from gbml import beyond  # noqa: E402
from gbml.book import exercises, paper, plotting, widgets  # noqa: E402


def _right(B, B_star):
    return gbml.subspace_distance(B, B_star)


def _wrong(B, B_star):
    return gbml.subspace_distance(B, B_star) + 0.5


# --- checkers' tolerances -------------------------------------------------------------------------------
@pytest.mark.parametrize("name, value", [("rtol", -1e-7), ("rtol", float("nan")), ("rtol", float("inf")),
                                         ("atol", -1.0), ("atol", float("nan")), ("atol", float("inf")),
                                         ("atol", 1e300), ("rtol", 2.0), ("atol", "0.1")])
def test_checker_tolerances(name, value):
    with pytest.raises((ValueError, TypeError), match=name):
        exercises.check_subspace_distance(_right, quiet=True, **{name: value})


def test_checker_atol_inf_no_longer_passes_a_wrong_function():
    assert not exercises.check_subspace_distance(_wrong, quiet=True).passed
    with pytest.raises(ValueError, match="atol"):
        exercises.check_subspace_distance(_wrong, quiet=True, atol=float("inf"))


# --- plotting and explorers: no matplotlib error escapes ---------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [(dict(dpi=0), "dpi"), (dict(dpi=-5), "dpi"), (dict(figsize=(0, 3)), "figsize"),
                                          (dict(figsize=(6, 0)), "figsize"), (dict(figsize=(6,)), "figsize"),
                                          (dict(nrows=0), "nrows"), (dict(ncols=-1), "ncols"),
                                          (dict(nrows=1.5), "nrows")])
def test_figure_layout(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"{name} must"):
        plotting.figure(**kwargs)


@pytest.mark.parametrize("dpi", [0, -1, float("nan"), float("inf")])
def test_to_png_dpi(dpi):
    fig, _ = plotting.figure()
    with pytest.raises(ValueError, match="dpi must be a number > 0"):
        plotting.to_png(fig, dpi=dpi)


def test_to_png_needs_a_figure():
    with pytest.raises(TypeError, match="fig must be a matplotlib Figure"):
        plotting.to_png(None)


def _plot(ax, beta):
    ax.plot([0, 1], [0, beta])


@pytest.mark.parametrize("kwargs, name", [(dict(dpi=0), "dpi"), (dict(figsize=(0, 3)), "figsize"),
                                          (dict(nrows=0), "nrows"), (dict(ncols=0), "ncols")])
def test_explore_layout(kwargs, name):
    with pytest.raises((ValueError, TypeError), match=f"{name} must"):
        widgets.explore(_plot, {"beta": [0.1, 0.2]}, caption="A line.", alt="A line", mode="static", **kwargs)


def test_static_value_off_the_grid():
    explorer = widgets.explore(_plot, {"beta": [0.1, 0.2, 0.3]}, caption="A line.", alt="A line", mode="static")
    with pytest.raises(ValueError, match=r"beta must be one of the grid values \[0.1, 0.2, 0.3\]"):
        explorer.controls["beta"].value = 0.25
    explorer.controls["beta"].value = 0.3  # a grid value still selects its frame
    assert explorer.values == {"beta": 0.3}


# --- the core -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [5e-324, 1e-310, np.finfo(float).tiny / 2])
def test_init_subnormal_alpha(alpha):
    with pytest.raises(ValueError, match="alpha must be at least"):
        gbml.Problem(4, 2, rng=0).init(alpha, 0)


def test_init_smallest_normal_alpha_stays_finite():
    B, _ = gbml.Problem(4, 2, rng=0).init(np.finfo(float).tiny, 0)
    assert np.isfinite(B.T @ B).all()


@pytest.mark.parametrize("Psi", [np.diag([1.0, -1e-13]), np.diag([1e20, -1e7]), np.diag([1e-20, -1e-30])])
def test_diversity_not_psd(Psi):
    with pytest.raises(ValueError, match="Psi must be symmetric positive semi-definite"):
        gbml.diversity(Psi=Psi)


def test_diversity_rounding_is_still_psd():
    A = np.random.default_rng(0).standard_normal((50, 3)) @ np.diag([1e10, 1.0, 0.0])  # rank 2, scale 1e20
    assert gbml.diversity(A)["mu2"] == 0.0  # the rounding of A^T A / n (a tiny negative eigenvalue) is let by


@pytest.mark.parametrize("kwargs, name", [(dict(low=0.0), "low"), (dict(low=float("nan")), "low"),
                                          (dict(high=float("inf")), "high"), (dict(low=1e-2, high=1e-3), "high"),
                                          (dict(low=-1.0), "low")])
def test_measured_rate_window(kwargs, name):
    curve = 0.5 ** np.arange(60)
    with pytest.raises(ValueError, match=name):
        gbml.measured_rate(curve, **kwargs)


@pytest.mark.parametrize("curve", [np.zeros(50), np.full(50, np.nan), -(0.5 ** np.arange(50))])
def test_measured_rate_bad_curves(curve):
    with pytest.raises(ValueError, match="distance"):
        gbml.measured_rate(curve)


def test_measured_rate_zero_low_gave_nan():
    curve = np.concatenate([0.5 ** np.arange(40), np.zeros(5)])
    with pytest.raises(ValueError, match="low"):
        gbml.measured_rate(curve, low=0.0)


@pytest.mark.parametrize("curve", [np.full(10, np.nan), [np.nan, 0.1, 1e-9], [0.5, np.inf, 1e-9], [0.5, -1.0]])
def test_iterations_to_bad_curves(curve):
    with pytest.raises(ValueError, match="distance must be a curve"):
        gbml.iterations_to(curve, 1e-6)


def test_iterations_to_after_divergence():
    assert gbml.iterations_to([0.5, 1e-7, np.nan], 1e-6) == 1
    assert gbml.iterations_to([0.5, 0.4, np.nan], 1e-6) is None
    assert gbml.iterations_to(np.zeros(3), 1e-6) == 0


@pytest.mark.parametrize("first_order", [1, 0, "yes", None, 1.0])
def test_multistep_first_order_is_a_bool(first_order):
    problem = gbml.Problem(4, 2, rng=0)
    tasks = problem.sample_round(3, 0)
    B, w = problem.init(0.3, 1)
    with pytest.raises(TypeError, match="first_order must be True or False"):
        beyond.multistep_gradient(B, w, tasks, 0.3, 2, first_order=first_order)


@pytest.mark.parametrize("key", ["d", "k", "n_tasks", "m_in", "m_out", "T"])
def test_train_settings_keep_the_runs_own(key):
    problem = gbml.Problem(4, 2, rng=0)
    for kwargs in ({}, {"gradient": lambda B, w, tasks, alpha: gbml.meta_gradient("anil", B, w, tasks, alpha)}):
        with pytest.raises(ValueError, match=f"settings must not hold '{key}'"):
            gbml.train("anil", problem, alpha=0.3, beta=0.3, T=3, n_tasks=2, rng=0, settings={key: 1}, **kwargs)


def test_train_settings_extra_keys():
    problem = gbml.Problem(4, 2, rng=0)
    h = gbml.train("anil", problem, alpha=0.3, beta=0.3, T=3, n_tasks=2, rng=0, settings={"note": "x"})
    assert h.settings["note"] == "x" and h.settings["T"] == 3
    with pytest.raises(TypeError, match="settings must be a dict"):
        gbml.train("anil", problem, alpha=0.3, beta=0.3, T=3, n_tasks=2, rng=0, settings=[("note", 1)])


# --- the paper's experiments: the wrong object is a TypeError naming the parameter ----------------------------
@pytest.fixture(scope="module")
def experiments():
    return paper.run_all(seeds=(0,), d=6, k=2, n_tasks=5, T=40, T_diversity=40)


@pytest.mark.parametrize("call, name", [
    (lambda exps: paper.iterations_table([object()]), "experiments"),
    (lambda exps: paper.iterations_table(exps[0]), "experiments"),
    (lambda exps: paper.iterations_table(exps, tolerances="1e-3"), "tolerances"),
    (lambda exps: paper.table_markdown([{"a": 1}]), "rows"),
    (lambda exps: paper.draw_methods(None, exps[0]), "ax"),
    (lambda exps: paper.draw_methods(plotting.figure()[1], exps[1]), "exp"),
    (lambda exps: paper.draw_methods(plotting.figure()[1], {"runs": {}}), "exp"),
    (lambda exps: paper.draw_diversity(plotting.figure()[1], exps[0]), "exp"),
    (lambda exps: paper.settings_text("methods"), "exp"),
    (lambda exps: paper.run_diversity(methods_experiment=[1], seeds=(0,), T_diversity=5), "methods_experiment"),
])
def test_paper_wrong_objects(experiments, call, name):
    with pytest.raises(TypeError, match=name):
        call(experiments)
