"""The propositions of chapters 3 (average loss) and 4 (ANIL), checked numerically, and their checkers.

Propositions already covered by the core tests are cited here, not repeated:

* rank-one orthogonal dynamics of the average loss (ch. 3, prop-avg-rank-one):
  ``test_core_identities.py::test_average_loss_rank_one_contraction``;
* a fixed mean-zero batch moves nothing (ch. 3, prop-avg-mean-zero, fixed-batch case):
  ``test_core_identities.py::test_average_loss_mean_zero_batch_nothing_moves``;
* fixed batch, part 1, ``col(B_s)`` stays in ``col(B_0) + span(B* wbar*)`` (ch. 3, prop-avg-fixed-batch):
  ``test_core_identities.py::test_average_loss_fixed_batch_stays_in_span``;
* ``gbml``'s ANIL gradients against finite differences (ch. 4, prop-anil-gradients, as implemented):
  ``test_core_gradients.py``;
* orthogonal dynamics of FO-ANIL and ANIL (ch. 4, prop-anil-orthogonal):
  ``test_core_identities.py::test_fo_anil_orthogonal_dynamics`` and ``::test_exact_anil_orthogonal_dynamics``;
* the local rate ``1 - alpha beta lambda_min(Psi)`` (ch. 4, eq-anil-rate):
  ``test_core_identities.py::test_local_rate_on_a_fixed_batch``;
* one-step adaptation is exact at the solution (ch. 4, prop-anil-one-step):
  ``test_core_identities.py::test_one_step_adaptation_is_exact_at_the_solution``.
"""
import numpy as np
import pytest

import gbml
from gbml import exercises

D, K, ALPHA = 12, 3, 0.2


def _rng(seed):
    return np.random.default_rng(seed)


# -- chapter 3: the average loss -------------------------------------------------------------------

def test_average_loss_is_a_function_of_the_mean_head():
    """prop-avg-mean-head: F_avg = 1/2 |Bw - B* wbar|^2 + (1/2n) sum |w_t - wbar|^2 + sigma^2/2, and its gradient."""
    problem = gbml.Problem(D, K, rng=0, mu=0.5, head_mean=[1.0, -2.0, 0.5], noise_std=0.3)
    heads = problem.sample_heads(7, rng=1)
    tasks = problem.tasks(heads)
    rng = _rng(2)
    B, w = rng.standard_normal((D, K)), rng.standard_normal(K)
    w_bar = heads.mean(axis=0)
    theta_bar = problem.B_star @ w_bar
    formula = (0.5 * np.sum((B @ w - theta_bar) ** 2) + 0.5 * np.mean(np.sum((heads - w_bar) ** 2, axis=1))
               + 0.5 * 0.3**2)
    # the objective written task by task, without gbml
    by_task = np.mean([0.5 * np.sum((B @ w - problem.B_star @ h) ** 2) + 0.5 * 0.3**2 for h in heads])
    assert gbml.meta_objective("avg-loss", B, w, tasks, 0.0) == pytest.approx(formula, rel=1e-13)
    assert by_task == pytest.approx(formula, rel=1e-13)
    gB, gw = gbml.meta_gradient("avg-loss", B, w, tasks, 0.0)
    residual = B @ w - theta_bar
    assert np.abs(gB - np.outer(residual, w)).max() < 1e-12
    assert np.abs(gw - B.T @ residual).max() < 1e-12
    # other heads with the same mean: the same gradient
    shuffled = problem.tasks(w_bar + (heads - w_bar)[::-1] @ np.diag([1, -1, 1]))
    assert np.abs(gbml.meta_gradient("avg-loss", B, w, shuffled, 0.0)[0] - gB).max() < 1e-12


def test_expected_average_loss_sees_the_head_mean():
    """prop-avg-mean-head, expectation: E F_avg = 1/2 |Bw - B* m|^2 + tr(Sigma_w)/2 + sigma^2/2 (Monte Carlo)."""
    cov = np.diag([1.0, 0.5, 0.25])
    m = np.array([0.5, 1.0, -1.0])
    problem = gbml.Problem(D, K, rng=3, head_cov=cov, head_mean=m, noise_std=0.2)
    rng = _rng(4)
    B, w = rng.standard_normal((D, K)), rng.standard_normal(K)
    tasks = problem.tasks(problem.sample_heads(20000, rng=5))
    per_task = tasks.outer.loss(np.tile(B @ w, (tasks.n, 1)))
    expected = 0.5 * np.sum((B @ w - problem.B_star @ m) ** 2) + 0.5 * np.trace(cov) + 0.5 * 0.2**2
    stderr = per_task.std() / np.sqrt(tasks.n)
    assert abs(per_task.mean() - expected) < 4 * stderr


def test_fresh_mean_zero_batches_move_nothing():
    """prop-avg-mean-zero with a *new* mean-zero batch every round (the core test uses one fixed batch)."""
    problem = gbml.Problem(D, K, rng=6)
    B0, w0 = problem.init(ALPHA, rng=7)
    rng = _rng(8)
    B, w = B0.copy(), w0.copy()
    for _ in range(30):
        half = problem.sample_heads(5, rng)
        tasks = problem.tasks(np.vstack([half, -half]))
        gB, gw = gbml.meta_gradient("avg-loss", B, w, tasks, 0.0)
        B, w = B - 0.05 * gB, w - 0.05 * gw
    assert np.abs(B - B0).max() < 1e-14 and np.abs(w).max() < 1e-14
    # control: batches with a non-zero mean head do move B (so the assertion above can fail)
    B, w = B0.copy(), w0.copy()
    for _ in range(30):
        tasks = problem.tasks(problem.sample_heads(10, rng))
        gB, gw = gbml.meta_gradient("avg-loss", B, w, tasks, 0.0)
        B, w = B - 0.05 * gB, w - 0.05 * gw
    assert np.abs(B - B0).max() > 1e-3


def test_fixed_batch_angles_stay_above_their_floors():
    """prop-avg-fixed-batch, part 2: theta_j(B_s, B*) >= theta_j(V, B*) for all s, j; dist >= sin theta_k(V)."""
    problem = gbml.Problem(20, K, rng=9, head_mean=2.0 * np.ones(K) / np.sqrt(K))
    batch = problem.sample_heads(20, rng=10)
    B0, _ = problem.init(0.1, rng=11)
    h = gbml.train("avg-loss", problem, alpha=0.1, beta=0.05, T=400, n_tasks=20, rng=12, pool=batch, B0=B0)
    V = np.column_stack([B0, problem.B_star @ batch.mean(axis=0)])
    floors = gbml.principal_angles(V, problem.B_star)
    assert np.all(h.angles >= floors - 1e-10)
    Q = gbml.orthonormal_basis(V)
    floor_dist = np.linalg.norm(problem.B_star - Q @ (Q.T @ problem.B_star), 2)
    assert floor_dist == pytest.approx(np.sin(floors[-1]), abs=1e-12)
    assert h.distance.min() >= floor_dist - 1e-12
    # the bound is not vacuous: the smallest angle closes, V meets col(B*) in a line only
    assert h.angles[-1, 0] < 0.05 < 0.5 < h.angles[0, 0]
    assert floors[0] < 1e-6 and floors[1] > 0.1


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

def _avg_gradient(B, w, thetas):
    """Written independently of gbml: the average of the per-task gradients."""
    gB, gw = np.zeros_like(B), np.zeros_like(w)
    for theta in thetas:
        r = B @ w - theta
        gB += np.outer(r, w)
        gw += B.T @ r
    return gB / len(thetas), gw / len(thetas)


def _message(check, fn):
    result = check(fn, quiet=True)
    assert not result.passed
    return result.message


def test_check_average_loss_gradient_accepts_a_correct_answer():
    assert exercises.check_average_loss_gradient(_avg_gradient, quiet=True).passed
    # the learner may name the arguments as they like
    assert exercises.check_average_loss_gradient(lambda b, v, T: _avg_gradient(b, v, T), quiet=True).passed


@pytest.mark.parametrize("wrong, hint", [
    (lambda B, w, th: tuple(-g for g in _avg_gradient(B, w, th)), "wrong sign"),
    (lambda B, w, th: tuple(len(th) * g for g in _avg_gradient(B, w, th)), "summed over the tasks"),
    (lambda B, w, th: _avg_gradient(B, w, th[:1]), "only the first task"),
    (lambda B, w, th: tuple(2 * g for g in _avg_gradient(B, w, th)), "factor 1/2"),
    (lambda B, w, th: (_avg_gradient(B, w, th)[0].T, _avg_gradient(B, w, th)[1]), "transpose of B's shape"),
    (lambda B, w, th: (_avg_gradient(B, w, th)[0], B @ w - th.mean(axis=0)), "multiply the residual by B^T"),
    (lambda B, w, th: _avg_gradient(B, w, th)[0], "as a pair"),
])
def test_check_average_loss_gradient_names_the_mistake(wrong, hint):
    assert hint in _message(exercises.check_average_loss_gradient, wrong)


def test_checkers_stop_on_the_student_stub():
    def stub(*args):
        raise NotImplementedError("Exercise 'x' (y) is not written yet")

    for check in [exercises.check_average_loss_gradient, exercises.check_fo_anil_gradient]:
        with pytest.raises(NotImplementedError, match="Exercise"):
            check(stub, quiet=True)


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

    h, B, w = 1e-30, B.astype(complex), w.astype(complex)
    grads = []
    for x in (B, w):
        g = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            x[idx] += 1j * h
            g[idx] = objective(B, w).imag / h
            x[idx] -= 1j * h
        grads.append(g)
    return tuple(grads)


def test_check_fo_anil_gradient_accepts_a_correct_answer():
    assert exercises.check_fo_anil_gradient(_fo_anil, quiet=True).passed


@pytest.mark.parametrize("wrong, hint", [
    (lambda B, w, th, a: _fo_anil(B, w, th, a, outer_adapted=False), "taken *after* adaptation"),
    (lambda B, w, th, a: _avg_gradient(B, w, th), "no adaptation at all"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, head_adapted=False), "you used w instead of w_t"),
    (lambda B, w, th, a: _exact_anil(B, w, th, a), "exact ANIL gradient"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, inner_sign=1.0), "gradient *descent*"),
    (lambda B, w, th, a: _fo_anil(B, w, th, a, use_alpha=False), "alpha is missing"),
    (lambda B, w, th, a: tuple(len(th) * g for g in _fo_anil(B, w, th, a)), "summed over the tasks"),
])
def test_check_fo_anil_gradient_names_the_mistake(wrong, hint):
    assert hint in _message(exercises.check_fo_anil_gradient, wrong)
