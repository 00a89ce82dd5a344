"""Small shared fixtures for the core and chapter tests (no conftest, so helper modules stay explicit)."""
import numpy as np
import pytest

import gbml


def random_point(d, k, rng):
    """A generic (B, w): B far from orthonormal, w non-zero."""
    rng = np.random.default_rng(rng)
    B = rng.standard_normal((d, k)) * rng.uniform(0.3, 1.5, size=k)
    return B, rng.standard_normal(k)


def population(n, d, rng):
    return gbml.PopulationTasks(np.random.default_rng(rng).standard_normal((n, d)), noise_std=0.3)


def sampled(n, d, m_in, m_out, rng):
    rng = np.random.default_rng(rng)
    return gbml.SampledTasks(
        rng.standard_normal((n, m_in, d)), rng.standard_normal((n, m_in)),
        rng.standard_normal((n, m_out, d)), rng.standard_normal((n, m_out)),
    )


def numerical_gradient(f, B, w, h=1e-5):
    """Central finite differences of a scalar f(B, w)."""
    gB = np.zeros_like(B)
    for idx in np.ndindex(B.shape):
        E = np.zeros_like(B)
        E[idx] = h
        gB[idx] = (f(B + E, w) - f(B - E, w)) / (2 * h)
    gw = np.zeros_like(w)
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = h
        gw[i] = (f(B, w + e) - f(B, w - e)) / (2 * h)
    return gB, gw


def rel_err(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300)


def avg_gradient(B, w, thetas):
    """Written independently of gbml: the average of the per-task gradients of the average loss."""
    gB, gw = np.zeros_like(B), np.zeros_like(w)
    for theta in thetas:
        r = B @ w - theta
        gB += np.outer(r, w)
        gw += B.T @ r
    return gB / len(thetas), gw / len(thetas)


def failure_message(check, fn):
    """The message of a checker that must reject fn."""
    result = check(fn, quiet=True)
    assert not result.passed
    return result.message


def assert_checker_explains(checker, correct, wrongs):
    """The checker accepts ``correct`` and rejects every ``(wrong, hint)`` with a message naming the hint."""
    ok = checker(correct, quiet=True)
    assert ok and ok.message.startswith("Correct")
    for wrong, hint in wrongs:
        res = checker(wrong, quiet=True)
        assert not res, f"{checker.__name__} accepted a wrong answer ({hint})"
        assert hint in res.message, f"expected a hint about {hint!r}, got: {res.message}"


def assert_stub_is_named(checker, name):
    """On a student's unwritten stub the checker says, without raising, that the named exercise is not written."""
    def stub(*args):
        raise NotImplementedError("placeholder")

    res = checker(stub, quiet=True)
    assert not res and f"({name}) is not written yet" in res.message


def complex_step_gradient(objective, B, w, h=1e-30):
    """Gradient of a real-analytic ``objective(B, w)`` by complex steps, exact to rounding:
    ``Im f(x + i h e_j) / h`` for every entry of B and w."""
    B, w = B.astype(complex), w.astype(complex)
    grads = []
    for x in (B, w):
        g = np.zeros(x.shape)
        for idx in np.ndindex(x.shape):
            x[idx] += 1j * h
            g[idx] = objective(B, w).imag / h
            x[idx] -= 1j * h
        grads.append(g)
    return tuple(grads)


def solution_body(problem, rng, alpha):
    """A ground-truth body: col(B) = col(B*) and alpha B^T B = I."""
    return problem.B_star @ gbml.random_orthonormal(problem.k, problem.k, rng) / np.sqrt(alpha)


def perp_basis(B_star):
    """An orthonormal basis of col(B*)^perp."""
    return np.linalg.svd(B_star, full_matrices=True)[0][:, B_star.shape[1]:]
