"""Every bad input gets a ValueError/TypeError naming the parameter and what is accepted."""
import numpy as np
import pytest

import gbml

B = np.ones((6, 2)) + np.eye(6, 2)
W = np.ones(2)
TASKS = gbml.PopulationTasks(np.zeros((3, 6)))


@pytest.mark.parametrize(
    "call, exc, pattern",
    [
        (lambda: gbml.Problem(3, 4, rng=0), ValueError, r"k must be <= d"),
        (lambda: gbml.Problem(0, 1, rng=0), ValueError, r"d must be an integer >= 1"),
        (lambda: gbml.Problem(5.5, 1, rng=0), TypeError, r"d must be an integer"),
        (lambda: gbml.Problem(5, 2, rng="seed"), TypeError, r"rng must be an int seed or a numpy.random.Generator"),
        (lambda: gbml.Problem(5, 2, rng=0, mu=1.5), ValueError, r"mu must lie in \[0, 1\]"),
        (lambda: gbml.Problem(5, 2, rng=0, mu=0.5, head_cov=np.eye(2)), ValueError, r"either mu or head_cov"),
        (lambda: gbml.Problem(5, 2, rng=0, head_cov=[[1, 2], [0, 1]]), ValueError, r"head_cov must be symmetric positive semi-definite"),
        (lambda: gbml.Problem(5, 2, rng=0, head_cov=[[1, 0], [0, -1]]), ValueError, r"head_cov must be symmetric positive semi-definite \(smallest eigenvalue"),
        (lambda: gbml.Problem(5, 2, rng=0, head_cov=np.eye(3)), ValueError, r"head_cov has shape \(3, 3\)"),
        (lambda: gbml.Problem(5, 2, rng=0, B_star=np.ones((5, 2))), ValueError, r"B_star must have orthonormal columns"),
        (lambda: gbml.Problem(5, 2, rng=0, noise_std=-1), ValueError, r"noise_std must be >= 0"),
        (lambda: gbml.meta_gradient("reptile", B, W, TASKS, 0.1), ValueError, r"method must be one of 'anil', 'fo-anil', 'maml', 'fo-maml', 'avg-loss'"),
        (lambda: gbml.meta_gradient("anil", B, W, TASKS, -0.1), ValueError, r"alpha must be >= 0"),
        (lambda: gbml.meta_gradient("anil", B, np.ones(3), TASKS, 0.1), ValueError, r"w has shape \(3,\), but axis 0 must have length 2"),
        (lambda: gbml.meta_gradient("anil", np.ones((5, 2)), W, TASKS, 0.1), ValueError, r"B has shape \(5, 2\), but axis 0 must have length 6"),
        (lambda: gbml.meta_gradient("anil", np.ones((6, 7)), np.ones(7), TASKS, 0.1), ValueError, r"k <= d"),
        (lambda: gbml.meta_gradient("anil", B * np.nan, W, TASKS, 0.1), ValueError, r"B must contain only finite values"),
        (lambda: gbml.meta_gradient("anil", B, W, np.zeros((3, 6)), 0.1), TypeError, r"tasks must be a gbml.PopulationTasks or gbml.SampledTasks"),
        (lambda: gbml.PopulationTasks(np.zeros(6)), ValueError, r"thetas must have 2 axes"),
        (lambda: gbml.SampledTasks(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.zeros((2, 5, 3)), np.zeros((2, 5))), ValueError, r"X_out has shape \(2, 5, 3\), but axis 2 must have length 4"),
        (lambda: gbml.SampledTasks(np.zeros((2, 3, 4)), np.zeros((2, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5))), ValueError, r"y_in has shape \(2, 4\), but axis 1 must have length 3"),
        (lambda: gbml.subspace_distance(np.ones((4, 2)), np.eye(4, 2)), ValueError, r"B must have full column rank"),
        (lambda: gbml.subspace_distance(np.eye(4, 2), np.eye(5, 2)), ValueError, r"same number of rows"),
        (lambda: gbml.local_rate(0.1, 0, np.eye(2)), ValueError, r"beta must be > 0"),
        (lambda: gbml.random_orthonormal(3, 4, 0), ValueError, r"k must be <= d"),
    ],
)
def test_bad_input_is_named(call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()


@pytest.mark.parametrize(
    "kwargs, exc, pattern",
    [
        (dict(beta=0.0), ValueError, r"beta must be > 0"),
        (dict(beta=-1.0), ValueError, r"beta must be > 0"),
        (dict(alpha=-0.1), ValueError, r"alpha must be >= 0"),
        (dict(T=-1), ValueError, r"T must be an integer >= 0"),
        (dict(n_tasks=0), ValueError, r"n_tasks must be an integer >= 1"),
        (dict(n_tasks=2.5), TypeError, r"n_tasks must be an integer"),
        (dict(m_in=5), ValueError, r"give both m_in and m_out"),
        (dict(m_in=0, m_out=3), ValueError, r"m_in must be an integer >= 1"),
        (dict(method="sgd"), ValueError, r"method must be one of"),
        (dict(on_divergence="ignore"), ValueError, r"on_divergence must be 'raise' or 'stop'"),
        (dict(B0=np.ones((6, 2))), ValueError, r"B0 has shape \(6, 2\), but axis 0 must have length 8"),
        (dict(alpha=0.0), ValueError, r"alpha = 0 needs an explicit B0"),
        (dict(rng=None), TypeError, r"rng must be an int seed"),
    ],
)
def test_train_bad_input(kwargs, exc, pattern):
    problem = gbml.Problem(8, 2, rng=0)
    args = dict(method="anil", alpha=0.1, beta=0.5, T=3, n_tasks=2, rng=1) | kwargs
    method = args.pop("method")
    with pytest.raises(exc, match=pattern):
        gbml.train(method, problem, **args)


def test_train_needs_a_problem():
    with pytest.raises(TypeError, match="problem must be a gbml.Problem"):
        gbml.train("anil", "problem", alpha=0.1, beta=0.1, T=1, n_tasks=1, rng=0)
