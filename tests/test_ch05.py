"""The propositions of chapter 5 (MAML), checked numerically, and its checker.

Already covered elsewhere, and not repeated here:

* prop-maml-zero-head, items 1 and 2 (FO-MAML == FO-ANIL and equal exact body gradients at w = 0):
  ``test_core_identities.py::test_maml_equals_anil_in_B_at_zero_head``;
* prop-maml-residual, the identity r_hat = -alpha (w . w_t) r at the solution:
  ``test_core_identities.py::test_maml_adapted_residual_at_the_solution``.
"""
import numpy as np
import pytest

import gbml
from gbml.book import exercises
from helpers_core import perp_basis, random_point, rel_err, solution_body

D, K, N, ALPHA = 12, 3, 8, 0.2


@pytest.fixture
def problem():
    return gbml.Problem(D, K, rng=0, mu=0.7)


def _solution(problem, rng, alpha=ALPHA):
    return solution_body(problem, rng, alpha)




def _adapted_prediction(method, B, w, tasks, alpha):
    B_t, w_t = gbml.adapt(method, B, w, tasks, alpha)
    return np.einsum("tdk,tk->td", B_t, w_t)


# -- chapter 5 -------------------------------------------------------------------------------------

def test_maml_adapted_prediction_identity(problem):
    """eq-maml-prediction: B_t w_t = B w_t - alpha (w . w_t) r_t, against explicitly formed adapted bodies."""
    tasks = problem.sample_round(N, rng=1)
    B, w = random_point(D, K, rng=2)
    _, w_t = gbml.adapt("maml", B, w, tasks, ALPHA)
    r = w @ B.T - tasks.thetas
    formula = w_t @ B.T - ALPHA * (w_t @ w)[:, None] * r
    assert np.abs(_adapted_prediction("maml", B, w, tasks, ALPHA) - formula).max() < 1e-12
    assert np.abs(_adapted_prediction("anil", B, w, tasks, ALPHA) - formula).max() > 1e-2


def test_maml_body_gradient_gap_is_linear_in_the_head(problem):
    """prop-maml-zero-head, item 3: grad_B F_MAML - grad_B F_ANIL is O(||w||), and not zero for w != 0."""
    tasks = problem.sample_round(N, rng=3)
    B, u = random_point(D, K, rng=4)

    def gap(w):
        return np.linalg.norm(gbml.meta_gradient("maml", B, w, tasks, ALPHA)[0]
                              - gbml.meta_gradient("anil", B, w, tasks, ALPHA)[0])

    assert gap(np.zeros(K)) < 1e-14
    ratios = [gap(eps * u) / gap(eps / 10 * u) for eps in (1e-3, 1e-4)]
    assert ratios == pytest.approx([10.0, 10.0], rel=2e-2)
    assert gap(u) > 1e-2


def test_maml_head_gradient_gap_at_zero_head(problem):
    """Exercise ex-maml-head-gap: at w = 0 the head gradients differ by -(alpha/n) sum (rt_t . r_t) w_t."""
    tasks = problem.sample_round(N, rng=5)
    B, _ = random_point(D, K, rng=6)
    zero = np.zeros(K)
    _, w_t = gbml.adapt("anil", B, zero, tasks, ALPHA)
    r = -tasks.thetas
    r_tilde = w_t @ B.T - tasks.thetas
    formula = -ALPHA * np.mean(np.sum(r_tilde * r, axis=1)[:, None] * w_t, axis=0)
    got = gbml.meta_gradient("maml", B, zero, tasks, ALPHA)[1] - gbml.meta_gradient("anil", B, zero, tasks, ALPHA)[1]
    assert np.abs(formula).max() > 1e-3
    assert rel_err(got, formula) < 1e-12
    # Symmetric batch (heads and their negatives): the term averages to exactly zero.
    heads = problem.sample_heads(N, rng=7)
    sym = problem.tasks(np.vstack([heads, -heads]))
    got = gbml.meta_gradient("maml", B, zero, sym, ALPHA)[1] - gbml.meta_gradient("anil", B, zero, sym, ALPHA)[1]
    assert np.abs(got).max() < 1e-14


def test_maml_residual_at_the_solution_explicit(problem):
    """prop-maml-residual: w_t = alpha B^T theta_t, rt_t = 0, r_hat = -alpha^2 <Bw, theta>(Bw - theta);
    zero for all tasks iff w = 0, non-zero for the task theta = 2 B w and almost surely for random tasks."""
    B = _solution(problem, rng=8)
    tasks = problem.sample_round(200, rng=9)
    w = np.random.default_rng(10).standard_normal(K)
    _, w_t = gbml.adapt("maml", B, w, tasks, ALPHA)
    assert np.abs(w_t - ALPHA * tasks.thetas @ B).max() < 1e-12
    assert np.abs(_adapted_prediction("anil", B, w, tasks, ALPHA) - tasks.thetas).max() < 1e-12
    v = B @ w
    predicted = -ALPHA**2 * (tasks.thetas @ v)[:, None] * (v - tasks.thetas)
    residual = _adapted_prediction("maml", B, w, tasks, ALPHA) - tasks.thetas
    assert np.abs(residual - predicted).max() < 1e-12
    assert np.linalg.norm(residual, axis=1).min() > 1e-6            # every one of 200 random tasks
    witness = gbml.PopulationTasks((2 * v)[None])
    assert np.linalg.norm(_adapted_prediction("maml", B, w, witness, ALPHA) - 2 * v) > 1e-2
    assert np.abs(_adapted_prediction("maml", B, np.zeros(K), tasks, ALPHA) - tasks.thetas).max() < 1e-12


def test_maml_penalty_on_a_batch():
    """prop-maml-penalty, eq-maml-penalty: at the solution ANIL's objective is sigma^2/2 for every w, MAML's
    adds (alpha^4 / 2n) sum <v, theta_t>^2 ||v - theta_t||^2."""
    problem = gbml.Problem(D, K, rng=0, mu=0.7, noise_std=0.3)
    B = _solution(problem, rng=11)
    tasks = problem.sample_round(N, rng=12)
    for w in np.random.default_rng(13).standard_normal((4, K)):
        v = B @ w
        extra = ALPHA**4 / 2 * np.mean((tasks.thetas @ v) ** 2 * np.sum((v - tasks.thetas) ** 2, axis=1))
        assert gbml.meta_objective("anil", B, w, tasks, ALPHA) == pytest.approx(0.3**2 / 2, rel=1e-12)
        assert gbml.meta_objective("maml", B, w, tasks, ALPHA) == pytest.approx(0.3**2 / 2 + extra, rel=1e-12)
        assert extra > 1e-4


def _expected_penalty(v, Sigma, alpha):
    """eq-maml-penalty-mean: alpha^4/2 [(v^T S v)(|v|^2 + tr S) + 2 |S v|^2]."""
    vSv = v @ Sigma @ v
    return alpha**4 / 2 * (vSv * (v @ v + np.trace(Sigma)) + 2 * np.sum((Sigma @ v) ** 2))


def test_maml_penalty_expectation_monte_carlo():
    """prop-maml-penalty, eq-maml-penalty-mean, for an anisotropic Psi, against 100 000 Gaussian tasks."""
    problem = gbml.Problem(D, K, rng=0, head_cov=np.diag([1.0, 0.5, 0.2]) + 0.1)
    B = _solution(problem, rng=14)
    tasks = problem.sample_round(100_000, rng=15)
    Sigma = problem.B_star @ problem.Psi @ problem.B_star.T
    w = np.array([0.8, -0.5, 1.1])
    v = B @ w
    mc = gbml.meta_objective("maml", B, w, tasks, ALPHA)
    assert mc == pytest.approx(_expected_penalty(v, Sigma, ALPHA), rel=2e-2)
    # The test can tell: dropping the 2 |S v|^2 term (a plausible slip in Isserlis' theorem) is far off.
    wrong = ALPHA**4 / 2 * (v @ Sigma @ v) * (v @ v + np.trace(Sigma))
    assert abs(mc / wrong - 1) > 0.1


def test_maml_penalty_isotropic_closed_form():
    """prop-maml-penalty for Psi = I: (k + 2)/2 alpha^3 |w|^2 + alpha^2/2 |w|^4, from the general formula."""
    problem = gbml.Problem(D, K, rng=0, mu=1.0)
    B = _solution(problem, rng=16)
    Sigma = problem.B_star @ problem.B_star.T
    for w in np.random.default_rng(17).standard_normal((3, K)):
        closed = (K + 2) / 2 * ALPHA**3 * (w @ w) + ALPHA**2 / 2 * (w @ w) ** 2
        assert _expected_penalty(B @ w, Sigma, ALPHA) == pytest.approx(closed, rel=1e-12)


def test_maml_degenerate_minimisers(problem):
    """prop-maml-degenerate: B*^T B = 0, B w = 0, |w|^2 = 1/alpha gives MAML objective 0 (ANIL: mean |theta|^2/2)."""
    tasks = problem.sample_round(N, rng=18)
    w = np.random.default_rng(19).standard_normal(K)
    w *= 1 / (np.sqrt(ALPHA) * np.linalg.norm(w))
    p = perp_basis(problem.B_star)[:, 0]
    c = np.cross(w, np.random.default_rng(20).standard_normal(K))           # c orthogonal to w (k = 3)
    anil_level = 0.5 * np.mean(np.sum(tasks.thetas**2, axis=1))
    for B in (np.zeros((D, K)), np.outer(p, c)):
        assert np.abs(B @ w).max() < 1e-12 and np.abs(problem.B_star.T @ B).max() < 1e-12
        assert gbml.meta_objective("maml", B, w, tasks, ALPHA) < 1e-25
        assert gbml.meta_objective("anil", B, w, tasks, ALPHA) == pytest.approx(anil_level, rel=1e-12)
    # ... and only at that head norm.
    assert gbml.meta_objective("maml", np.zeros((D, K)), 1.1 * w, tasks, ALPHA) > 1e-2


def test_chapter5_observation_large_head_lures_maml():
    """[ours] in chapter 5: from ||w_0|| = 2 (the chapter's problem and seed) MAML's head goes to 1/sqrt(alpha)
    and it learns no representation, while ANIL converges.  A regression test of the observation."""
    problem = gbml.Problem(20, 3, rng=np.random.default_rng(2005), mu=1.0)
    u = np.ones(3) / np.sqrt(3)
    runs = {m: gbml.train(m, problem, alpha=0.1, beta=0.25, T=400, n_tasks=20, rng=7, w0=2 * u,
                          on_divergence="stop") for m in ("anil", "maml")}
    assert runs["anil"].distance[-1] < 1e-3
    assert runs["maml"].distance[-1] > 0.9
    assert runs["maml"].head_norm[-1] == pytest.approx(1 / np.sqrt(0.1), rel=0.05)
    assert runs["maml"].loss[-2] < 1e-2 * runs["maml"].loss[0]     # it is minimising its own objective


# -- the checker -----------------------------------------------------------------------------------

def _maml_prediction(B, w, thetas, alpha):
    r = B @ w - thetas
    w_t = w - alpha * r @ B
    return w_t @ B.T - alpha * (w_t @ w)[:, None] * r


def test_check_maml_adapted_prediction_accepts_a_correct_answer():
    assert exercises.check_maml_adapted_prediction(_maml_prediction, quiet=True)


@pytest.mark.parametrize("variant, hint", [
    (dict(adapt_body=False), "adapted only the head"),
    (dict(adapt_head=False), "kept the old head"),
    (dict(order="head-first"), "adapted head w_t in the body's step"),
    (dict(order="body-first"), "adapted body B_t in the head's step"),
    (dict(sign=-1.0), "uphill"),
    (dict(residual=True), "returned the adapted residuals"),
])
def test_check_maml_adapted_prediction_names_the_mistake(variant, hint):
    def wrong(B, w, thetas, alpha):
        return exercises._maml_variant(B, w, thetas, alpha, **variant)

    result = exercises.check_maml_adapted_prediction(wrong, quiet=True)
    assert not result and hint in result.message


def test_check_maml_adapted_prediction_other_failures():
    transposed = exercises.check_maml_adapted_prediction(lambda B, w, thetas, alpha: _maml_prediction(B, w, thetas, alpha).T, quiet=True)
    assert not transposed and "transpose" in transposed.message
    assert "return" in exercises.check_maml_adapted_prediction(lambda B, w, thetas, alpha: None, quiet=True).message
    no_alpha = exercises.check_maml_adapted_prediction(lambda B, w, thetas, alpha: _maml_prediction(B, w, thetas, 1.0), quiet=True)
    assert not no_alpha and "alpha is missing" in no_alpha.message

    def todo(B, w, thetas, alpha):
        raise NotImplementedError("Exercise: not yet")

    unwritten = exercises.check_maml_adapted_prediction(todo, quiet=True)
    assert not unwritten and "(maml_adapted_prediction) is not written yet" in unwritten.message


@pytest.mark.parametrize("seed", [0, 1])
def test_maml_head_gradient_at_zero_head(seed):
    """Exercise ex-maml-zero-head-gradient: grad_w MAML(B, 0) - grad_w ANIL(B, 0) =
    -(alpha^2/n) sum_t theta_t^T (I - alpha B B^T) theta_t B^T theta_t (written task by task here), and it
    vanishes on a batch closed under theta -> -theta."""
    rng = np.random.default_rng(500 + seed)
    d, k, n, alpha = 6, 2, 5, 0.3
    B, thetas = rng.standard_normal((d, k)), rng.standard_normal((n, d))
    expected = np.zeros(k)
    for th in thetas:
        expected -= alpha**2 * (th @ th - alpha * (B.T @ th) @ (B.T @ th)) * (B.T @ th) / n

    def gap(ths):
        tasks = gbml.PopulationTasks(ths)
        return (gbml.meta_gradient("maml", B, np.zeros(k), tasks, alpha)[1]
                - gbml.meta_gradient("anil", B, np.zeros(k), tasks, alpha)[1])

    np.testing.assert_allclose(gap(thetas), expected, atol=1e-12)
    assert np.abs(expected).max() > 1e-2                       # the difference is real on this batch
    np.testing.assert_allclose(gap(np.concatenate([thetas, -thetas])), 0.0, atol=1e-12)
