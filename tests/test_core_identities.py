"""The identities the chapters build on (orthogonal dynamics, the average loss's rank-one step, the local
rate, MAML's inner step at w = 0, one-step adaptation at the solution), checked to ~1e-12."""
import numpy as np
import pytest

import gbml
from helpers_core import random_point

D, K, N, ALPHA, BETA = 12, 3, 8, 0.2, 0.3


@pytest.fixture
def problem():
    return gbml.Problem(D, K, rng=0, head_mean=[0.3, -0.2, 0.5])


def _perp(B_star):
    """Orthonormal basis of col(B*)^perp."""
    Q, _ = np.linalg.qr(np.hstack([B_star, np.random.default_rng(9).standard_normal((B_star.shape[0], B_star.shape[0] - B_star.shape[1]))]))
    return Q[:, B_star.shape[1]:]


def _step(method, B, w, tasks):
    gB, gw = gbml.meta_gradient(method, B, w, tasks, ALPHA)
    return B - BETA * gB, w - BETA * gw


def test_fo_anil_orthogonal_dynamics(problem):
    """Item 1: B*perp^T B+ = B*perp^T B (I - beta/n sum w_t w_t^T), any w, any batch."""
    tasks = problem.sample_round(N, rng=1)
    B, w = random_point(D, K, rng=2)
    P = _perp(problem.B_star)
    B_next, _ = _step("fo-anil", B, w, tasks)
    _, w_t = gbml.adapt("fo-anil", B, w, tasks, ALPHA)
    predicted = P.T @ B @ (np.eye(K) - BETA / N * w_t.T @ w_t)
    assert np.abs(P.T @ B_next - predicted).max() < 1e-12 * np.abs(predicted).max()


def test_exact_anil_orthogonal_dynamics(problem):
    """Item 1, exact ANIL: the bracket gains + alpha beta/n sum (w g_t^T + g_t w^T)."""
    tasks = problem.sample_round(N, rng=1)
    B, w = random_point(D, K, rng=3)
    P = _perp(problem.B_star)
    B_next, _ = _step("anil", B, w, tasks)
    _, w_t = gbml.adapt("anil", B, w, tasks, ALPHA)
    g = (w_t @ B.T - tasks.thetas) @ B  # head gradient at the adapted point, per task
    bracket = np.eye(K) - BETA / N * w_t.T @ w_t + ALPHA * BETA / N * (np.outer(w, g.sum(0)) + np.outer(g.sum(0), w))
    predicted = P.T @ B @ bracket
    assert np.abs(P.T @ B_next - predicted).max() < 1e-12 * np.abs(predicted).max()


def test_average_loss_rank_one_contraction(problem):
    """Item 2: B*perp^T B+ = B*perp^T B (I - beta w w^T)."""
    tasks = problem.sample_round(N, rng=1)
    B, w = random_point(D, K, rng=4)
    P = _perp(problem.B_star)
    B_next, _ = _step("avg-loss", B, w, tasks)
    predicted = P.T @ B @ (np.eye(K) - BETA * np.outer(w, w))
    assert np.abs(P.T @ B_next - predicted).max() < 1e-12 * np.abs(predicted).max()


def test_average_loss_mean_zero_batch_nothing_moves():
    """Item 2: mean-zero batch and w_0 = 0 -> the gradient is zero, B and w never move (up to rounding)."""
    problem = gbml.Problem(D, K, rng=0)
    heads = problem.sample_heads(N, rng=5)
    heads = np.vstack([heads, -heads])  # mean exactly zero
    B0, w0 = problem.init(ALPHA, rng=6)
    h = gbml.train("avg-loss", problem, alpha=ALPHA, beta=0.05, T=50, n_tasks=2 * N, rng=7, pool=heads, B0=B0)
    assert np.abs(h.B - B0).max() < 1e-14 and np.abs(h.w - w0).max() < 1e-14
    assert np.ptp(h.distance) < 1e-14


def test_average_loss_fixed_batch_stays_in_span():
    """Item 2: with a fixed batch, col(B_s) stays inside col(B_0) + span(B* wbar*)."""
    problem = gbml.Problem(D, K, rng=0, head_mean=[1.0, 0.5, -0.5])
    heads = problem.sample_heads(N, rng=8)
    B0, _ = problem.init(ALPHA, rng=9)
    h = gbml.train("avg-loss", problem, alpha=ALPHA, beta=0.05, T=300, n_tasks=N, rng=10, pool=heads, B0=B0)
    span, _ = np.linalg.qr(np.hstack([B0, (problem.B_star @ heads.mean(0))[:, None]]))
    outside = h.B - span @ (span.T @ h.B)
    assert np.abs(outside).max() < 1e-12 * np.abs(h.B).max()
    assert np.abs(h.B - B0).max() > 1e-2  # it did move, just not out of that span
    assert h.distance[-1] > 0.9


def test_maml_equals_anil_in_B_at_zero_head(problem):
    """Item 6: at w = 0, FO-MAML == FO-ANIL and exact MAML's B-gradient == exact ANIL's."""
    tasks = problem.sample_round(N, rng=1)
    B, _ = random_point(D, K, rng=11)
    w = np.zeros(K)
    fo_m, fo_a = gbml.meta_gradient("fo-maml", B, w, tasks, ALPHA), gbml.meta_gradient("fo-anil", B, w, tasks, ALPHA)
    assert np.abs(fo_m[0] - fo_a[0]).max() < 1e-14 and np.abs(fo_m[1] - fo_a[1]).max() < 1e-14
    ex_m, ex_a = gbml.meta_gradient("maml", B, w, tasks, ALPHA), gbml.meta_gradient("anil", B, w, tasks, ALPHA)
    assert np.abs(ex_m[0] - ex_a[0]).max() < 1e-14
    # ... but not at w != 0.
    w = np.ones(K)
    assert np.abs(gbml.meta_gradient("maml", B, w, tasks, ALPHA)[0] - gbml.meta_gradient("anil", B, w, tasks, ALPHA)[0]).max() > 1e-3


def _solution(problem, rng):
    R = gbml.random_orthonormal(K, K, rng)
    return problem.B_star @ R / np.sqrt(ALPHA)


def test_one_step_adaptation_is_exact_at_the_solution(problem):
    """Item 7: col(B) = col(B*) and alpha B^T B = I -> one inner step from any w fits any new task."""
    B = _solution(problem, rng=12)
    w = np.random.default_rng(13).standard_normal(K)
    tasks = problem.sample_round(N, rng=14)
    _, w_t = gbml.adapt("anil", B, w, tasks, ALPHA)
    assert np.abs(w_t @ B.T - tasks.thetas).max() < 1e-12


def test_maml_adapted_residual_at_the_solution(problem):
    """Item 6: at the solution MAML's adapted residual is -alpha (w . w_t) r: zero for all tasks only if w = 0."""
    B = _solution(problem, rng=15)
    tasks = problem.sample_round(N, rng=16)
    for w in [np.random.default_rng(17).standard_normal(K), np.zeros(K)]:
        B_t, w_t = gbml.adapt("maml", B, w, tasks, ALPHA)
        residual = np.einsum("tdk,tk->td", B_t, w_t) - tasks.thetas
        r = B @ w - tasks.thetas
        assert np.abs(residual - (-ALPHA * (w_t @ w)[:, None] * r)).max() < 1e-12
        if np.any(w):
            assert np.abs(residual).max() > 1e-2
        else:
            assert np.abs(residual).max() < 1e-12


@pytest.mark.parametrize("method", ["anil", "fo-anil", "maml", "fo-maml"])
@pytest.mark.parametrize("mu", [1.0, 0.5])
def test_local_rate_on_a_fixed_batch(method, mu):
    """Item 4: near the solution the distance contracts by 1 - alpha beta lambda_min(Psi_batch) per round."""
    alpha, beta, n = 0.1, 0.5, 200
    problem = gbml.Problem(20, 3, rng=20, mu=mu)
    heads = problem.sample_heads(n, rng=21)
    B0, _ = problem.init(alpha, rng=22, distance=0.05)
    h = gbml.train(method, problem, alpha=alpha, beta=beta, T=900 if mu == 1 else 2500,
                   n_tasks=n, rng=23, pool=heads, B0=B0)
    predicted = gbml.local_rate(alpha, beta, heads.T @ heads / n)
    assert gbml.measured_rate(h.distance, low=1e-11, high=1e-4) == pytest.approx(predicted, abs=1e-3)
