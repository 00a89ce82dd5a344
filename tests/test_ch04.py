"""The propositions of chapter 4 (ANIL), checked numerically, and its checker.

Propositions already covered by the core tests are cited here, not repeated:

* ``gbml``'s ANIL gradients against finite differences (prop-anil-gradients, as implemented):
  ``test_core_gradients.py``;
* orthogonal dynamics of FO-ANIL and ANIL (prop-anil-orthogonal):
  ``test_core_identities.py::test_fo_anil_orthogonal_dynamics`` and ``::test_exact_anil_orthogonal_dynamics``;
* the local rate ``1 - alpha beta lambda_min(Psi)`` (eq-anil-rate):
  ``test_core_identities.py::test_local_rate_on_a_fixed_batch``;
* one-step adaptation is exact at the solution (prop-anil-one-step):
  ``test_core_identities.py::test_one_step_adaptation_is_exact_at_the_solution``.
"""
import numpy as np
import pytest

import gbml
from gbml.book import exercises
from helpers_core import avg_gradient, complex_step_gradient, failure_message

D, K, ALPHA = 12, 3, 0.2


def _rng(seed):
    return np.random.default_rng(seed)


# -- chapter 4: ANIL -------------------------------------------------------------------------------

def _closed_form_anil(B, w, thetas, alpha):
    """eq-anil-exact and eq-anil-fo of chapter 4, task by task."""
    n = len(thetas)
    exact_B, exact_w = np.zeros_like(B), np.zeros_like(w)
    fo_B, fo_w = np.zeros_like(B), np.zeros_like(w)
    for theta in thetas:
        r = B @ w - theta
        w_t = w - alpha * B.T @ r
        r_tilde = B @ w_t - theta
        g = B.T @ r_tilde
        exact_B += np.outer(r_tilde, w_t) - alpha * (np.outer(r, g) + np.outer(B @ g, w))
        exact_w += (np.eye(len(w)) - alpha * B.T @ B) @ g
        fo_B += np.outer(r_tilde, w_t)
        fo_w += g
    return (exact_B / n, exact_w / n), (fo_B / n, fo_w / n)


def test_anil_closed_form_gradients_match_finite_differences_and_gbml():
    """prop-anil-gradients: the chapter's closed forms, against finite differences of the objective and gbml."""
    rng = _rng(13)
    thetas = rng.standard_normal((5, 7))
    tasks = gbml.PopulationTasks(thetas, noise_std=0.1)
    B, w, alpha = 0.5 * rng.standard_normal((7, 2)), rng.standard_normal(2), 0.3
    (eB, ew), (fB, fw) = _closed_form_anil(B, w, thetas, alpha)

    def F(B_, w_):
        return gbml.meta_objective("anil", B_, w_, tasks, alpha)

    h = 1e-6
    fdB = np.zeros_like(B)
    for idx in np.ndindex(B.shape):
        E = np.zeros_like(B)
        E[idx] = h
        fdB[idx] = (F(B + E, w) - F(B - E, w)) / (2 * h)
    fdw = np.array([(F(B, w + h * e) - F(B, w - h * e)) / (2 * h) for e in np.eye(2)])
    assert np.abs(eB - fdB).max() < 1e-7 * max(1, np.abs(eB).max())
    assert np.abs(ew - fdw).max() < 1e-7 * max(1, np.abs(ew).max())
    gB, gw = gbml.meta_gradient("anil", B, w, tasks, alpha)
    assert np.abs(gB - eB).max() < 1e-12 and np.abs(gw - ew).max() < 1e-12
    gB, gw = gbml.meta_gradient("fo-anil", B, w, tasks, alpha)
    assert np.abs(gB - fB).max() < 1e-12 and np.abs(gw - fw).max() < 1e-12
    assert np.abs(fB - eB).max() > 1e-2  # the first-order surrogate really differs here


def _adapted_gram(problem, B, heads, alpha):
    _, w_t = gbml.adapt("anil", B, np.zeros(B.shape[1]), problem.tasks(heads), alpha)
    return w_t.T @ w_t / len(heads)


def test_adapted_head_gram_formula_and_positive_definiteness():
    """prop-anil-diversity, part 1 and eq-anil-M: M = alpha^2 B^T B* Psi_hat B*^T B; PD iff diverse and dist < 1."""
    problem = gbml.Problem(D, K, rng=14)
    rng = _rng(15)
    B = rng.standard_normal((D, K))
    heads = problem.sample_heads(50, rng)
    Psi_hat = heads.T @ heads / len(heads)
    M = _adapted_gram(problem, B, heads, ALPHA)
    A = problem.B_star.T @ B
    assert np.abs(M - ALPHA**2 * A.T @ Psi_hat @ A).max() < 1e-12
    assert np.linalg.eigvalsh(M)[0] > 1e-6
    # not diverse: all heads in a (k-1)-dimensional subspace -> singular
    flat = heads.copy()
    flat[:, -1] = 0.0
    M_flat = _adapted_gram(problem, B, flat, ALPHA)
    assert np.linalg.eigvalsh(M_flat)[0] < 1e-12 * np.linalg.eigvalsh(M_flat)[-1]
    # dist = 1: one column of B orthogonal to col(B*) -> singular, although the tasks are diverse
    B_far = B.copy()
    B_far[:, 0] -= problem.B_star @ (problem.B_star.T @ B_far[:, 0])
    assert gbml.subspace_distance(B_far, problem.B_star) == pytest.approx(1.0, abs=1e-12)
    M_far = _adapted_gram(problem, B_far, heads, ALPHA)
    assert np.linalg.eigvalsh(M_far)[0] < 1e-12 * np.linalg.eigvalsh(M_far)[-1]


@pytest.mark.parametrize("seed", range(5))
def test_adapted_head_gram_lower_bound(seed):
    """prop-anil-diversity, part 2: lambda_min(M) >= alpha lambda_min(Psi_hat) (1 - dist^2) when alpha B^T B = I."""
    problem = gbml.Problem(20, K, rng=seed, mu=0.5)
    rng = _rng(100 + seed)
    heads = problem.sample_heads(40, rng)
    mu2 = np.linalg.eigvalsh(heads.T @ heads / len(heads))[0]
    for spread in [0.05, 0.2, 1.0]:
        Q = gbml.orthonormal_basis(problem.B_star + spread * rng.standard_normal((20, K)))
        B = Q / np.sqrt(ALPHA)
        dist = gbml.subspace_distance(B, problem.B_star)
        lam = np.linalg.eigvalsh(_adapted_gram(problem, B, heads, ALPHA))[0]
        assert lam >= ALPHA * mu2 * (1 - dist**2) * (1 - 1e-10)


def test_adapted_head_gram_bound_is_attained_with_equal_angles_and_exact_at_the_solution():
    """prop-anil-diversity, part 2: equality when all principal angles are equal; eig(M) = alpha eig(Psi_hat) at B*."""
    problem = gbml.Problem(20, K, rng=16, mu=0.4)
    heads = problem.sample_heads(60, rng=17)
    Psi_eigs = np.linalg.eigvalsh(heads.T @ heads / len(heads))
    for distance in [0.0, 0.3, 0.8]:
        B, _ = problem.init(ALPHA, rng=18, distance=distance)
        eigs = np.linalg.eigvalsh(_adapted_gram(problem, B, heads, ALPHA))
        assert eigs == pytest.approx(ALPHA * (1 - distance**2) * Psi_eigs, rel=1e-10)


def test_a_perfect_fit_forces_the_orthonormal_scaling():
    """Exercise ex-anil-fixed-point: at w = 0 all adapted residuals vanish iff col(B) = col(B*), alpha B^T B = I."""
    problem = gbml.Problem(D, K, rng=19)
    heads = problem.sample_heads(10, rng=20)
    tasks = problem.tasks(heads)
    R = gbml.random_orthonormal(K, K, rng=21)
    for scale, fits in [(1.0, True), (1.3, False)]:
        B = scale * problem.B_star @ R / np.sqrt(ALPHA)
        _, w_t = gbml.adapt("anil", B, np.zeros(K), tasks, ALPHA)
        residual = np.abs(w_t @ B.T - tasks.thetas).max()
        assert (residual < 1e-12) == fits


def test_anil_near_zero_head_is_ojas_subspace_rule():
    """[ours] eq-anil-oja: at w = 0 on a mean-zero batch, FO-ANIL is Oja's rule, ANIL its symmetrised form, w stays 0."""
    problem = gbml.Problem(20, K, rng=22, mu=0.6)
    half = problem.sample_heads(15, rng=23)
    heads = np.vstack([half, -half])
    tasks = problem.tasks(heads)
    C = tasks.thetas.T @ tasks.thetas / tasks.n
    alpha, beta = 0.1, 0.5
    B, w = problem.init(alpha, rng=24)
    B = B + 0.3 * _rng(25).standard_normal(B.shape)          # not orthonormal: both Oja terms are active
    I_d, I_k = np.eye(20), np.eye(K)
    oja = B + alpha * beta * (I_d - alpha * B @ B.T) @ C @ B
    sym = oja + alpha * beta * C @ B @ (I_k - alpha * B.T @ B)
    for method, predicted in [("fo-anil", oja), ("anil", sym)]:
        gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha)
        assert np.abs(B - beta * gB - predicted).max() < 1e-12 * np.abs(predicted).max()
        assert np.abs(gw).max() < 1e-13
    # over a run on this batch: w stays exactly 0 and the iteration reaches Oja's fixed point
    h = gbml.train("fo-anil", problem, alpha=alpha, beta=1.0, T=600, n_tasks=tasks.n, rng=26, pool=heads)
    assert np.abs(h.head_norm).max() < 1e-12  # zero up to rounding (the batch mean is zero up to rounding)
    assert h.distance[-1] < 1e-8 and h.orth_error[-1] < 1e-8


@pytest.mark.parametrize("norm", [0.01, 1.0, 3.7])
def test_ojas_rule_has_non_orthonormal_fixed_points_at_distance_one(norm):
    """ch. 4: W = [Q_1, v], Q_1 top k-1 eigenvectors of C, v in col(B*)^perp of any norm, is a fixed point
    of Oja's rule and of its symmetrised (LMSER) form, at distance 1: written from C, then gbml."""
    problem = gbml.Problem(20, K, rng=27, mu=0.6)
    half = problem.sample_heads(15, rng=28)
    tasks = problem.tasks(np.vstack([half, -half]))
    C = tasks.thetas.T @ tasks.thetas / tasks.n
    eigval, eigvec = np.linalg.eigh(C)
    Q1 = eigvec[:, -(K - 1):]                                  # k - 1 eigenvectors with nonzero eigenvalues
    u = _rng(29).standard_normal(20)
    u -= problem.B_star @ (problem.B_star.T @ u)               # in col(B*)^perp = ker C
    W = np.column_stack([Q1, norm * u / np.linalg.norm(u)])
    assert np.linalg.norm(W[:, -1]) == pytest.approx(norm)
    assert gbml.subspace_distance(W, problem.B_star) == pytest.approx(1.0, abs=1e-9)
    assert abs(np.linalg.det(W.T @ W) - 1.0) > 1e-3 or norm == 1.0   # not orthonormal unless |v| = 1
    oja_step = (np.eye(20) - W @ W.T) @ C @ W
    lmser_step = oja_step + C @ W @ (np.eye(K) - W.T @ W)
    assert np.abs(oja_step).max() < 1e-12 and np.abs(lmser_step).max() < 1e-12
    alpha = 0.1                                                 # B = W / sqrt(alpha), w = 0: gbml agrees
    for method in ["fo-anil", "anil"]:
        gB, gw = gbml.meta_gradient(method, W / np.sqrt(alpha), np.zeros(K), tasks, alpha)
        assert np.abs(gB).max() < 1e-12 and np.abs(gw).max() < 1e-12
    # ... while a generic W at the same scale is not a fixed point (the check can fail).
    gB, _ = gbml.meta_gradient("anil", problem.init(alpha, rng=30)[0], np.zeros(K), tasks, alpha)
    assert np.abs(gB).max() > 1e-3


# -- checkers --------------------------------------------------------------------------------------

def test_halving_mu_only_roughly_quarters_the_contraction():
    """The rate figure's batch (d = 20, k = 3, rng 5, 100 heads, rng 6): halving mu from 1 to 0.5 divides
    lambda_min(Psi_hat), hence 1 - rho, by roughly 4 (3.6), not exactly 4: the chapter says "roughly"."""
    lmins = {}
    for mu in [0.5, 1.0]:
        heads = gbml.Problem(20, 3, rng=5, mu=mu).sample_heads(100, 6)
        lmins[mu] = np.linalg.eigvalsh(heads.T @ heads / 100)[0]
    ratio = lmins[1.0] / lmins[0.5]
    assert 3.0 < ratio < 3.9, ratio
    assert lmins[1.0] == pytest.approx(0.808, abs=5e-4) and lmins[0.5] == pytest.approx(0.224, abs=5e-4)
    # the chapter glues lambda_min as (1 - rho) / (alpha beta), so the same ratio holds for 1 - rho
    heads = gbml.Problem(20, 3, rng=5, mu=1.0).sample_heads(100, 6)
    assert 1 - gbml.local_rate(0.1, 1.0, heads.T @ heads / 100) == pytest.approx(0.1 * lmins[1.0], rel=1e-12)


def test_checkers_say_the_student_stub_is_not_written():
    def stub(*args):
        raise NotImplementedError("Exercise 'x' (y) is not written yet")

    for check in [exercises.check_average_loss_gradient, exercises.check_fo_anil_gradient]:
        res = check(stub, quiet=True)
        assert not res and "is not written yet" in res.message


def _fo_anil(B, w, thetas, alpha, *, outer_adapted=True, head_adapted=True, inner_sign=-1.0, use_alpha=True):
    """FO-ANIL written task by task, with switches for the typical mistakes."""
    GB, Gw = np.zeros_like(B), np.zeros_like(w)
    for theta in thetas:
        r = B @ w - theta
        w_t = w + inner_sign * (alpha if use_alpha else 1.0) * B.T @ r
        q = B @ w_t - theta if outer_adapted else r
        GB += np.outer(q, w_t if head_adapted else w)
        Gw += B.T @ q
    return GB / len(thetas), Gw / len(thetas)


def _exact_anil(B, w, thetas, alpha):
    """The exact ANIL gradient by complex-step differentiation (exact to rounding) of the objective written
    from its definition: Im f(x + i h e_j) / h for a real-analytic f."""
    def objective(B, w):
        e = [B @ (w - alpha * B.T @ (B @ w - theta)) - theta for theta in thetas]
        return sum(0.5 * np.sum(x * x) for x in e) / len(thetas)

    return complex_step_gradient(objective, B, w)


def test_check_fo_anil_gradient_accepts_a_correct_answer():
    assert exercises.check_fo_anil_gradient(_fo_anil, quiet=True).passed


@pytest.mark.parametrize("wrong, hint", [
    (lambda B, w, th, a: _fo_anil(B, w, th, a, outer_adapted=False), "taken *after* adaptation"),
    (lambda B, w, th, a: avg_gradient(B, w, th), "no adaptation at all"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, head_adapted=False), "you used w instead of w_t"),
    (lambda B, w, th, a: _exact_anil(B, w, th, a), "exact ANIL gradient"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, inner_sign=1.0), "gradient *descent*"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, use_alpha=False), "alpha is missing"),
    (lambda B, w, th, a: tuple(len(th) * g for g in _fo_anil(B, w, th, a)), "summed over the tasks"),
])
def test_check_fo_anil_gradient_names_the_mistake(wrong, hint):
    assert hint in failure_message(exercises.check_fo_anil_gradient, wrong)
