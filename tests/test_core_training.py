"""Behaviour of the training loop: convergence, failure of the average loss, divergence, determinism."""
import numpy as np
import pytest

import gbml


@pytest.fixture(scope="module")
def paper_problem():
    return gbml.Problem(20, 3, rng=0, mu=1.0)


@pytest.mark.parametrize("method", ["anil", "fo-anil", "maml", "fo-maml"])
def test_meta_methods_learn_the_representation_from_random_init(paper_problem, method):
    h = gbml.train(method, paper_problem, alpha=0.1, beta=0.5, T=400, n_tasks=20, rng=1)
    assert h.distance[0] > 0.9  # a random start is far from B*
    assert h.distance[-1] < 1e-6
    assert h.orth_error[-1] < 1e-3  # alpha B^T B -> I
    assert np.all(np.isfinite(h.loss))  # the last entry uses the last round's tasks (issue 12: never NaN)


def test_average_loss_does_not(paper_problem):
    h = gbml.train("avg-loss", paper_problem, alpha=0.1, beta=0.05, T=400, n_tasks=20, rng=1)
    assert h.distance.min() > 0.9


def test_history_shapes_and_consistency(paper_problem):
    h = gbml.train("anil", paper_problem, alpha=0.1, beta=0.5, T=30, n_tasks=5, rng=2)
    assert h.distance.shape == (31,) and h.angles.shape == (31, 3)
    assert np.allclose(h.distance, np.sin(h.angles[:, -1]))
    assert h.distance[-1] == pytest.approx(gbml.subspace_distance(h.B, paper_problem.B_star), rel=1e-10)
    assert h.head_norm[-1] == pytest.approx(np.linalg.norm(h.w))


def test_same_seed_bit_identical_and_different_seed_differs(paper_problem):
    kw = dict(alpha=0.1, beta=0.5, T=40, n_tasks=20, m_in=10, m_out=10)
    a = gbml.train("fo-anil", paper_problem, rng=3, **kw)
    b = gbml.train("fo-anil", paper_problem, rng=3, **kw)
    c = gbml.train("fo-anil", paper_problem, rng=4, **kw)
    assert np.array_equal(a.B, b.B) and np.array_equal(a.distance, b.distance)
    assert not np.array_equal(a.B, c.B)
    assert np.array_equal(gbml.Problem(20, 3, rng=5).B_star, gbml.Problem(20, 3, rng=5).B_star)
    g = np.random.default_rng(6)
    assert np.array_equal(gbml.Problem(9, 2, rng=g).sample_heads(4, 7), gbml.Problem(9, 2, rng=8).sample_heads(4, 7))


def test_finite_samples_reach_a_floor_that_shrinks_with_samples(paper_problem):
    noisy = gbml.Problem(20, 3, rng=0, noise_std=0.1)
    floors = []
    for m in [10, 100]:
        h = gbml.train("fo-anil", noisy, alpha=0.1, beta=0.5, T=500, n_tasks=20, rng=9, m_in=m, m_out=m)
        floors.append(h.distance[-100:].mean())
    assert floors[0] < 0.3 and floors[1] < floors[0] / 3


def test_divergence_is_reported_not_returned_as_nan():
    problem = gbml.Problem(20, 3, rng=0)
    with pytest.raises(gbml.DivergenceError, match=r"fo-maml diverged at iteration \d+.*smaller"):
        gbml.train("fo-maml", problem, alpha=0.5, beta=0.5, T=300, n_tasks=20, rng=1, m_in=5, m_out=5)
    h = gbml.train("fo-maml", problem, alpha=0.5, beta=0.5, T=300, n_tasks=20, rng=1, m_in=5, m_out=5,
                   on_divergence="stop")
    assert h.diverged_at is not None and len(h.distance) == h.diverged_at
    assert np.all(np.isfinite(h.distance)) and np.all(np.isfinite(h.head_norm))


def test_pool_of_tasks(paper_problem):
    h = gbml.train("anil", paper_problem, alpha=0.1, beta=0.5, T=5, n_tasks=2, rng=1, pool=6)
    assert h.distance.shape == (6,)
    with pytest.raises(ValueError, match="n_tasks must be <= the pool size 6"):
        gbml.train("anil", paper_problem, alpha=0.1, beta=0.5, T=5, n_tasks=7, rng=1, pool=6)


def test_init_is_the_theorys(paper_problem):
    B0, w0 = paper_problem.init(0.1, rng=1)
    assert np.allclose(0.1 * B0.T @ B0, np.eye(3)) and np.all(w0 == 0)
    B0, _ = paper_problem.init(0.1, rng=1, distance=0.3)
    assert gbml.subspace_distance(B0, paper_problem.B_star) == pytest.approx(0.3)
    assert np.allclose(np.sin(gbml.principal_angles(B0, paper_problem.B_star)), 0.3)
    assert np.allclose(0.1 * B0.T @ B0, np.eye(3))


def test_theory_helpers():
    Psi = gbml.paper_head_cov(3, 0.5)
    assert np.allclose(np.linalg.eigvalsh(Psi), [0.25, 1, 1])
    assert gbml.local_rate(0.1, 0.5, Psi) == pytest.approx(1 - 0.05 * 0.25)
    stats = gbml.diversity(Psi=Psi)
    assert stats["mu2"] == pytest.approx(0.25) and stats["kappa"] == pytest.approx(2.0)
    assert gbml.diversity(Psi=gbml.paper_head_cov(3, 0.0))["kappa"] == np.inf
    curve = 0.9 ** np.arange(300)
    assert gbml.measured_rate(curve) == pytest.approx(0.9, abs=1e-12)
    assert gbml.iterations_to(curve, 1e-3) == int(np.ceil(np.log(1e-3) / np.log(0.9)))
    assert gbml.iterations_to(curve, 1e-100) is None


@pytest.mark.parametrize("d0, rate, n", [(1.0, 0.1, 5), (1.0, 0.5, 8), (0.3, 0.9, 4), (2.0, 0.1, 12), (1.0, 0.7, 30)])
def test_iterations_to_counts_a_curve_that_lands_exactly_on_the_tolerance(d0, rate, n):
    """Exact powers: d0 rate^n = tol (as decimals) is reached at n, not n + 1, whether the float curve lands
    a hair above tol (0.1**5 > 1e-5) or exactly on it (0.5**8); a curve clearly above tol is not."""
    tol = float(f"{d0 * rate ** n:.12g}")            # the decimal power, typed as a user would
    curve = d0 * rate ** np.arange(3 * n)
    assert gbml.iterations_to(curve, tol) == n
    assert gbml.iterations_to(np.array([1.0, 0.5, 0.25, 0.125]), 0.25) == 2   # exactly representable
    assert gbml.iterations_to(np.array([1.0, 0.25 * (1 + 1e-6)]), 0.25) is None
    problem = gbml.Problem(10, 2, rng=0, head_mean=[1.0, 0.0], mu=0.5)
    assert np.allclose(problem.Psi, np.diag([2.0, 0.25]))
    heads = problem.sample_heads(200_000, rng=1)
    assert np.allclose(heads.T @ heads / len(heads), problem.Psi, atol=0.02)


def test_non_isotropic_inputs_population_matches_samples():
    """The population loss with input covariance Sigma is the large-sample limit of the sampled loss."""
    A = np.random.default_rng(0).standard_normal((6, 6))
    Sigma = A @ A.T / 6 + 0.2 * np.eye(6)
    problem = gbml.Problem(6, 2, rng=1, input_cov=Sigma)
    heads = problem.sample_heads(3, rng=2)
    pop = problem.tasks(heads)
    smp = problem.tasks(heads, rng=3, m_in=100_000, m_out=100_000)
    X = smp.X_in.reshape(-1, 6)
    assert np.allclose(X.T @ X / len(X), Sigma, atol=0.03)
    B, w = np.random.default_rng(4).standard_normal((6, 2)), np.ones(2)
    for method in ["anil", "maml"]:
        g_pop = gbml.meta_gradient(method, B, w, pop, 0.05)[0]
        g_smp = gbml.meta_gradient(method, B, w, smp, 0.05)[0]
        assert np.linalg.norm(g_pop - g_smp) < 0.05 * np.linalg.norm(g_pop)


def test_model_wider_than_the_truth(paper_problem):
    """B0 with k' = 5 > k = 3 columns: the learned 5-dim column space comes to contain col(B*)."""
    B0 = gbml.random_orthonormal(20, 5, 1) / np.sqrt(0.1)
    h = gbml.train("anil", paper_problem, alpha=0.1, beta=0.5, T=400, n_tasks=20, rng=2, B0=B0)
    assert h.angles.shape == (401, 3) and h.B.shape == (20, 5) and h.w.shape == (5,)
    assert h.distance[-1] < 1e-4


def test_same_int_seed_for_problem_and_run_does_not_start_at_the_solution():
    """A Problem and a run seeded with the same int must not draw B0 = B* (distance 0 from the start)."""
    for seed in range(3):
        problem = gbml.Problem(20, 3, rng=seed)
        h = gbml.train("anil", problem, alpha=0.1, beta=0.5, T=1, n_tasks=5, rng=seed)
        assert h.distance[0] > 0.5


def test_the_training_rounds_call_no_guarded_routine():
    """The kernels call the tasks' unguarded gradient (issue 20): every trainer runs inside a checker's
    forbidden block, where one guarded call in a round would raise, while a learner's tasks.inner.grad
    still raises there."""
    from gbml import _guard, beyond

    problem = gbml.Problem(6, 2, rng=0)
    sizes = dict(alpha=0.1, T=3, n_tasks=4, rng=1, m_in=5, m_out=5)
    with _guard.forbidden(["SampledTasks.inner.grad"]) as calls:
        gbml.train_runs(["anil", "fo-anil", "maml", "fo-maml"], problem, betas=0.5, **sizes)
        gbml.train("avg-loss", problem, beta=0.05, **sizes)
        beyond.train_variants(["anil", "fo-anil", "altmin"], problem, steps=2, beta=0.5, **sizes)
        assert not calls
        with pytest.raises(_guard.ReferenceCalled):
            problem.sample_round(2, 0, m_in=3, m_out=3).inner.grad(np.zeros(6))


def test_the_training_rounds_check_nothing(monkeypatch):
    """Arguments are checked once per run, not every round (issue 20): the calls into gbml._checks do not
    grow with the number of rounds T, for any trainer."""
    import inspect

    from gbml import _checks, beyond

    calls = []

    def counted(name, fn):
        return lambda *args, **kwargs: calls.append(name) or fn(*args, **kwargs)

    for name, fn in inspect.getmembers(_checks, inspect.isfunction):
        if fn.__module__ == _checks.__name__:
            monkeypatch.setattr(_checks, name, counted(name, fn))
    problem = gbml.Problem(6, 2, rng=0)

    def count(T):
        calls.clear()
        sizes = dict(alpha=0.1, T=T, n_tasks=4, rng=1, m_in=5, m_out=5)
        gbml.train_runs(["anil", "fo-anil", "maml", "fo-maml"], problem, betas=0.5, **sizes)
        gbml.train("maml", problem, beta=0.5, **sizes)
        beyond.train_variants(["anil", "fo-anil", "altmin"], problem, steps=2, beta=0.5, **sizes)
        return sorted(calls)

    assert count(20) == count(2) and count(2)
