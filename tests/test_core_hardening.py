"""Hostile input, class by class (issue 12): every bad input is refused before any work with a ValueError or
TypeError naming the parameter, and nothing returns NaN or inf.  Each probe failed on the code before the
issue was fixed (accepted silently, returned NaN, or crashed with an error that did not say what was wrong).
"""
import warnings

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import gbml  # noqa: E402
from gbml import beyond  # noqa: E402
from gbml.book import paper, plotting, sweeps, widgets  # noqa: E402

D, K, N = 6, 2, 3
RNG = np.random.default_rng(0)
B = RNG.standard_normal((D, K))
W = RNG.standard_normal(K)
THETAS = RNG.standard_normal((N, D))
POP = gbml.PopulationTasks(THETAS)
X_IN, Y_IN = RNG.standard_normal((N, 4, D)), RNG.standard_normal((N, 4))
X_OUT, Y_OUT = RNG.standard_normal((N, 5, D)), RNG.standard_normal((N, 5))
SAMPLED = gbml.SampledTasks(X_IN, Y_IN, X_OUT, Y_OUT)
Q_STAR = np.linalg.qr(RNG.standard_normal((D, K)))[0]


def _problem(**kw):
    return gbml.Problem(D, K, rng=0, **kw)


def _train(**kw):
    args = dict(alpha=0.1, beta=0.5, T=3, n_tasks=2, rng=1) | kw
    return gbml.train(args.pop("method", "anil"), args.pop("problem", _problem()), **args)


# -- 1. empty sizes --------------------------------------------------------------------------------------
EMPTY = {
    "PopulationTasks no tasks": (lambda: gbml.PopulationTasks(np.ones((0, 6))), "thetas must not be empty"),
    "PopulationTasks d = 0": (lambda: gbml.PopulationTasks(np.ones((3, 0))), "thetas must not be empty"),
    "SampledTasks m_in = 0": (lambda: gbml.SampledTasks(np.ones((2, 0, 3)), np.ones((2, 0)), np.ones((2, 4, 3)),
                                                        np.ones((2, 4))), "X_in must not be empty"),
    "SampledTasks m_out = 0": (lambda: gbml.SampledTasks(np.ones((2, 3, 3)), np.ones((2, 3)), np.ones((2, 0, 3)),
                                                         np.ones((2, 0))), "X_out must not be empty"),
    "SampledTasks n = 0": (lambda: gbml.SampledTasks(np.ones((0, 3, 3)), np.ones((0, 3)), np.ones((0, 4, 3)),
                                                     np.ones((0, 4))), "X_in must not be empty"),
    "Problem.tasks no rows": (lambda: _problem().tasks(np.ones((0, K))), "heads must not be empty"),
    "meta_gradient k = 0": (lambda: gbml.meta_gradient("anil", np.ones((D, 0)), np.ones(0), POP, 0.1),
                            "B must not be empty"),
    "meta_objective k = 0": (lambda: gbml.meta_objective("maml", np.ones((D, 0)), np.ones(0), POP, 0.1),
                             "B must not be empty"),
    "adapt k = 0": (lambda: gbml.adapt("maml", np.ones((D, 0)), np.ones(0), POP, 0.1), "B must not be empty"),
    "diversity no heads": (lambda: gbml.diversity(np.ones((0, 2))), "heads must not be empty"),
    "altmin_gradient k = 0": (lambda: beyond.altmin_gradient(np.ones((D, 0)), POP), "B must not be empty"),
    "fit_heads k = 0": (lambda: beyond.fit_heads(np.ones((D, 0)), POP), "B must not be empty"),
    "orthonormal_basis empty": (lambda: gbml.orthonormal_basis(np.ones((0, 0))), "B must not be empty"),
    "local_rate empty Psi": (lambda: gbml.local_rate(0.1, 0.5, np.ones((0, 0))), "Psi must not be empty"),
    "train pool of no heads": (lambda: _train(pool=np.ones((0, K))), "pool must not be empty"),
}


@pytest.mark.parametrize("name", EMPTY)
def test_empty_sizes_are_refused(name):
    call, pattern = EMPTY[name]
    with pytest.raises(ValueError, match=pattern):
        call()


# -- 2. complex arrays -----------------------------------------------------------------------------------
C = 1j
COMPLEX = {
    "PopulationTasks thetas": (lambda: gbml.PopulationTasks(THETAS + C), "thetas"),
    "PopulationTasks input_cov": (lambda: gbml.PopulationTasks(THETAS, input_cov=np.eye(D) + 0j), "input_cov"),
    "SampledTasks X_in": (lambda: gbml.SampledTasks(X_IN + C, Y_IN, X_OUT, Y_OUT), "X_in"),
    "SampledTasks y_out": (lambda: gbml.SampledTasks(X_IN, Y_IN, X_OUT, Y_OUT + C), "y_out"),
    "meta_gradient B": (lambda: gbml.meta_gradient("anil", B + C, W, POP, 0.1), "B"),
    "meta_gradient w": (lambda: gbml.meta_gradient("maml", B, W * C, POP, 0.1), "w"),
    "meta_gradient w as a list": (lambda: gbml.meta_gradient("maml", B, [1.0, 1j], POP, 0.1), "w"),
    "subspace_distance B": (lambda: gbml.subspace_distance(B + C, Q_STAR), "B"),
    "subspace_distance B_star": (lambda: gbml.subspace_distance(B, Q_STAR + C), "B_star"),
    "principal_angles B_star": (lambda: gbml.principal_angles(B, Q_STAR * (1 + C)), "B_star"),
    "train B0": (lambda: _train(B0=(np.eye(D, K) + C) / np.sqrt(0.1)), "B0"),
    "Problem head_cov Hermitian": (lambda: _problem(head_cov=np.array([[1, 0.5j], [-0.5j, 1]])), "head_cov"),
    "Problem B_star": (lambda: _problem(B_star=Q_STAR + 0j), "B_star"),
    "Problem.tasks heads": (lambda: _problem().tasks(np.ones((3, K)) * C), "heads"),
    "local_rate Psi": (lambda: gbml.local_rate(0.1, 0.5, np.eye(2) + 0j), "Psi"),
    "fit_heads B": (lambda: beyond.fit_heads(B + C, POP), "B"),
}


@pytest.mark.parametrize("name", COMPLEX)
def test_complex_arrays_are_refused_not_truncated(name):
    call, param = COMPLEX[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's ComplexWarning (truncation) must not happen either
        with pytest.raises(TypeError, match=rf"^{param} must be a real array, got complex"):
            call()


# -- 3. overflow -----------------------------------------------------------------------------------------
OVERFLOW = {
    "meta_gradient huge alpha": lambda: gbml.meta_gradient("maml", B, W, POP, 1e200),
    "meta_gradient B x 1e200": lambda: gbml.meta_gradient("anil", B * 1e200, W, POP, 0.1),
    "meta_gradient samples B x 1e160": lambda: gbml.meta_gradient("fo-maml", B * 1e160, W, SAMPLED, 0.1),
    "meta_gradient avg-loss B x 1e200": lambda: gbml.meta_gradient("avg-loss", B * 1e200, W, POP, 0.1),
    "meta_objective huge alpha": lambda: gbml.meta_objective("maml", B, W, POP, 1e200),
    "adapt B x 1e200": lambda: gbml.adapt("maml", B * 1e200, W, POP, 0.1),
    "adapt_steps many steps": lambda: beyond.adapt_steps(B * 10, W, POP, 1.0, steps=5000),
    "multistep_gradient many steps": lambda: beyond.multistep_gradient(B * 10, W, POP, 1.0, steps=5000),
    "multistep_gradient first order": lambda: beyond.multistep_gradient(B * 10, W, POP, 1.0, steps=5000,
                                                                         first_order=True),
    "multistep_objective many steps": lambda: beyond.multistep_objective(B * 10, W, POP, 1.0, steps=5000),
}


@pytest.mark.parametrize("name", OVERFLOW)
def test_overflow_is_an_error_not_nan(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning escapes
        with pytest.raises(ValueError, match=r"overflowed .* use a smaller alpha") as err:
            OVERFLOW[name]()
    assert type(err.value).__name__ == "NonFiniteError"  # gbml._checks.NonFiniteError, a ValueError


# -- 4. distances and angles: invariant to the basis and scale of both arguments ----------------------------
INVARIANCE = {
    "2 B*": lambda f: (f(B, 2 * Q_STAR), f(B, Q_STAR)),
    "1e-8 B*": lambda f: (f(B, 1e-8 * Q_STAR), f(B, Q_STAR)),
    "B* R": lambda f: (f(B, Q_STAR @ np.array([[2.0, 1.0], [0.0, 0.5]])), f(B, Q_STAR)),
    "1e-200 B*": lambda f: (f(B, 1e-200 * Q_STAR), f(B, Q_STAR)),
}


@pytest.mark.parametrize("name", INVARIANCE)
def test_distance_invariant_to_basis_and_scale_of_B_star(name):
    got, want = INVARIANCE[name](gbml.subspace_distance)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert got == pytest.approx(np.sin(gbml.principal_angles(B, Q_STAR)[-1]), rel=1e-12)


ZERO_STAR = {
    "subspace_distance zero B_star": lambda: gbml.subspace_distance(B, np.zeros((D, K))),
    "subspace_distance rank-deficient B_star": lambda: gbml.subspace_distance(B, np.ones((D, K))),
    "invariant_rate B_star of the wrong scale": lambda: beyond.invariant_rate(0.1, 0.5, np.eye(K), np.eye(D),
                                                                               2 * Q_STAR),
    "outside_singular_values B_star not orthonormal": lambda: beyond.outside_singular_values(B, 3 * Q_STAR),
}


@pytest.mark.parametrize("name", ZERO_STAR)
def test_a_zero_or_badly_scaled_B_star_is_refused_by_name(name):
    with pytest.raises(ValueError, match=r"B_star must have (full column rank|orthonormal columns)"):
        ZERO_STAR[name]()


# -- 5. the rank test does not depend on the scale of the columns -----------------------------------------
def _scaled_column(scale, M=B):
    M = M.copy()
    M[:, 1] *= scale
    return M


RANK = {
    "orthonormal_basis column x 1e-13": lambda: (np.abs(gbml.orthonormal_basis(_scaled_column(1e-13))),
                                                 np.abs(gbml.orthonormal_basis(B))),
    "subspace_distance column x 1e-13": lambda: (gbml.subspace_distance(_scaled_column(1e-13), Q_STAR),
                                                 gbml.subspace_distance(B, Q_STAR)),
    "principal_angles column x 1e-14": lambda: (gbml.principal_angles(_scaled_column(1e-14), Q_STAR),
                                                gbml.principal_angles(B, Q_STAR)),
    "B_star column x 1e-13": lambda: (gbml.subspace_distance(B, _scaled_column(1e-13, Q_STAR + 0.1 * B)),
                                      gbml.subspace_distance(B, np.linalg.qr(Q_STAR + 0.1 * B)[0])),
    "train B0 column x 1e-13": lambda: (_train(B0=_scaled_column(1e-13), T=1).distance[0],
                                        _train(B0=B, T=1).distance[0]),
}


@pytest.mark.parametrize("name", RANK)
def test_full_rank_with_a_tiny_column_is_full_rank(name):
    got, want = RANK[name]()
    assert np.allclose(got, want, rtol=1e-9, atol=1e-12)


def test_one_rank_test_in_the_package():
    from gbml import _kernels, geometry, training

    # geometry's orthonormal_basis and the training loops both test rank with gbml._kernels.basis_or_none
    assert geometry.basis_or_none is _kernels.basis_or_none and training._kernels is _kernels


# -- 6. diversity and local_rate ---------------------------------------------------------------------------
def test_diversity_reads_a_square_batch_of_heads_as_heads():
    heads = np.eye(2)  # two heads e1, e2: Psi_hat = I / 2
    assert gbml.diversity(heads)["mu2"] == pytest.approx(0.5)
    assert gbml.diversity(Psi=np.eye(2))["mu2"] == pytest.approx(1.0)


PSI_BAD = {
    "negative definite": (lambda: gbml.local_rate(0.1, 0.5, -np.eye(2)), ValueError, "Psi must be symmetric positive"),
    "not square": (lambda: gbml.local_rate(0.1, 0.5, np.ones((2, 3))), ValueError, "Psi must be a square"),
    "diversity Psi= indefinite": (lambda: gbml.diversity(Psi=np.diag([1.0, -1.0])), ValueError,
                                  "Psi must be symmetric positive"),
    "diversity both": (lambda: gbml.diversity(np.eye(2), Psi=np.eye(2)), TypeError, "exactly one"),
    "diversity neither": (lambda: gbml.diversity(), TypeError, "exactly one"),
}


@pytest.mark.parametrize("name", PSI_BAD)
def test_psi_must_be_symmetric_psd(name):
    call, exc, pattern = PSI_BAD[name]
    with pytest.raises(exc, match=pattern):
        call()


def test_local_rate_says_when_the_rate_is_outside_minus_one_one():
    with pytest.warns(RuntimeWarning, match=r"outside \(-1, 1\)"):
        assert gbml.local_rate(1.0, 3.0, np.eye(2)) == pytest.approx(-2.0)


# -- 7. train ----------------------------------------------------------------------------------------------
TRAIN_BAD = {
    "blowup 0": (dict(blowup=0), ValueError, "blowup must be > 1"),
    "blowup -1": (dict(blowup=-1), ValueError, "blowup must be > 1"),
    "blowup NaN": (dict(blowup=float("nan")), ValueError, "blowup must be finite"),
    "blowup str": (dict(blowup="big"), TypeError, "blowup must be a real number"),
    "gradient of the wrong shape": (dict(gradient=lambda B, w, t, a: (B[:, :1], w)), ValueError,
                                    r"gradient must return \(grad_B, grad_w\) shaped like B"),
    "gradient returning one array": (dict(gradient=lambda B, w, t, a: B), TypeError, "gradient must return two"),
    "objective NaN": (dict(objective=lambda B, w, t, a: float("nan")), ValueError, "objective returns a finite"),
    "objective a label": (dict(objective=lambda B, w, t, a: "low"), TypeError, "objective must return a real"),
    "B0 whose norm overflows": (dict(B0=np.eye(D, K) * 1e200), ValueError, "B0 and w0 are too large"),
    "start 1e100 Q (the loss overflows)": (dict(B0=np.linalg.qr(RNG.standard_normal((D, K)))[0] * 1e100),
                                           ValueError, "overflows at the start.*rescale B0"),
    "start 1e100 Q, on_divergence='stop'": (dict(B0=np.linalg.qr(RNG.standard_normal((D, K)))[0] * 1e100,
                                                 on_divergence="stop"), ValueError, "overflows at the start"),
}


@pytest.mark.parametrize("name", TRAIN_BAD)
def test_train_refuses_bad_settings(name):
    kwargs, exc, pattern = TRAIN_BAD[name]
    with pytest.raises(exc, match=pattern):
        _train(**kwargs)


def test_custom_gradient_without_objective_records_the_method_objective():
    h = _train(method="anil", gradient=lambda B, w, t, a: gbml.meta_gradient("anil", B, w, t, a))
    ref = _train(method="anil")
    assert np.all(np.isfinite(h.loss)) and np.allclose(h.loss, ref.loss)
    other = _train(method="my variant", gradient=lambda B, w, t, a: gbml.meta_gradient("anil", B, w, t, a))
    assert other.loss is None  # documented: no objective to record


DIVERGING = {
    "anil beta 1e308": dict(beta=1e308, T=5),
    "fo-maml beta 1e308": dict(method="fo-maml", beta=1e308, T=5),
    "anil alpha 1e150": dict(alpha=1e150, B0=np.eye(D, K), T=5),
    "maml alpha 1e150": dict(method="maml", alpha=1e150, B0=np.eye(D, K), T=5),
}


@pytest.mark.parametrize("name", DIVERGING)
def test_a_diverging_run_raises_with_diverged_at_and_no_warning(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(gbml.DivergenceError) as err:
            _train(**DIVERGING[name])
    h = err.value.history
    assert h.diverged_at == err.value.iteration >= 1
    for field in ("distance", "angles", "loss", "head_norm", "orth_error"):
        assert np.all(np.isfinite(getattr(h, field))), field


@pytest.mark.parametrize("name", DIVERGING)
def test_a_stopped_run_holds_only_finite_values(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        h = _train(on_divergence="stop", **DIVERGING[name])
    assert h.diverged_at is not None
    for field in ("distance", "angles", "loss", "head_norm", "orth_error"):
        assert np.all(np.isfinite(getattr(h, field))), field


def test_a_finished_run_holds_only_finite_values():
    h = _train(T=4)
    for field in ("distance", "angles", "loss", "head_norm", "orth_error"):
        assert np.all(np.isfinite(getattr(h, field))), field


# -- 8. plotting, explorers, experiments, reproduce ----------------------------------------------------------
def _ax():
    return plotting.frame_figure()[1]


def _line(ax, a, b=1.0):
    ax.plot([0, 1], [0, a * b])


HIST = _train(T=2)
SURFACE = {
    "explore grid with NaN": (lambda: widgets.explore(_line, {"a": [0.0, float("nan")]}, caption="c", alt="a",
                                                      mode="live"), ValueError, r"values must hold finite"),
    "explore grid with inf": (lambda: widgets.explore(_line, {"a": [0.0, float("inf")]}, caption="c", alt="a",
                                                      mode="static"), ValueError, r"values must hold finite"),
    "explore constant grid": (lambda: widgets.explore(_line, {"a": [1.0, 1.0]}, caption="c", alt="a", mode="live"),
                              ValueError, r"twice"),
    "explore duplicate grid values": (lambda: widgets.explore(_line, {"a": [0.0, 1.0, 1.0]}, caption="c", alt="a",
                                                              mode="static"), ValueError, r"twice"),
    "Param step 0": (lambda: widgets.Param([0.0, 1.0], step=0), ValueError, r"step must be a number > 0"),
    "Param step -1": (lambda: widgets.Param([0.0, 1.0], step=-1.0), ValueError, r"step must be a number > 0"),
    "Param mixed labels and numbers": (lambda: widgets.Param(["a", 1.0]), TypeError, r"mixes numbers"),
    "Param step on labels": (lambda: widgets.Param(["a", "b"], step=0.1), ValueError, r"step must be"),
    "plot_distance predicted_rate str": (lambda: plotting.plot_distance(_ax(), HIST, predicted_rate="0.9"),
                                         TypeError, r"predicted_rate must be a real number"),
    "plot_distance floor 0": (lambda: plotting.plot_distance(_ax(), HIST, floor=0), ValueError, r"floor must be > 0"),
    "plot_distance floor < 0": (lambda: plotting.plot_distance(_ax(), HIST, floor=-1e-16), ValueError,
                                r"floor must be > 0"),
    "plot_distance categorical values": (
        lambda: plotting.plot_distance(_ax(), {"x": gbml.History("anil", 0.1, 0.5, np.array(["a", "b"]),
                                                                 HIST.angles[:2], HIST.loss[:2], HIST.head_norm[:2],
                                                                 HIST.orth_error[:2], HIST.B, HIST.w)}),
        TypeError, r"distance must hold real numbers"),
    "sweep grid with NaN": (lambda: sweeps.sweep(lambda m: m, {"m": [1.0, float("nan")]}, progress=False),
                            ValueError, r"grid\['m'\] must hold finite"),
    "sweep duplicate before any work": (lambda: sweeps.sweep(_no_call, [1, 2, 1], progress=False), ValueError,
                                        r"twice"),
    "reproduce seeds=(1.7,)": (lambda: paper.run_methods(seeds=(1.7,), T=2), TypeError,
                               r"seeds\[0\] must be an integer"),
    "reproduce seeds=5": (lambda: paper.run_methods(seeds=5, T=2), TypeError, r"seeds must be a non-empty sequence"),
    "reproduce mus=()": (lambda: paper.run_diversity(mus=(), seeds=(0,), T_diversity=2), ValueError,
                         r"mus must be a non-empty sequence"),
    "reproduce mus out of [0, 1]": (lambda: paper.run_diversity(mus=(2.0,), seeds=(0,), T_diversity=2),
                                    ValueError, r"mus must be"),
    "reproduce tolerances=()": (lambda: paper.run_diversity(tolerances=(), mus=(0.5,), seeds=(0,), T_diversity=2),
                                ValueError, r"tolerances must be a non-empty sequence"),
    "reproduce method_diversity list": (lambda: paper.run_diversity(method_diversity=["anil"], mus=(0.5,),
                                                                        seeds=(0,), T_diversity=2),
                                        ValueError, r"method_diversity must be one of"),
    "table_markdown([])": (lambda: paper.table_markdown([]), ValueError, r"rows must be a non-empty list"),
}


def _no_call(x):
    raise AssertionError("the grid must be checked before any work")


@pytest.mark.parametrize("name", SURFACE)
def test_surface_validates_grids_types_and_seeds(name):
    call, exc, pattern = SURFACE[name]
    with pytest.raises(exc, match=pattern):
        call()


def test_a_diverged_run_row_says_it_diverged():
    exp = paper.Experiment("methods", dict(paper.SETTINGS, seeds=(0,)),
                           {"anil": [_train(beta=1e3, T=10, on_divergence="stop")]}, 0.0, mu={"anil": 1.0})
    text = paper.table_markdown(paper.iterations_table([exp]))
    assert "diverged (iteration" in text and "not within" not in text


# -- 9. aliasing -------------------------------------------------------------------------------------------
ALIAS = {
    "PopulationTasks thetas": (lambda a: gbml.PopulationTasks(a), lambda: THETAS.copy(), lambda t: t.thetas),
    "PopulationTasks input_cov": (lambda a: gbml.PopulationTasks(THETAS, input_cov=a), lambda: np.eye(D) * 2,
                                  lambda t: t.inner.cov(np.ones((N, D)))),
    "SampledTasks X_in": (lambda a: gbml.SampledTasks(a, Y_IN, X_OUT, Y_OUT), lambda: X_IN.copy(),
                          lambda t: t.inner.grad(np.ones(D))),
    "SampledTasks y_out": (lambda a: gbml.SampledTasks(X_IN, Y_IN, X_OUT, a), lambda: Y_OUT.copy(),
                           lambda t: t.outer.loss(np.ones(D))),
    "Problem head_cov": (lambda a: _problem(head_cov=a), lambda: np.diag([1.0, 0.25]), lambda p: p.Psi),
    "Problem head_mean": (lambda a: _problem(head_mean=a), lambda: np.ones(K), lambda p: p.Psi),
    "Problem input_cov": (lambda a: _problem(input_cov=a), lambda: np.eye(D) * 2,
                          lambda p: p.tasks(np.ones((2, K))).inner.cov(np.ones((2, D)))),
    "Problem B_star": (lambda a: _problem(B_star=a), lambda: Q_STAR.copy(), lambda p: p.B_star),
}


@pytest.mark.parametrize("name", ALIAS)
def test_objects_do_not_keep_the_callers_arrays(name):
    make, fresh, read = ALIAS[name]
    arr = fresh()
    obj = make(arr)
    before = np.array(read(obj), copy=True)
    arr[...] = 0.0
    assert np.array_equal(read(obj), before)


# -- 10. sizes ---------------------------------------------------------------------------------------------
SIZES = {
    "Problem(10**9, 2)": lambda: gbml.Problem(10**9, 2, rng=0),
    "Problem(10**6, 2, input_cov)": lambda: gbml.Problem(10**6, 2, rng=0, input_cov=np.eye(2)),
    "random_orthonormal(10**10, 3)": lambda: gbml.random_orthonormal(10**10, 3, 0),
    "sample_heads(10**12)": lambda: _problem().sample_heads(10**12, 0),
    "tasks m_in=10**10": lambda: _problem().sample_round(5, 0, m_in=10**10, m_out=5),
    "train T=10**13": lambda: _train(T=10**13),
}


@pytest.mark.parametrize("name", SIZES)
def test_requests_that_cannot_fit_are_refused_naming_the_size(name):
    with pytest.raises(ValueError, match=r"needs [\d.e+]+ GB \(\d+ bytes\)"):
        SIZES[name]()


@pytest.mark.parametrize("steps", [10**12, 10**6])
def test_adapt_steps_has_a_cap_on_steps(steps):
    with pytest.raises(ValueError, match=r"steps must be <= \d+"):
        beyond.adapt_steps(B, W, POP, 0.1, steps=steps)


# -- 11. errors that say what was wrong ----------------------------------------------------------------------
UNCLEAR = {
    "meta_gradient list method": (lambda: gbml.meta_gradient(["anil"], B, W, POP, 0.1), ValueError,
                                  r"method must be one of 'anil'.*got \['anil'\]"),
    "orthonormal_basis empty": (lambda: gbml.orthonormal_basis(np.ones((3, 0))), ValueError, r"B must not be empty"),
    "fit_heads k = 0": (lambda: beyond.fit_heads(np.ones((D, 0)), POP), ValueError, r"B must not be empty"),
    "local_rate empty": (lambda: gbml.local_rate(0.1, 0.5, [[]]), ValueError, r"Psi must not be empty"),
    "plot_distance(None, h)": (lambda: plotting.plot_distance(None, HIST), TypeError, r"ax must be a matplotlib Axes"),
    "plot_angles(None, h)": (lambda: plotting.plot_angles(None, HIST), TypeError, r"ax must be a matplotlib Axes"),
    "show_divergence(beta='b')": (lambda: plotting.show_divergence(_ax(), 3, beta="b"), TypeError,
                                  r"beta must be a real number"),
    "show_divergence(iteration='x')": (lambda: plotting.show_divergence(_ax(), "x"), TypeError,
                                       r"iteration must be an int"),
    "method_style('x', 'a')": (lambda: plotting.method_style("x", "a"), TypeError, r"index must be an int"),
    "method_style(None)": (lambda: plotting.method_style(None), TypeError, r"method must be a method name"),
    "explore {'mu': None}": (lambda: widgets.explore(_line, {"a": None}, caption="c", alt="a", mode="live"),
                             TypeError, r"params\['a'\]: values must be a sequence"),
    "Param fmt='{x}'": (lambda: widgets.Param([0.0, 1.0], fmt="{x}"), ValueError, r"fmt must format one value"),
    "Param fmt=3": (lambda: widgets.Param([0.0, 1.0], fmt=3), TypeError, r"fmt must be a format string"),
    "invariant_rate B_star scale": (lambda: beyond.invariant_rate(0.1, 0.5, np.eye(K), np.eye(D), 0.5 * Q_STAR),
                                    ValueError, r"B_star must have orthonormal columns"),
}


@pytest.mark.parametrize("name", UNCLEAR)
def test_errors_say_what_was_wrong(name):
    call, exc, pattern = UNCLEAR[name]
    with pytest.raises(exc, match=pattern):
        call()
