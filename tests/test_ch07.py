"""Chapter 7 (task diversity): its propositions, the numerical claims of its prose and its coding-exercise
checker.

Already tested elsewhere and cited by chapter 7 rather than repeated here:
* the orthogonal dynamics of FO-ANIL and ANIL (eq-td-orthogonal, proved as prop-anil-orthogonal in chapter 4):
  ``test_core_identities.py::test_fo_anil_orthogonal_dynamics`` and ``::test_exact_anil_orthogonal_dynamics``;
* the head Gram matrix at w = 0 and when it is positive definite (prop-anil-diversity):
  ``test_ch04.py::test_adapted_head_gram_formula_and_positive_definiteness`` and its neighbours;
* measured vs predicted local rate on a fixed batch for all four methods:
  ``test_core_identities.py::test_local_rate_on_a_fixed_batch``.
"""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml.book import exercises
from helpers_core import assert_checker_explains, assert_stub_is_named

D, K, ALPHA, BETA = 20, 3, 0.1, 0.5


def _perp(B_star):
    """Orthonormal basis of col(B*)^perp (from a full SVD, independent of the chapters' helper)."""
    return np.linalg.svd(B_star, full_matrices=True)[0][:, B_star.shape[1]:]


def _split(B, B_star):
    return B_star.T @ B, _perp(B_star).T @ B


# -- chapter 7: lemma lem-td-distance -------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_distance_from_A_and_E(seed):
    """tan(theta_i) = sigma_i(E A^-1) and dist = t / sqrt(1 + t^2), t = ||E A^-1||."""
    rng = np.random.default_rng(seed)
    B_star = gbml.random_orthonormal(D, K, rng)
    B = rng.standard_normal((D, K)) * rng.uniform(0.2, 3, size=K)
    A, E = _split(B, B_star)
    F = E @ np.linalg.inv(A)
    t = np.linalg.norm(F, 2)
    assert gbml.subspace_distance(B, B_star) == pytest.approx(t / np.sqrt(1 + t**2), abs=1e-12)
    np.testing.assert_allclose(np.tan(gbml.principal_angles(B, B_star)),
                               np.sort(np.linalg.svd(F, compute_uv=False)), rtol=1e-9)


def test_distance_at_the_theory_scale_and_singular_A():
    """alpha A^T A = I gives t = sqrt(alpha) ||E||; a singular A gives distance 1."""
    rng = np.random.default_rng(3)
    B_star = gbml.random_orthonormal(D, K, rng)
    Q = gbml.random_orthonormal(K, K, rng)
    E = 0.01 * rng.standard_normal((D - K, K))
    B = B_star @ Q / np.sqrt(ALPHA) + _perp(B_star) @ E
    t = np.sqrt(ALPHA) * np.linalg.norm(E, 2)
    assert gbml.subspace_distance(B, B_star) == pytest.approx(t / np.sqrt(1 + t**2), rel=1e-10)
    A_singular = rng.standard_normal((K, K))
    A_singular[:, -1] = A_singular[:, 0] - A_singular[:, 1]  # rank k - 1
    B = B_star @ A_singular + _perp(B_star) @ rng.standard_normal((D - K, K))
    assert gbml.subspace_distance(B, B_star) == pytest.approx(1.0, abs=1e-8)


# -- chapter 7: eq-td-heads (the Gram formula and its definiteness are prop-anil-diversity, tested in
#    test_ch04.py; here the chapter's extra claim: at w = 0 the error E does not enter) -------------

@pytest.mark.parametrize("method", ["anil", "fo-anil", "maml", "fo-maml"])
def test_adapted_heads_at_zero_do_not_see_the_error(method):
    """At w = 0: w_t = alpha A^T w*_t for any E; Gram = alpha^2 A^T Psi_hat A."""
    rng = np.random.default_rng(4)
    problem = gbml.Problem(D, K, rng=rng, mu=0.6)
    heads = problem.sample_heads(12, rng)
    B = rng.standard_normal((D, K))
    A, E = _split(B, problem.B_star)
    assert np.linalg.norm(E, 2) > 1
    tasks = problem.tasks(heads)
    _, w_t = gbml.adapt(method, B, np.zeros(K), tasks, ALPHA)
    _, w_inside = gbml.adapt(method, problem.B_star @ A, np.zeros(K), tasks, ALPHA)
    np.testing.assert_allclose(w_t, ALPHA * heads @ A, atol=1e-13)
    np.testing.assert_allclose(w_t, w_inside, atol=1e-13)
    np.testing.assert_allclose(w_t.T @ w_t / 12, ALPHA**2 * A.T @ (heads.T @ heads / 12) @ A, atol=1e-13)


# -- chapter 7: proposition prop-td-local ---------------------------------------------------------

def _near_solution(scale, rng_seed=6):
    rng = np.random.default_rng(rng_seed)
    problem = gbml.Problem(D, K, rng=rng, mu=0.5)
    heads = problem.sample_heads(40, rng)
    Q = gbml.random_orthonormal(K, K, rng)
    E = scale * rng.standard_normal((D - K, K))
    B = problem.B_star @ Q / np.sqrt(ALPHA) + _perp(problem.B_star) @ E
    return problem, problem.tasks(heads), heads, Q, E, B


@pytest.mark.parametrize("method", ["anil", "fo-anil", "maml", "fo-maml"])
def test_one_step_near_the_solution(method):
    """E+ = E (I - alpha beta Q^T Psi_hat Q); A+ - A and w+ as in the proposition's table (exact)."""
    problem, tasks, heads, Q, E, B = _near_solution(0.05)
    Psi_hat, w_bar = heads.T @ heads / len(heads), heads.mean(axis=0)
    grad_B, grad_w = gbml.meta_gradient(method, B, np.zeros(K), tasks, ALPHA)
    A_next, E_next = _split(B - BETA * grad_B, problem.B_star)
    EtE = E.T @ E
    np.testing.assert_allclose(E_next, E @ (np.eye(K) - ALPHA * BETA * Q.T @ Psi_hat @ Q), atol=1e-14)
    if method.startswith("fo"):
        dA, w_next = np.zeros((K, K)), -BETA * np.sqrt(ALPHA) * EtE @ Q.T @ w_bar
    else:
        dA, w_next = -BETA * ALPHA**1.5 * Psi_hat @ Q @ EtE, BETA * ALPHA**1.5 * EtE @ EtE @ Q.T @ w_bar
    np.testing.assert_allclose(A_next - Q / np.sqrt(ALPHA), dA, atol=1e-14)
    np.testing.assert_allclose(-BETA * grad_w, w_next, atol=1e-15)


def test_A_and_w_move_at_second_order_only():
    """Dividing E by 10 divides ANIL's move of A by 100 and of w by 10^4 (the chapter's glued ratios)."""
    moves = []
    for scale in [0.05, 0.005]:
        problem, tasks, _, Q, _, B = _near_solution(scale)
        grad_B, grad_w = gbml.meta_gradient("anil", B, np.zeros(K), tasks, ALPHA)
        moves.append((np.linalg.norm(problem.B_star.T @ grad_B, 2), np.linalg.norm(grad_w)))
    assert moves[0][0] / moves[1][0] == pytest.approx(100, rel=1e-6)
    assert moves[0][1] / moves[1][1] == pytest.approx(1e4, rel=1e-6)


# -- chapter 7: the (A, w) block of prop-td-local and the step-size condition ----------------------

def _mean_zero_batch(lams):
    """2k heads +-sqrt(k lambda_i) e_i: mean exactly zero and Psi_hat = diag(lams) exactly."""
    k = len(lams)
    heads = np.zeros((2 * k, k))
    for i, lam in enumerate(lams):
        heads[2 * i, i], heads[2 * i + 1, i] = np.sqrt(k * lam), -np.sqrt(k * lam)
    return heads


def _predicted_spectrum(lams, c, d):
    """Eigenvalues of the linearised outer step at (B* Q / sqrt(alpha), 0), written from the proposition."""
    k, ab = len(lams), ALPHA * BETA
    e_block = [1 - ab * lam for lam in lams for _ in range(d - k)]
    s_block = [1 - c * ab * (lams[i] + lams[j]) for i in range(k) for j in range(i, k)]
    return np.sort(e_block + s_block + [1.0] * (k * (k - 1) // 2 + k))


@pytest.mark.parametrize("method, c", [("fo-anil", 1), ("anil", 2)])
def test_linearisation_spectrum_at_the_solution(method, c):
    """Central differences of one outer step of gbml: E-block 1 - ab lambda_i, (A, w) block
    1 - c ab (lambda_i + lambda_j) (c = 1 FO-ANIL, 2 ANIL) and 1 along the solutions."""
    d = 8
    rng = np.random.default_rng(11)
    problem = gbml.Problem(d, K, rng=rng)
    heads = rng.standard_normal((7, K)) * [2.0, 1.0, 0.5]     # not mean-zero: w is coupled to S
    lams = np.linalg.eigvalsh(heads.T @ heads / 7)
    tasks = problem.tasks(heads)
    x0 = np.concatenate([(problem.B_star @ gbml.random_orthonormal(K, K, rng) / np.sqrt(ALPHA)).ravel(),
                         np.zeros(K)])

    def step(x):
        B, w = x[:d * K].reshape(d, K), x[d * K:]
        grad_B, grad_w = gbml.meta_gradient(method, B, w, tasks, ALPHA)
        return np.concatenate([(B - BETA * grad_B).ravel(), w - BETA * grad_w])

    h = 1e-5
    J = np.column_stack([(step(x0 + h * e) - step(x0 - h * e)) / (2 * h) for e in np.eye(len(x0))])
    eig = np.linalg.eigvals(J)
    assert np.abs(eig.imag).max() < 1e-8
    np.testing.assert_allclose(np.sort(eig.real), _predicted_spectrum(lams, c, d), atol=1e-8)


def _jacobian_of_one_step(method, B, tasks, alpha, beta, h=1e-5):
    """Central differences of (B, w) -> (B, w) - beta * grad at (B, 0), in the coordinates (B row by row, w)."""
    d, k = B.shape
    x0 = np.concatenate([B.ravel(), np.zeros(k)])

    def step(x):
        Bx, wx = x[:d * k].reshape(d, k), x[d * k:]
        grad_B, grad_w = gbml.meta_gradient(method, Bx, wx, tasks, alpha)
        return np.concatenate([(Bx - beta * grad_B).ravel(), wx - beta * grad_w])

    return np.column_stack([(step(x0 + h * e) - step(x0 - h * e)) / (2 * h) for e in np.eye(len(x0))])


# The k = 1 Jacobians, worked by hand (chapter 7, eq-td-k1-jacobian), in the coordinates (a, e_1, .., w) of
# B = (a, e)^T with B* = e_1: scale entry 1 - 2 gamma alpha beta psi, error entries 1 - alpha beta psi, head 1,
# and FO-ANIL's coupling -2 beta wbar from a to w. Each case: heads, alpha, beta, d, then the entries
# (scale FO-ANIL, scale ANIL, error, coupling FO-ANIL), computed on paper:
K1_CASES = [
    # the chapter's case: psi = (4 + 1 + 1)/3 = 2, wbar = 2/3, alpha beta = 0.05
    ([2.0, 1.0, -1.0], 0.1, 0.5, 2, (0.8, 0.6, 0.9, -2 / 3)),
    # psi = (1 + 9 + 0.25 + 4)/4 = 3.5625, wbar = 0.125, alpha beta = 0.1; d = 3: two error entries
    ([1.0, -3.0, 0.5, 2.0], 0.25, 0.4, 3, (0.2875, -0.425, 0.64375, -0.1)),
    # past ANIL's limit alpha beta psi < 1/2 (here 0.6), inside FO-ANIL's (< 1): alpha beta = 0.3
    ([2.0, 1.0, -1.0], 0.1, 3.0, 2, (-0.2, -1.4, 0.4, -4.0)),
]


@pytest.mark.parametrize("heads, alpha, beta, d, entries", K1_CASES)
def test_k1_jacobian_matches_the_hand_derivation(heads, alpha, beta, d, entries):
    """Chapter 7, the (A, w) block at k = 1: central differences of one step of gbml.meta_gradient at
    (a, e, w) = (1/sqrt(alpha), 0, 0) equal the matrices derived by hand (the error block decoupled)."""
    scale_fo, scale_anil, error, coupling_fo = entries
    n_e = d - 1
    tasks = gbml.PopulationTasks(np.outer(heads, np.eye(d)[0]))
    B = np.eye(d)[:, :1] / np.sqrt(alpha)
    for method, scale, coupling in [("fo-anil", scale_fo, coupling_fo), ("anil", scale_anil, 0.0)]:
        expected = np.eye(d + 1)
        expected[0, 0] = scale
        expected[1:1 + n_e, 1:1 + n_e] *= error
        expected[d, 0] = coupling
        J = _jacobian_of_one_step(method, B, tasks, alpha, beta)
        np.testing.assert_allclose(J, expected, atol=1e-8)
        np.testing.assert_allclose(np.sort(np.linalg.eigvals(J).real),
                                   np.sort([scale, 1.0] + [error] * n_e), atol=1e-8)


def test_k1_scale_mode_sets_the_step_limit():
    """Third K1 case: alpha beta psi = 0.6, so the error (0.4) and FO-ANIL's scale mode (-0.2) shrink but
    ANIL's scale mode (-1.4) grows: the limit alpha beta psi < 1/gamma comes from the scale mode."""
    heads, alpha, beta, d, _ = K1_CASES[2]
    tasks = gbml.PopulationTasks(np.outer(heads, np.eye(d)[0]))
    B = np.eye(d)[:, :1] / np.sqrt(alpha)
    radius = {m: np.abs(np.linalg.eigvals(_jacobian_of_one_step(m, B, tasks, alpha, beta))).max()
              for m in ["fo-anil", "anil"]}
    assert radius["fo-anil"] == pytest.approx(1.0, abs=1e-8)     # only the head direction, at 1
    assert radius["anil"] == pytest.approx(1.4, abs=1e-8)


@pytest.mark.parametrize("method, psi_limit", [("fo-anil", 20.0), ("anil", 10.0)])
def test_k1_limits_of_the_chapter(method, psi_limit):
    """The chapter's glued limits at alpha = 0.1, beta = 0.5: psi < 1/(gamma alpha beta) = 20 (FO-ANIL) and
    10 (ANIL). At psi exactly at the limit the scale entry is -1; just below it, inside (-1, 1)."""
    for factor, inside in [(1.0, False), (0.99, True)]:
        heads = np.array([2.0, 1.0, -1.0]) * np.sqrt(factor * psi_limit / 2)      # psi = factor * limit
        tasks = gbml.PopulationTasks(np.outer(heads, [1.0, 0.0]))
        J = _jacobian_of_one_step(method, np.array([[1.0], [0.0]]) / np.sqrt(0.1), tasks, 0.1, 0.5)
        assert (abs(J[0, 0]) < 1 - 1e-3) == inside
        if not inside:
            assert J[0, 0] == pytest.approx(-1.0, abs=1e-7)


def _solution_tangents(B_star, R, alpha):
    """B* S R / sqrt(alpha) for the k(k-1)/2 antisymmetric S = e_i e_j^T - e_j e_i^T, then the k heads e_i."""
    d, k = B_star.shape
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            S = np.zeros((k, k))
            S[i, j], S[j, i] = 1.0, -1.0
            out.append(np.concatenate([(B_star @ S @ R / np.sqrt(alpha)).ravel(), np.zeros(k)]))
    out += [np.concatenate([np.zeros(d * k), e]) for e in np.eye(k)]
    return out


# k -> k(k-1)/2 + k, counted on paper: rotations 0, 1, 3, 6 plus heads 1, 2, 3, 4
MULTIPLICITY_OF_ONE = {1: 1, 2: 3, 3: 6, 4: 10}


@pytest.mark.parametrize("method", ["fo-anil", "anil"])
@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_eigenvalue_one_multiplicity_rotations_and_heads(method, k):
    """Chapter 7, prop-td-local: with Psi_hat > 0 the Jacobian at the solution has the eigenvalue 1 exactly
    k(k-1)/2 + k times, J - I has a null space of that dimension, and the rotations B* S R / sqrt(alpha) and
    the head directions are each mapped to themselves."""
    d = k + 3
    rng = np.random.default_rng(100 + k)
    problem = gbml.Problem(d, k, rng=rng)
    heads = rng.standard_normal((2 * k + 3, k)) * np.linspace(1.5, 0.7, k) + 0.3   # not mean-zero
    assert np.linalg.eigvalsh(heads.T @ heads / len(heads)).min() > 0.05
    R = gbml.random_orthonormal(k, k, rng)
    J = _jacobian_of_one_step(method, problem.B_star @ R / np.sqrt(ALPHA), problem.tasks(heads),
                              ALPHA, BETA)
    eig = np.linalg.eigvals(J)
    assert np.sum(np.abs(eig - 1) < 1e-6) == MULTIPLICITY_OF_ONE[k]
    singular = np.linalg.svd(J - np.eye(len(J)), compute_uv=False)
    assert np.sum(singular < 1e-6) == MULTIPLICITY_OF_ONE[k]
    assert np.sort(singular)[MULTIPLICITY_OF_ONE[k]] > 1e-3       # the rest are clearly not 1
    for v in _solution_tangents(problem.B_star, R, ALPHA):
        np.testing.assert_allclose(J @ v, v, atol=1e-8)


def test_eigenvalue_one_count_grows_when_a_direction_is_missing():
    """The count needs lmin(Psi_hat) > 0: at k = 2, d = 5 with every head on e_1 (lambda_2 = 0) the error
    block adds d - k = 3 ones and the Omega_22 entry one more, 3 + 3 + 1 = 7 (counted on paper)."""
    d, k = 5, 2
    rng = np.random.default_rng(7)
    problem = gbml.Problem(d, k, rng=rng)
    heads = np.outer([2.0, -1.0, 1.5, 0.5], [1.0, 0.0])
    R = gbml.random_orthonormal(k, k, rng)
    J = _jacobian_of_one_step("fo-anil", problem.B_star @ R / np.sqrt(ALPHA), problem.tasks(heads),
                              ALPHA, BETA)
    assert np.sum(np.abs(np.linalg.eigvals(J) - 1) < 1e-6) == 7


def _orth_growth(history):
    """Per-round growth of ||I - alpha B^T B|| over rounds 2..8 (the unstable mode of the (A, w) block)."""
    e = history.orth_error
    return np.exp(np.polyfit(np.arange(2, 9), np.log(e[2:9]), 1)[0])


def test_counterexample_rate_below_one_but_exact_anil_diverges():
    """alpha = 0.1, beta = 0.5, fixed mean-zero batch with Psi_hat = diag(21, 1, 0.3), start at distance
    1e-3: every |1 - ab lambda_i| < 1, yet 1 - 2ab(21 + 21) = -3.2 and exact ANIL blows up."""
    lams = (21.0, 1.0, 0.3)
    heads = _mean_zero_batch(lams)
    np.testing.assert_allclose(heads.mean(axis=0), 0, atol=1e-15)
    np.testing.assert_allclose(heads.T @ heads / len(heads), np.diag(lams), atol=1e-13)
    ab = ALPHA * BETA
    assert max(abs(1 - ab * lam) for lam in lams) == pytest.approx(0.985)     # the E-block is stable
    problem = gbml.Problem(D, K, rng=0)
    B0, _ = problem.init(ALPHA, 1, distance=1e-3)
    run = dict(alpha=ALPHA, beta=BETA, T=300, n_tasks=len(heads), rng=2, pool=heads, B0=B0)
    with pytest.raises(gbml.DivergenceError) as err:
        gbml.train("anil", problem, **run)
    assert err.value.iteration == 18
    anil = gbml.train("anil", problem, **run, on_divergence="stop")
    assert anil.diverged_at == 18
    # Before it blows up, the (A, w) error grows by |1 - 2 ab (21 + 21)| = 3.2 per round ...
    assert _orth_growth(anil) == pytest.approx(abs(1 - 2 * ab * 42), rel=1e-2)
    # ... and FO-ANIL's by |1 - ab (21 + 21)| = 1.1: unstable too, but slowly.
    fo = gbml.train("fo-anil", problem, **run, on_divergence="stop")
    assert _orth_growth(fo) == pytest.approx(abs(1 - ab * 42), rel=1e-2)


@pytest.mark.parametrize("method, lam_max", [("anil", 9.0), ("fo-anil", 19.0)])
def test_inside_the_step_size_condition_the_rate_is_rho(method, lam_max):
    """ab lam_max < 1/2 (ANIL) or < 1 (FO-ANIL): the run converges, at 1 - ab lambda_min = 0.985."""
    heads = _mean_zero_batch((lam_max, 1.0, 0.3))
    problem = gbml.Problem(D, K, rng=0)
    B0, _ = problem.init(ALPHA, 1, distance=1e-3)
    h = gbml.train(method, problem, alpha=ALPHA, beta=BETA, T=600, n_tasks=len(heads), rng=2, pool=heads, B0=B0)
    assert h.orth_error[-1] < 1e-6
    assert gbml.measured_rate(h.distance[300:], low=1e-13, high=1e-4) == pytest.approx(1 - ALPHA * BETA * 0.3, abs=1e-6)


# -- chapter 7: the claims of the experiments and of exercise ex-td-proof ----------------------------

def test_mu_zero_missing_direction_behaves_like_the_orthogonal_complement():
    """Exercise ex-td-proof: with mu = 0, b^T B+ = b^T B (I - beta/n sum w_t w_t^T) for FO-ANIL, any (B, w)."""
    rng = np.random.default_rng(7)
    problem = gbml.Problem(D, K, rng=rng, mu=0.0)
    tasks = problem.sample_round(9, rng)
    B, w = rng.standard_normal((D, K)), rng.standard_normal(K)
    b = problem.B_star[:, -1]
    grad_B, _ = gbml.meta_gradient("fo-anil", B, w, tasks, ALPHA)
    _, w_t = gbml.adapt("fo-anil", B, w, tasks, ALPHA)
    np.testing.assert_allclose(b @ (B - BETA * grad_B), b @ B @ (np.eye(K) - BETA / 9 * w_t.T @ w_t), atol=1e-13)
    # ... and at w = 0 the bracket leaves u = A^{-1} e_k unchanged.
    _, w_t = gbml.adapt("fo-anil", B, np.zeros(K), tasks, ALPHA)
    u = np.linalg.solve(problem.B_star.T @ B, np.eye(K)[-1])
    np.testing.assert_allclose((np.eye(K) - BETA / 9 * w_t.T @ w_t) @ u, u, atol=1e-13)


def test_mu_zero_largest_angle_never_shrinks_while_the_others_do():
    rng = np.random.default_rng(8)
    problem = gbml.Problem(D, K, rng=rng, mu=0.0)
    h = gbml.train("anil", problem, alpha=ALPHA, beta=BETA, T=200, n_tasks=20, rng=rng)
    angles = np.degrees(h.angles)
    assert angles[-1, :-1].max() < 0.1 < angles[0, :-1].min()
    assert angles[-1, -1] > 45 and abs(angles[-1, -1] - angles[0, -1]) < 5
    assert np.ptp(angles[100:, -1]) < 1e-2


def test_fewer_tasks_than_k_fresh_converges_fixed_pair_does_not():
    rng = np.random.default_rng(9)
    problem = gbml.Problem(D, K, rng=rng, mu=1.0)
    B0, _ = problem.init(ALPHA, rng)
    fresh = gbml.train("anil", problem, alpha=ALPHA, beta=BETA, T=300, n_tasks=2, rng=rng, B0=B0)
    pair = gbml.train("anil", problem, alpha=ALPHA, beta=BETA, T=300, n_tasks=2, rng=rng, B0=B0,
                      pool=problem.sample_heads(2, rng))
    assert fresh.distance[-1] < 1e-3
    assert pair.distance[-1] > 0.5
    # The fixed pair leaves at least one angle at its start: Psi_hat of two heads has rank 2 < k.
    assert np.degrees(pair.angles[-1, -1]) > 30


def test_zero_diversity_measured_rate_is_one_on_a_fixed_batch():
    rng = np.random.default_rng(10)
    problem = gbml.Problem(D, K, rng=rng, mu=0.0)
    heads = problem.sample_heads(50, rng)
    B0, _ = problem.init(ALPHA, rng, distance=1e-3)
    h = gbml.train("anil", problem, alpha=ALPHA, beta=BETA, T=120, n_tasks=50, rng=rng, pool=heads, B0=B0)
    assert gbml.local_rate(ALPHA, BETA, heads.T @ heads / 50) == pytest.approx(1.0, abs=1e-12)
    assert gbml.measured_rate(h.distance[60:], low=1e-13, high=1e-2) == pytest.approx(1.0, abs=1e-6)


# -- the checker -----------------------------------------------------------------------------------

def head_gram_ok(B, w, thetas, alpha):
    """Written with a loop over tasks, independently of gbml."""
    heads = [w - alpha * B.T @ (B @ w - theta) for theta in thetas]
    return sum(np.outer(h, h) for h in heads) / len(heads)


def test_check_head_gram_accepts_the_answer_and_explains_mistakes():
    assert_checker_explains(exercises.check_head_gram, head_gram_ok, [
        (lambda B, w, thetas, alpha: np.outer(w, w), "before adaptation"),
        (lambda B, w, thetas, alpha: (alpha * thetas @ B).T @ (alpha * thetas @ B) / len(thetas), "w = 0 formula"),
        (lambda B, w, thetas, alpha: head_gram_ok(B, w, thetas, -alpha), "descent"),
        (lambda B, w, thetas, alpha: head_gram_ok(B, w, thetas, 1.0), "alpha is missing"),
        (lambda B, w, thetas, alpha: len(thetas) * head_gram_ok(B, w, thetas, alpha), "divide by the number"),
        (lambda B, w, thetas, alpha: np.zeros((len(thetas), len(thetas))), "shape"),
    ])


def test_check_head_gram_stops_on_the_unwritten_exercise_naming_it():
    assert_stub_is_named(exercises.check_head_gram, "head_gram")


# -- chapter 7: exercise ex-td-compute (the largest safe step) -------------------------------------

def test_largest_safe_step_rounds_grow_with_the_eigenvalue_ratio():
    """At ANIL's largest allowed step beta = 1/(2 alpha lam_max), rho = 1 - lam_min/(2 lam_max): with
    lam_min = 0.25, about 104 rounds for lam_max = 1 and 1099 for lam_max = 10 to gain a factor 1e6,
    close to 2 ln(1e6) lam_max / lam_min when the ratio is large."""
    alpha, lam_min, rounds = 0.1, 0.25, {}
    for lam_max in (1.0, 10.0):
        beta = 1 / (2 * alpha * lam_max)
        rho = gbml.local_rate(alpha, beta, np.diag([lam_max, 1.0, lam_min]))
        assert rho == pytest.approx(1 - lam_min / (2 * lam_max), abs=1e-12)
        rounds[lam_max] = int(np.ceil(np.log(1e6) / -np.log(rho)))
    assert rounds == {1.0: 104, 10.0: 1099}
    assert 9 < rounds[10.0] / rounds[1.0] < 11
    assert rounds[10.0] == pytest.approx(2 * np.log(1e6) * 10.0 / lam_min, rel=0.01)


# -- chapter 7: outside the step condition, and MAML's error block (referee point 12) ----------------

def _batch_721():
    spread = np.array([21.0, 1.0, 0.3])
    return spread, _mean_zero_batch(spread)


def test_anil_just_past_its_step_condition_settles_on_a_period_two_orbit():
    """alpha beta lmax = 0.55 on Psi_hat = diag(21, 1, 0.3): ANIL does not blow up; ||I - alpha B^T B|| alternates
    between two values (about 0.25 and 0.34) and the distance still falls; FO-ANIL (inside its condition)
    converges. With alpha beta lmax = 1.05 ANIL diverges (the chapter's first example)."""
    spread, heads = _batch_721()
    problem = gbml.Problem(20, 3, rng=3)
    B0, _ = problem.init(0.1, 4, distance=1e-3)
    beta = 0.55 / (0.1 * spread.max())
    runs = {m: gbml.train(m, problem, alpha=0.1, beta=beta, T=2000, n_tasks=6, rng=5, pool=heads, B0=B0,
                          on_divergence="stop") for m in ["anil", "fo-anil"]}
    scale = runs["anil"].orth_error
    assert runs["anil"].diverged_at is None
    assert np.abs(scale[-100:] - scale[-102:-2]).max() < 1e-12          # period 2 ...
    assert abs(scale[-1] - scale[-2]) > 0.05                            # ... not period 1
    assert 0.2 < min(scale[-2:]) < 0.3 < max(scale[-2:]) < 0.4
    assert runs["anil"].distance[-1] < 1e-8
    assert runs["fo-anil"].orth_error[-1] < 1e-12
    blown = gbml.train("anil", problem, alpha=0.1, beta=0.5, T=300, n_tasks=6, rng=5, pool=heads, B0=B0,
                       on_divergence="stop")
    assert blown.diverged_at is not None


def _step_jacobian_AEw(method, problem, tasks, Q, alpha, beta):
    """Central differences of one outer step in the coordinates (A, E, w) at (B* Q / sqrt(alpha), 0)."""
    d, k = problem.d, problem.k
    U = np.linalg.svd(problem.B_star, full_matrices=True)[0][:, k:]

    def step(x):
        A, E, w = x[:k * k].reshape(k, k), x[k * k:d * k].reshape(d - k, k), x[d * k:]
        B = problem.B_star @ A + U @ E
        gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha)
        B2 = B - beta * gB
        return np.concatenate([(problem.B_star.T @ B2).ravel(), (U.T @ B2).ravel(), w - beta * gw])

    x0 = np.concatenate([(Q / np.sqrt(alpha)).ravel(), np.zeros((d - k) * k + k)])
    return np.column_stack([(step(x0 + 1e-6 * e) - step(x0 - 1e-6 * e)) / 2e-6 for e in np.eye(x0.size)])


def test_maml_and_fo_maml_error_block_equals_anils():
    """At the solution the block d E+/d E is the same for all four methods, I - alpha beta Q^T Psi_hat Q on
    each row of E (a fixed batch with a non-zero mean head)."""
    problem = gbml.Problem(7, 2, rng=0)
    heads = problem.sample_heads(9, 1)
    assert np.abs(heads.mean(axis=0)).max() > 0.1
    tasks, Q, alpha, beta = problem.tasks(heads), gbml.random_orthonormal(2, 2, 2), 0.1, 1.0
    d, k = 7, 2
    K = np.eye(k) - alpha * beta * Q.T @ (heads.T @ heads / 9) @ Q
    expected = np.kron(np.eye(d - k), K.T)         # vec(E K), rows of E first
    iE = slice(k * k, d * k)
    for method in ["anil", "fo-anil", "maml", "fo-maml"]:
        J = _step_jacobian_AEw(method, problem, tasks, Q, alpha, beta)
        assert np.abs(J[iE, iE] - expected).max() < 1e-8, method


# -- chapter 7: exercise ex-td-isotropic-half (Psi = psi I, step bound 1/2) -------------------------

@pytest.mark.parametrize("c", [0.05, 0.25, 0.5])
def test_isotropic_map_keeps_each_side_of_psi(c):
    """f(omega) = omega (1 + eta (psi - omega))^2 maps [0, psi] into [omega, psi] and [psi, u] into [psi, omega]
    whenever eta u <= 1/2 (eta psi = c <= 1/2); checked on a fine grid, with the bound 1/2 at the edge."""
    eta, psi = 1.0, c            # only eta psi and eta u matter
    f = lambda om: om * (1 + eta * (psi - om)) ** 2  # noqa: E731
    below = np.linspace(1e-9, psi, 2001)
    assert np.all(f(below) >= below * (1 - 1e-12)) and np.all(f(below) <= psi * (1 + 1e-12))
    above = np.linspace(psi, 0.5 / eta, 2001)
    assert np.all(f(above) <= above * (1 + 1e-12)) and np.all(f(above) >= psi * (1 - 1e-12))


def test_isotropic_map_overshoots_when_eta_psi_exceeds_one_half():
    psi, eta = 1.0, 0.9
    assert 0.8 * (1 + eta * (psi - 0.8)) ** 2 > psi      # 0.8 * 1.18^2 = 1.11392


def test_fo_anil_converges_at_the_isotropic_bound_one_half():
    """FO-ANIL (gbml.train) on a mean-zero batch with Psi = psi I, eta u = 0.49 > 1/3: the spectrum of
    alpha A^T Psi A stays in [l, u] and dist <= C rho^t, the constants of thm-global-fo-anil."""
    rng = np.random.default_rng(708)
    psi, k, d, alpha = 0.5, K, D, ALPHA
    B_star = np.linalg.qr(rng.standard_normal((d, k)))[0]
    perp = _perp(B_star)
    A0 = np.diag([0.3, 1.0, 1.5]) / np.sqrt(alpha * psi)          # alpha A0^T Psi A0 = diag(0.09, 1, 2.25)
    E0 = 0.3 * rng.standard_normal((d - k, k))
    ell, u = 0.09, 2.25
    beta = 0.49 / (alpha * u)
    problem = gbml.Problem(d, k, rng=1, B_star=B_star, head_cov=psi * np.eye(k))
    heads = _mean_zero_batch([psi] * k)
    run = gbml.train("fo-anil", problem, alpha=alpha, beta=beta, T=150, n_tasks=len(heads), rng=2, pool=heads,
                     B0=B_star @ A0 + perp @ E0, w0=np.zeros(k), snapshot_every=1)
    rho = 1 - alpha * beta * ell
    C = np.sqrt(alpha * psi / ell) * np.linalg.norm(E0, 2)
    t = np.asarray(run.iterations)
    assert run.diverged_at is None
    assert np.all(np.asarray(run.distance) <= C * rho ** t * (1 + 1e-9))
    assert len(run.snapshots) >= 100
    for B in run.snapshots:
        eigs = np.linalg.eigvalsh(alpha * psi * (B_star.T @ B).T @ (B_star.T @ B))
        assert eigs.min() >= ell * (1 - 1e-9) and eigs.max() <= u * (1 + 1e-9)


def test_spectrum_explorer_step_limit():
    """The spectrum explorer (beta and lam_max sliders, lam_min = 0.3): wherever eq-td-step holds
    (alpha beta lam_max < 1/2) ANIL converges from distance 0.5 in 120 rounds; at the book's beta = 0.5
    and lam_max = 20 it diverges, although 1 - alpha beta lam_min < 1."""
    alpha = 0.1
    for lam_max in (1.0, 2.0, 3.0, 5.0, 7.0, 10.0, 20.0):
        prob = gbml.Problem(20, 3, rng=21, head_cov=np.diag([lam_max, 1.0, 0.3]))
        B0, _ = prob.init(alpha, 23, distance=0.5)
        for beta in (0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0):
            if alpha * beta * lam_max >= 0.5 and not (lam_max, beta) == (20.0, 0.5):
                continue
            run = gbml.train("anil", prob, alpha=alpha, beta=beta, T=120, n_tasks=10, rng=22, B0=B0,
                             on_divergence="stop")
            if (lam_max, beta) == (20.0, 0.5):
                assert run.diverged_at is not None and 1 - alpha * beta * 0.3 < 1
            else:
                assert run.diverged_at is None and run.distance[-1] < 0.5, (lam_max, beta)
