"""The propositions of chapter 3 (the average loss), checked numerically, and its checker.

Propositions already covered by the core tests are cited here, not repeated:

* rank-one orthogonal dynamics of the average loss (prop-avg-rank-one):
  ``test_core_identities.py::test_average_loss_rank_one_contraction``;
* a fixed mean-zero batch moves nothing (prop-avg-mean-zero, fixed-batch case):
  ``test_core_identities.py::test_average_loss_mean_zero_batch_nothing_moves``;
* fixed batch, part 1, ``col(B_s)`` stays in ``col(B_0) + span(B* wbar*)`` (prop-avg-fixed-batch):
  ``test_core_identities.py::test_average_loss_fixed_batch_stays_in_span``.

That the checkers stop on the student's stub is tested for this chapter's checker too, in ``test_ch04.py``.
"""
import numpy as np
import pytest

import gbml
from gbml.book import exercises
from helpers_core import avg_gradient, failure_message

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


def _explorer_runs(mean_norm, mu, T=120):
    """The chapter's explorer setting (d = 20, k = 3, 20 fresh tasks a round), run method by method."""
    problem = gbml.Problem(20, K, rng=11, mu=mu, head_mean=mean_norm * np.ones(K) / np.sqrt(K))
    B0, _ = problem.init(0.1, 12)
    return [gbml.train(method, problem, alpha=0.1, beta=beta, T=T, n_tasks=20, rng=13, B0=B0)
            for method, beta in [("avg-loss", 0.05), ("anil", 0.5)]]


def test_explorer_anil_shrinks_but_does_not_always_close_its_largest_angle():
    """The explorer's grid: ANIL's largest angle shrinks in every setting, faster with more diversity, but at
    |m| = 0, mu = 0.25 it only goes from 78.4 to 49.1 degrees in 120 rounds (the referee's point 5); mu
    changes the average loss's final angles by well under a degree."""
    final = {}
    for m in [0.0, 1.0, 2.0]:
        ends = []
        for mu in [0.25, 0.5, 1.0]:
            avg, anil = _explorer_runs(m, mu)
            largest = np.degrees(anil.angles[:, -1])
            assert largest[-1] < largest[0] - 20
            final[m, mu] = largest[-1]
            ends.append(np.degrees(avg.angles[-1]))
        assert final[m, 0.25] > final[m, 0.5] > final[m, 1.0]
        assert np.ptp(ends, axis=0).max() < 0.5
    assert 78.0 < np.degrees(_explorer_runs(0.0, 0.25)[1].angles[0, -1]) < 79.0
    assert 48.5 < final[0.0, 0.25] < 49.5 and final[0.0, 1.0] < 1.0


# -- the checker -----------------------------------------------------------------------------------

def test_check_average_loss_gradient_accepts_a_correct_answer():
    assert exercises.check_average_loss_gradient(avg_gradient, quiet=True).passed
    # the learner may name the arguments as they like
    assert exercises.check_average_loss_gradient(lambda b, v, T: avg_gradient(b, v, T), quiet=True).passed


@pytest.mark.parametrize("wrong, hint", [
    (lambda B, w, th: tuple(-g for g in avg_gradient(B, w, th)), "wrong sign"),
    (lambda B, w, th: tuple(len(th) * g for g in avg_gradient(B, w, th)), "summed over the tasks"),
    (lambda B, w, th: avg_gradient(B, w, th[:1]), "only the first task"),
    (lambda B, w, th: tuple(2 * g for g in avg_gradient(B, w, th)), "factor 1/2"),
    (lambda B, w, th: (avg_gradient(B, w, th)[0].T, avg_gradient(B, w, th)[1]), "transpose of B's shape"),
    (lambda B, w, th: (avg_gradient(B, w, th)[0], B @ w - th.mean(axis=0)), "multiply the residual by B^T"),
    (lambda B, w, th: avg_gradient(B, w, th)[0], "as a pair"),
])
def test_check_average_loss_gradient_names_the_mistake(wrong, hint):
    assert hint in failure_message(exercises.check_average_loss_gradient, wrong)
