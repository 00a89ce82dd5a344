"""Property-based tests of the core (issue 12): the invariants of the book's mathematics, over generated
problems (dimensions, sample sizes, step sizes, random bases, non-isotropic covariances).

The profile is small and derandomised, so CI runs the same examples every time; a failure hypothesis finds
is recorded below as an explicit regression test.
"""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gbml
from gbml import beyond
from helpers_core import numerical_gradient, rel_err

PROFILE = settings(derandomize=True, max_examples=25, deadline=None, database=None)
seeds = st.integers(0, 2**32 - 1)
dims = st.integers(2, 7).flatmap(lambda d: st.tuples(st.just(d), st.integers(1, min(d, 3))))
scales = st.sampled_from([1e-150, 1e-6, 0.5, 2.0, 1e6, 1e150])


def _cov(rng, d):
    """A non-isotropic input covariance: A A^T / d + I / 2."""
    A = rng.standard_normal((d, d))
    return A @ A.T / d + 0.5 * np.eye(d)


def _tasks(rng, d, n, m, population, cov=True):
    if population:
        return gbml.PopulationTasks(rng.standard_normal((n, d)), noise_std=0.1,
                                    input_cov=_cov(rng, d) if cov else None)
    return gbml.SampledTasks(rng.standard_normal((n, m, d)), rng.standard_normal((n, m)),
                             rng.standard_normal((n, m + 1, d)), rng.standard_normal((n, m + 1)))


# -- gradients against finite differences ---------------------------------------------------------------------
@PROFILE
@given(seed=seeds, dk=dims, n=st.integers(1, 4), m=st.integers(1, 6), alpha=st.floats(0.01, 0.3),
       method=st.sampled_from(["anil", "maml", "avg-loss"]), population=st.booleans())
def test_meta_gradient_matches_finite_differences(seed, dk, n, m, alpha, method, population):
    (d, k), rng = dk, np.random.default_rng(seed)
    tasks = _tasks(rng, d, n, m, population)
    B, w = 0.5 * rng.standard_normal((d, k)), rng.standard_normal(k)
    gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha)
    nB, nw = numerical_gradient(lambda B_, w_: gbml.meta_objective(method, B_, w_, tasks, alpha), B, w)
    scale = max(np.linalg.norm(nB) + np.linalg.norm(nw), 1e-3)
    assert np.linalg.norm(gB - nB) + np.linalg.norm(gw - nw) < 1e-6 * scale + 1e-8


@PROFILE
@given(seed=seeds, dk=dims, n=st.integers(1, 3), alpha=st.floats(0.01, 0.2), steps=st.integers(0, 3),
       population=st.booleans())
def test_multistep_gradient_matches_finite_differences(seed, dk, n, alpha, steps, population):
    (d, k), rng = dk, np.random.default_rng(seed)
    tasks = _tasks(rng, d, n, 4, population)
    B, w = 0.5 * rng.standard_normal((d, k)), rng.standard_normal(k)
    gB, gw = beyond.multistep_gradient(B, w, tasks, alpha, steps)
    nB, nw = numerical_gradient(lambda B_, w_: beyond.multistep_objective(B_, w_, tasks, alpha, steps), B, w)
    assert rel_err(np.concatenate([gB.ravel(), gw]), np.concatenate([nB.ravel(), nw])) < 1e-5


# -- distances and angles ----------------------------------------------------------------------------------------
def _pair(seed, d, k):
    rng = np.random.default_rng(seed)
    k_star = int(rng.integers(1, d + 1))
    return rng, rng.standard_normal((d, k)), gbml.random_orthonormal(d, k_star, rng)


@PROFILE
@given(seed=seeds, dk=dims, c=scales, c_star=scales)
def test_distance_and_angles_invariant_to_basis_and_scale_of_both(seed, dk, c, c_star):
    rng, B, Bs = _pair(seed, *dk)
    R = rng.standard_normal((B.shape[1],) * 2) + 3 * np.eye(B.shape[1])  # invertible, well conditioned
    R_star = rng.standard_normal((Bs.shape[1],) * 2) + 3 * np.eye(Bs.shape[1])
    dist, angles = gbml.subspace_distance(B, Bs), gbml.principal_angles(B, Bs)
    for B2, Bs2 in [(B @ R, Bs), (B, Bs @ R_star), (c * B, Bs), (B, c_star * Bs), (c * B @ R, c_star * Bs @ R_star)]:
        assert gbml.subspace_distance(B2, Bs2) == pytest.approx(dist, abs=1e-9)
        assert np.allclose(gbml.principal_angles(B2, Bs2), angles, atol=1e-8)


@PROFILE
@given(seed=seeds, dk=dims)
def test_distance_is_symmetric_and_in_the_unit_interval(seed, dk):
    (d, k), rng = dk, np.random.default_rng(seed)
    B, C = rng.standard_normal((d, k)), rng.standard_normal((d, k))
    dist = gbml.subspace_distance(B, C)
    assert 0.0 <= dist <= 1.0
    assert dist == pytest.approx(gbml.subspace_distance(C, B), abs=1e-12)
    assert gbml.subspace_distance(B, B @ (rng.standard_normal((k, k)) + 3 * np.eye(k))) < 1e-7
    angles = gbml.principal_angles(B, C)
    assert np.all((angles >= 0) & (angles <= np.pi / 2 + 1e-12)) and np.all(np.diff(angles) >= -1e-12)


# -- determinism, no input modified, every History finite ---------------------------------------------------------
@settings(PROFILE, max_examples=10)
@given(seed=seeds, dk=dims, method=st.sampled_from(sorted(gbml.METHODS)), finite=st.booleans())
def test_same_seed_same_bits(seed, dk, method, finite):
    d, k = dk
    samples = dict(m_in=3, m_out=4) if finite else {}
    runs = [gbml.train(method, gbml.Problem(d, k, rng=seed % 1000, mu=0.5), alpha=0.1, beta=0.1, T=5, n_tasks=3,
                       rng=seed, **samples) for _ in range(2)]
    for field in ("distance", "angles", "loss", "head_norm", "orth_error", "B", "w"):
        assert np.array_equal(getattr(runs[0], field), getattr(runs[1], field)), field


@PROFILE
@given(seed=seeds, dk=dims, n=st.integers(1, 3), alpha=st.floats(0.0, 0.5),
       method=st.sampled_from(sorted(gbml.METHODS)), population=st.booleans())
def test_no_input_array_is_modified(seed, dk, n, alpha, method, population):
    (d, k), rng = dk, np.random.default_rng(seed)
    B, w, Bs = rng.standard_normal((d, k)), rng.standard_normal(k), gbml.random_orthonormal(d, k, rng)
    if population:
        arrays = [rng.standard_normal((n, d)), _cov(rng, d)]
        tasks = gbml.PopulationTasks(arrays[0], input_cov=arrays[1])
    else:
        arrays = [rng.standard_normal((n, 3, d)), rng.standard_normal((n, 3)),
                  rng.standard_normal((n, 2, d)), rng.standard_normal((n, 2))]
        tasks = gbml.SampledTasks(*arrays)
    head_cov = np.diag(rng.uniform(0.1, 1.0, k))
    before = [a.copy() for a in [B, w, Bs, head_cov, *arrays]]
    gbml.meta_gradient(method, B, w, tasks, alpha)
    gbml.meta_objective(method, B, w, tasks, alpha)
    gbml.subspace_distance(B, Bs), gbml.principal_angles(B, Bs), gbml.orthonormal_basis(B)
    gbml.diversity(B.T), gbml.local_rate(0.1, 0.5, head_cov)
    problem = gbml.Problem(d, k, rng=0, head_cov=head_cov, B_star=Bs)
    gbml.train(method, problem, alpha=max(alpha, 0.05), beta=0.1, T=2, n_tasks=n, rng=1, B0=B, w0=w,
               on_divergence="stop")
    for a, b in zip([B, w, Bs, head_cov, *arrays], before):
        assert np.array_equal(a, b)


@settings(PROFILE, max_examples=20)
@given(seed=seeds, dk=dims, method=st.sampled_from(sorted(gbml.METHODS)), log_alpha=st.floats(-3, 3),
       log_beta=st.floats(-2, 300), log_scale=st.floats(-100, 150), stop=st.booleans())
def test_every_returned_history_is_finite(seed, dk, method, log_alpha, log_beta, log_scale, stop):
    d, k = dk
    problem = gbml.Problem(d, k, rng=seed % 1000, mu=0.5)
    B0 = gbml.random_orthonormal(d, k, seed) * 10.0**log_scale
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning escapes either
        try:
            h = gbml.train(method, problem, alpha=10.0**log_alpha, beta=10.0**log_beta, T=8, n_tasks=2, rng=seed,
                           B0=B0, on_divergence="stop" if stop else "raise")
        except gbml.DivergenceError as err:
            h = err.history
            assert h.diverged_at == err.iteration
        except ValueError as err:  # a start that overflows floating point is refused by name
            assert "overflows at the start" in str(err)
            return
    for field in ("distance", "angles", "loss", "head_norm", "orth_error", "B", "w"):
        assert np.all(np.isfinite(getattr(h, field))), field
    assert len(h.distance) == (9 if h.diverged_at is None else h.diverged_at)


# -- meta_gradient refuses every empty or complex input -------------------------------------------------------------
@PROFILE
@given(seed=seeds, dk=dims, which=st.sampled_from(["B", "w", "thetas", "X_in", "y_out"]),
       how=st.sampled_from(["empty", "complex"]), method=st.sampled_from(sorted(gbml.METHODS)))
def test_meta_gradient_refuses_every_empty_or_complex_input(seed, dk, which, how, method):
    (d, k), rng = dk, np.random.default_rng(seed)
    n, m = 2, 3
    args = {"B": rng.standard_normal((d, k)), "w": rng.standard_normal(k), "thetas": rng.standard_normal((n, d)),
            "X_in": rng.standard_normal((n, m, d)), "y_out": rng.standard_normal((n, m))}
    bad = args[which]
    if how == "complex":
        args[which] = bad + 1j
        exc = TypeError
    else:
        axis = int(rng.integers(bad.ndim))
        args[which] = np.take(bad, [], axis=axis)
        exc = ValueError
    with pytest.raises(exc) as err:
        if which == "thetas":
            tasks = gbml.PopulationTasks(args["thetas"])
        else:
            X_in, y_out = args["X_in"], args["y_out"]
            tasks = gbml.SampledTasks(X_in, rng.standard_normal(X_in.shape[:2]), rng.standard_normal(X_in.shape),
                                      y_out if which == "y_out" else rng.standard_normal(X_in.shape[:2]))
        gbml.meta_gradient(method, args["B"], args["w"], tasks, 0.1)
    assert str(err.value).startswith(which + " ")  # the message names the parameter
