"""Chapter 8 (finite samples): its proposition, the numerical claims of its prose and its coding-exercise
checker."""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml.book import exercises, sweeps
from helpers_core import assert_checker_explains, assert_stub_is_named

D, K, ALPHA, BETA = 20, 3, 0.1, 0.5


def _perp(B_star):
    """Orthonormal basis of col(B*)^perp (from a full SVD, independent of the chapters' helper)."""
    return np.linalg.svd(B_star, full_matrices=True)[0][:, B_star.shape[1]:]


# -- chapter 8: proposition prop-fs-not-fixed and the fluctuation fact of ex-fs-proof ----------------

def _clean_round(n, m_in, m_out, seed):
    rng = np.random.default_rng(seed)
    problem = gbml.Problem(D, K, rng=rng, mu=1.0, noise_std=0.0)
    heads = problem.sample_heads(n, rng)
    tasks = problem.tasks(heads, rng, m_in=m_in, m_out=m_out)
    Q = gbml.random_orthonormal(K, K, rng)
    return problem, heads, tasks, Q, problem.B_star @ Q / np.sqrt(ALPHA)


def _support_fluctuation(tasks, B_star):
    """M_t = B*^T Sigma_in,t B* - I for every task, (n, k, k), written from the samples directly."""
    Z = tasks.X_in @ B_star
    return np.swapaxes(Z, 1, 2) @ Z / tasks.m_in - np.eye(B_star.shape[1])


def test_solution_step_with_finite_samples_exact():
    """w_t = sqrt(alpha) Q^T (I + M_t) w*_t and E+ = -(beta/n) sum_t P_t M_t w*_t w_t^T at sigma = 0."""
    problem, heads, tasks, Q, B = _clean_round(6, 8, 11, seed=11)
    B_star, perp = problem.B_star, _perp(problem.B_star)
    M = _support_fluctuation(tasks, B_star)
    Zo = tasks.X_out
    P = np.swapaxes(Zo @ perp, 1, 2) @ (Zo @ B_star) / tasks.m_out           # (n, d-k, k)
    w_expected = np.sqrt(ALPHA) * np.einsum("tij,tj->ti", np.eye(K) + M, heads) @ Q
    _, w_t = gbml.adapt("fo-anil", B, np.zeros(K), tasks, ALPHA)
    np.testing.assert_allclose(w_t, w_expected, atol=1e-13)
    grad_B, _ = gbml.meta_gradient("fo-anil", B, np.zeros(K), tasks, ALPHA)
    PMw = np.einsum("taj,tjl,tl->ta", P, M, heads)
    expected = -BETA * PMw.T @ w_expected / len(heads)
    np.testing.assert_allclose(perp.T @ (B - BETA * grad_B), expected, atol=1e-13 * np.abs(expected).max())
    assert np.abs(expected).max() > 1e-3  # not a fixed point


def test_solution_step_with_finite_samples_mean_zero_and_variance():
    """E[E+] = 0 and E||E+||_F^2 = beta^2 (d-k)/(n m_out) E[||M w*||^2 ||w_t||^2] (Monte Carlo, 1000 rounds)."""
    n, m_in, m_out, rounds = 4, 10, 15, 1000
    problem, heads, tasks, Q, B = _clean_round(n * rounds, m_in, m_out, seed=12)
    perp = _perp(problem.B_star)
    _, w_t = gbml.adapt("fo-anil", B, np.zeros(K), tasks, ALPHA)
    q = tasks.outer.grad(w_t @ B.T)
    steps = (-BETA * (q @ perp)[:, :, None] * w_t[:, None, :]).reshape(rounds, n, D - K, K).mean(axis=1)
    second = np.mean(np.sum(steps**2, axis=(1, 2)))
    Mw = np.einsum("tij,tj->ti", _support_fluctuation(tasks, problem.B_star), heads)
    predicted = BETA**2 * (D - K) / (n * m_out) * np.mean(np.sum(Mw**2, 1) * np.sum(w_t**2, 1))
    assert second == pytest.approx(predicted, rel=0.1)
    assert np.linalg.norm(steps.mean(axis=0)) < 0.15 * np.sqrt(second)


def test_sample_covariance_fluctuation():
    """Exercise ex-fs-proof: E||M u||^2 = (p+1)/m ||u||^2 for M = (1/m) sum b b^T - I."""
    rng = np.random.default_rng(13)
    p, m, draws = 3, 10, 40000
    b = rng.standard_normal((draws, m, p))
    M = np.swapaxes(b, 1, 2) @ b / m - np.eye(p)
    u = np.array([0.5, -1.0, 2.0])
    assert np.mean(np.sum((M @ u) ** 2, axis=1)) == pytest.approx((p + 1) / m * (u @ u), rel=0.03)
    assert np.abs(M.mean(axis=0)).max() < 0.01


# -- chapter 8: the claims about the floor ---------------------------------------------------------

@pytest.fixture(scope="module")
def floor():
    """The chapter's measurement (mean distance over the last 90 of 140 rounds from distance 0.3), other seeds."""
    B_star = gbml.random_orthonormal(D, K, 14)
    cache = {}

    def measure(m_in=20, m_out=20, n=20, sigma=0.1, population=False):
        key = (m_in, m_out, n, sigma, population)
        if key not in cache:
            problem = gbml.Problem(D, K, rng=0, mu=1.0, noise_std=sigma, B_star=B_star)
            B0, _ = problem.init(ALPHA, 15, distance=0.3)
            samples = {} if population else {"m_in": m_in, "m_out": m_out}
            h = gbml.train("fo-anil", problem, alpha=ALPHA, beta=BETA, T=140, n_tasks=n, rng=16, B0=B0, **samples)
            cache[key] = float(h.distance[-90:].mean()) if not population else float(h.distance[-1])
        return cache[key]

    return measure


@pytest.mark.parametrize("name, small, large", [("m_in", 5, 40), ("m_out", 5, 40), ("n", 10, 80)])
def test_floor_shrinks_roughly_as_inverse_square_root(floor, name, small, large):
    lo, hi = floor(**{name: small}), floor(**{name: large})
    assert hi < lo
    slope = sweeps.loglog_slope([small, large], [lo, hi])
    assert -0.85 < slope < -0.25, f"slope {slope:.2f} for {name}"


def test_floor_is_positive_without_noise_and_grows_with_large_noise(floor):
    assert floor(population=True) < 1e-3
    at_zero = floor(sigma=0.0)
    assert at_zero > 0.01
    assert at_zero == pytest.approx(floor(sigma=0.1), rel=0.2)
    assert floor(sigma=4.0) > 2.5 * at_zero
    slope = sweeps.loglog_slope([1.0, 4.0], [floor(sigma=1.0), floor(sigma=4.0)])
    assert 0.6 < slope < 1.3


def test_fo_maml_with_few_samples_and_large_alpha_diverges_fo_anil_does_not():
    """m = 10 < d = 20, alpha = beta = 0.5: FO-MAML blows up in most runs, FO-ANIL in none, population FO-MAML converges."""
    problem = gbml.Problem(D, K, rng=17, mu=1.0, noise_std=0.1)
    settings = dict(alpha=0.5, beta=0.5, T=160, n_tasks=20, m_in=10, m_out=10, on_divergence="stop")
    maml = [gbml.train("fo-maml", problem, rng=s, **settings).diverged_at for s in range(18, 22)]
    anil = [gbml.train("fo-anil", problem, rng=s, **settings).diverged_at for s in range(18, 20)]
    assert sum(x is not None for x in maml) >= 2, maml
    assert anil == [None, None]
    pop = gbml.train("fo-maml", problem, alpha=0.5, beta=0.5, T=160, n_tasks=20, rng=18)
    assert pop.distance[-1] < 1e-6


# -- the checker -----------------------------------------------------------------------------------

def sampled_gradient_ok(B, w, X, y):
    return np.stack([Xt.T @ (Xt @ B @ w - yt) / len(yt) for Xt, yt in zip(X, y)])


def test_check_sampled_inner_gradient_accepts_the_answer_and_explains_mistakes():
    assert_checker_explains(exercises.check_sampled_inner_gradient, sampled_gradient_ok, [
        (lambda B, w, X, y: X.shape[1] * sampled_gradient_ok(B, w, X, y), "divide X_t^T"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, y) / X.shape[0], "n * m"),
        (lambda B, w, X, y: -sampled_gradient_ok(B, w, X, y), "prediction minus label"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, 0 * y), "labels are missing"),
        (lambda B, w, X, y: np.broadcast_to(sampled_gradient_ok(B, w, X, y).mean(0), (X.shape[0], X.shape[2])),
         "averaged the gradients"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, y) @ B, "shape"),
    ])


def test_check_sampled_inner_gradient_stops_on_the_unwritten_exercise_naming_it():
    assert_stub_is_named(exercises.check_sampled_inner_gradient, "sampled_inner_gradient")


@pytest.mark.parametrize("m", [1, 4, 25])
def test_gaussian_moment_of_the_sample_covariance(m):
    """Exercise ex-fs-scale-bias: E[(S - I) M (S - I)] = (M^T + tr(M) I) / m for S the sample covariance of m
    standard Gaussian vectors (Monte Carlo, within 5 standard errors)."""
    rng = np.random.default_rng(80 + m)
    k, N = 3, 40000
    M = np.array([[1.0, 2.0, 0.0], [-1.0, 0.5, 0.3], [0.2, 0.0, 2.0]])
    b = rng.standard_normal((N, m, k))
    D = np.einsum("nik,nil->nkl", b, b) / m - np.eye(k)
    samples = D @ M @ D
    est, se = samples.mean(axis=0), samples.std(axis=0, ddof=1) / np.sqrt(N)
    expected = (M.T + np.trace(M) * np.eye(k)) / m
    assert np.all(np.abs(est - expected) <= 5 * se + 1e-12)


def test_fo_anil_step_at_the_solution_shrinks_the_scale_on_average():
    """Exercise ex-fs-scale-bias: E[B*^T G_B] R^T = sqrt(alpha) (Psi + tr(Psi) I) / m_in at B = B* R / sqrt(alpha),
    w = 0, sigma = 0 (Monte Carlo over 30 000 tasks of gbml.meta_gradient, within 5 standard errors)."""
    rng = np.random.default_rng(818)
    d, k, alpha, m_in = 12, 3, 0.1, 8
    problem = gbml.Problem(d, k, rng=rng, mu=0.5, noise_std=0.0)
    R = np.linalg.qr(rng.standard_normal((k, k)))[0]
    B = problem.B_star @ R / np.sqrt(alpha)
    means = []
    for _ in range(15):
        tasks = problem.tasks(problem.sample_heads(2000, rng), rng, m_in=m_in, m_out=6)
        means.append(problem.B_star.T @ gbml.meta_gradient("fo-anil", B, np.zeros(k), tasks, alpha)[0] @ R.T)
    est, se = np.mean(means, axis=0), np.std(means, axis=0, ddof=1) / np.sqrt(len(means))
    Psi = np.diag([1.0, 1.0, 0.25])                      # the paper's head covariance at mu = 0.5, by hand
    expected = np.sqrt(alpha) * (Psi + np.trace(Psi) * np.eye(k)) / m_in
    assert np.all(np.abs(est - expected) <= 5 * se + 1e-12), (est, expected)
    assert np.diag(expected).min() > 0.0 and np.abs(np.diag(est) - np.diag(expected)).max() < 0.2 * expected.max()
