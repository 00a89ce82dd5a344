"""Chapter 1 (gradient-based meta-learning): its [derived] propositions, its worked example and its checker.

Every expected value is computed independently of the code under test: by finite differences of a loss,
by a closed form written out here, or by hand (the exact fractions of the worked example).
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

import gbml
from gbml.book import exercises

METHODS_WITH_INNER_STEP = ["anil", "fo-anil", "maml", "fo-maml"]


def numerical_gradient(f, phi, h=1e-5):
    return np.array([(f(phi + e) - f(phi - e)) / (2 * h) for e in h * np.eye(phi.size)])


# -- prop-meta-chain ---------------------------------------------------------------------------------

def test_chain_rule_on_a_nonlinear_toy_loss():
    """prop-meta-chain for a smooth non-quadratic L_in: grad of L_out(phi - a grad L_in) = (I - a H) grad L_out."""
    rng = np.random.default_rng(11)
    p, alpha = 6, 0.2
    A, b, c = rng.standard_normal((4, p)), rng.standard_normal(p), rng.standard_normal(p)

    def L_in(phi):  # sum of softplus(a_i . phi) + |phi|^4 / 4
        return np.sum(np.logaddexp(0, A @ phi)) + 0.25 * (phi @ phi) ** 2

    def grad_in(phi):
        s = 1 / (1 + np.exp(-(A @ phi)))
        return A.T @ s + (phi @ phi) * phi

    def hess_in(phi):
        s = 1 / (1 + np.exp(-(A @ phi)))
        return A.T @ np.diag(s * (1 - s)) @ A + (phi @ phi) * np.eye(p) + 2 * np.outer(phi, phi)

    def L_out(phi):
        return np.sum(np.cos(phi * b)) + 0.5 * np.sum((phi - c) ** 2)

    def grad_out(phi):
        return -b * np.sin(phi * b) + (phi - c)

    phi = 0.5 * rng.standard_normal(p)
    assert np.allclose(numerical_gradient(L_in, phi), grad_in(phi), atol=1e-8)  # the toy's own derivatives
    assert np.allclose(numerical_gradient(lambda x: grad_in(x) @ b, phi), hess_in(phi) @ b, atol=1e-7)
    phi_t = phi - alpha * grad_in(phi)
    direct = numerical_gradient(lambda x: L_out(x - alpha * grad_in(x)), phi)
    chain = (np.eye(p) - alpha * hess_in(phi)) @ grad_out(phi_t)
    assert np.allclose(direct, chain, atol=1e-8)
    # The first-order direction alone is measurably different: the test can tell the two apart.
    assert np.abs(direct - grad_out(phi_t)).max() > 1e-3


@pytest.mark.parametrize("method", ["maml", "anil"])
def test_chain_rule_in_the_linear_model_with_samples(method):
    """prop-meta-chain with finite samples: FD of the meta-objective = G - alpha * H (restricted) G, all by FD."""
    rng = np.random.default_rng(5)
    d, k, m, alpha = 5, 2, 8, 0.1
    task = gbml.SampledTasks(rng.standard_normal((1, m, d)), rng.standard_normal((1, m)),
                             rng.standard_normal((1, m + 3, d)), rng.standard_normal((1, m + 3)))
    B, w = rng.standard_normal((d, k)) / np.sqrt(d), rng.standard_normal(k)

    def unflat(phi):
        return phi[: d * k].reshape(d, k), phi[d * k:]

    def support(phi):
        B, w = unflat(phi)
        return task.inner.loss(B @ w)[0]

    def query(phi):
        B, w = unflat(phi)
        return task.outer.loss(B @ w)[0]

    phi = np.concatenate([B.ravel(), w])
    adapted = np.ones_like(phi) if method == "maml" else np.r_[np.zeros(d * k), np.ones(k)]  # what moves
    phi_t = phi - alpha * adapted * numerical_gradient(support, phi)
    B_t, w_t = gbml.adapt(method, B, w, task, alpha)
    assert np.allclose(phi_t, np.concatenate([B_t[0].ravel(), w_t[0]]), atol=1e-8)  # inner step
    G = numerical_gradient(query, phi_t)
    v = adapted * G  # Jacobian I - alpha P H, transposed: G - alpha H P G
    eps, nv = 1e-4, np.linalg.norm(v)
    Hv = nv * (numerical_gradient(support, phi + eps * v / nv) - numerical_gradient(support, phi - eps * v / nv)) / (2 * eps)
    chain = G - alpha * Hv
    direct = numerical_gradient(lambda p: gbml.meta_objective(method, *unflat(p), task, alpha), phi)
    assert np.abs(chain - direct).max() < 1e-6
    exact = np.concatenate([g.ravel() for g in gbml.meta_gradient(method, B, w, task, alpha)])
    first_order = np.concatenate([g.ravel() for g in gbml.meta_gradient("fo-" + method, B, w, task, alpha)])
    assert np.abs(exact - chain).max() < 1e-6
    assert np.abs(first_order - G).max() < 1e-7
    assert np.abs(first_order - direct).max() > 1e-4  # the Hessian term is not negligible here


# -- prop-meta-alpha0 --------------------------------------------------------------------------------

def test_alpha_zero_every_method_is_the_average_loss_in_population():
    rng = np.random.default_rng(2)
    d, k, n = 7, 3, 6
    thetas = rng.standard_normal((n, d))
    tasks = gbml.PopulationTasks(thetas, noise_std=0.2)
    B, w = rng.standard_normal((d, k)), rng.standard_normal(k)
    unflat = lambda phi: (phi[: d * k].reshape(d, k), phi[d * k:])  # noqa: E731
    avg = lambda phi: np.mean(0.5 * np.sum((unflat(phi)[0] @ unflat(phi)[1] - thetas) ** 2, axis=1))  # noqa: E731
    want = numerical_gradient(avg, np.concatenate([B.ravel(), w]))
    for method in METHODS_WITH_INNER_STEP + ["avg-loss"]:
        gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha=0.0)
        assert np.allclose(np.concatenate([gB.ravel(), gw]), want, atol=1e-7), method
    # ... and not at alpha > 0 (the test can fail).
    gB, gw = gbml.meta_gradient("anil", B, w, tasks, alpha=0.1)
    assert not np.allclose(np.concatenate([gB.ravel(), gw]), want, atol=1e-3)


def test_alpha_zero_every_method_follows_the_query_loss_with_samples():
    rng = np.random.default_rng(3)
    d, k, n, m_in, m_out = 6, 2, 4, 5, 9
    X_out, y_out = rng.standard_normal((n, m_out, d)), rng.standard_normal((n, m_out))
    tasks = gbml.SampledTasks(rng.standard_normal((n, m_in, d)), rng.standard_normal((n, m_in)), X_out, y_out)
    B, w = rng.standard_normal((d, k)), rng.standard_normal(k)
    unflat = lambda phi: (phi[: d * k].reshape(d, k), phi[d * k:])  # noqa: E731
    query = lambda phi: np.mean(0.5 * np.mean((X_out @ (unflat(phi)[0] @ unflat(phi)[1]) - y_out) ** 2, axis=1))  # noqa: E731
    want = numerical_gradient(query, np.concatenate([B.ravel(), w]))
    for method in METHODS_WITH_INNER_STEP:
        gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha=0.0)
        assert np.allclose(np.concatenate([gB.ravel(), gw]), want, atol=1e-7), method


# -- prop-meta-one-step ------------------------------------------------------------------------------

@pytest.mark.parametrize("d, k, alpha", [(2, 1, 1.0), (6, 2, 0.25), (15, 4, 0.1)])
def test_one_inner_step_finds_the_best_head(d, k, alpha):
    rng = np.random.default_rng(d + k)
    Q = gbml.random_orthonormal(d, k, rng)
    R = np.linalg.qr(rng.standard_normal((k, k)))[0]  # any orthogonal mixing keeps alpha B^T B = I
    B = Q @ R / np.sqrt(alpha)
    assert np.allclose(alpha * B.T @ B, np.eye(k))
    thetas = rng.standard_normal((3, d))
    sigma = 0.3
    tasks = gbml.PopulationTasks(thetas, noise_std=sigma)
    best = np.linalg.lstsq(B, thetas.T, rcond=None)[0].T  # (3, k) least-squares heads
    outside = thetas - thetas @ Q @ Q.T                     # part of theta_t outside col(B)
    for w in (np.zeros(k), rng.standard_normal(k), 10 * rng.standard_normal(k)):
        _, w_t = gbml.adapt("anil", B, w, tasks, alpha)
        assert np.allclose(w_t, best, atol=1e-10)
        loss = gbml.meta_objective("anil", B, w, tasks, alpha)
        assert loss == pytest.approx(np.mean(0.5 * np.sum(outside**2, axis=1)) + 0.5 * sigma**2, abs=1e-12)
    # Without the scaling one step is not the least-squares head (the proposition needs its assumption).
    _, w_t = gbml.adapt("anil", 0.5 * B, rng.standard_normal(k), tasks, alpha)
    assert not np.allclose(w_t, np.linalg.lstsq(0.5 * B, thetas.T, rcond=None)[0].T, atol=1e-3)


# -- the worked example (by hand, exact fractions) ---------------------------------------------------

F = Fraction
BY_HAND = {  # method: (adapted loss, grad_B, grad_w) for B = (1, 1), w = 1, theta = (2, 1), alpha = 1/4
    "avg-loss": (F(1, 2), [F(-1), F(0)], F(-1)),
    "anil": (F(5, 16), [F(-15, 16), F(7, 16)], F(-1, 4)),
    "fo-anil": (F(5, 16), [F(-15, 16), F(5, 16)], F(-1, 2)),
    "maml": (F(65, 512), [F(-105, 256), F(79, 256)], F(-29, 128)),
    "fo-maml": (F(65, 512), [F(-35, 64), F(5, 16)], F(-19, 64)),
}


@pytest.mark.parametrize("method", list(BY_HAND))
def test_worked_example_matches_hand_computation(method):
    B, w, task = np.array([[1.0], [1.0]]), np.array([1.0]), gbml.PopulationTasks(np.array([[2.0, 1.0]]))
    loss, gB, gw = BY_HAND[method]
    got_gB, got_gw = gbml.meta_gradient(method, B, w, task, 0.25)
    assert gbml.meta_objective(method, B, w, task, 0.25) == pytest.approx(float(loss), abs=1e-15)
    assert np.allclose(got_gB.ravel(), [float(g) for g in gB], atol=1e-15, rtol=0)
    assert got_gw[0] == pytest.approx(float(gw), abs=1e-15)


def test_worked_example_residuals_before_and_after_adaptation():
    """The worked example names its residuals: r_t = (-1, 0) before adaptation drives the inner steps and the
    Hessian term; r~_t = (-3/4, 1/4) (ANIL, at (B, w_t)) and r^_t = (-7/16, 1/4) (MAML, at (B_t, w_t)) drive
    the first-order gradients. Putting an adapted residual into the Hessian term gives a wrong gradient."""
    B, w, theta = np.array([[1.0], [1.0]]), np.array([1.0]), np.array([2.0, 1.0])
    task = gbml.PopulationTasks(theta[None])
    r = np.array([-1.0, 0.0])                                                    # by hand
    _, w_anil = gbml.adapt("anil", B, w, task, 0.25)
    B_maml, w_maml = gbml.adapt("maml", B, w, task, 0.25)
    assert w_anil[0, 0] == w_maml[0, 0] == 1.25 == w[0] - 0.25 * (B[:, 0] @ r)  # inner step uses r_t
    np.testing.assert_array_equal(B_maml[0, :, 0], B[:, 0] - 0.25 * r * w[0])   # (5/4, 1), uses r_t
    r_tilde, r_hat = B[:, 0] * 1.25 - theta, B_maml[0, :, 0] * 1.25 - theta
    np.testing.assert_array_equal(r_tilde, [-0.75, 0.25])
    np.testing.assert_array_equal(r_hat, [-7 / 16, 0.25])
    # exact ANIL = G - alpha H(0, G_w): the Hessian's residual is r_t; with r~_t it would be wrong
    G_B, G_w = r_tilde * 1.25, B[:, 0] @ r_tilde                                 # from r~_t

    def exact_anil_body(residual_in_hessian):
        return G_B - 0.25 * (B[:, 0] * G_w * w[0] + residual_in_hessian * G_w)

    got_gB, _ = gbml.meta_gradient("anil", B, w, task, 0.25)
    np.testing.assert_allclose(exact_anil_body(r), got_gB[:, 0], atol=1e-15)     # (-15/16, 7/16)
    assert not np.allclose(exact_anil_body(r_tilde), got_gB[:, 0], atol=1e-3)


def test_worked_exercise_best_step_size():
    """ex-meta-compute: ANIL's adapted loss (1/2)((a-1)^2 + a^2) is minimal at a = 1/2; MAML there is 5/32."""
    B, w, task = np.array([[1.0], [1.0]]), np.array([1.0]), gbml.PopulationTasks(np.array([[2.0, 1.0]]))
    for a in (0.0, 0.2, 0.5, 0.9):
        assert gbml.meta_objective("anil", B, w, task, a) == pytest.approx(0.5 * ((a - 1) ** 2 + a**2))
    assert gbml.meta_objective("maml", B, w, task, 0.5) == pytest.approx(5 / 32)


# -- the checker of ex-meta-code ---------------------------------------------------------------------

def _u(B, w, X, y):
    return X.T @ (X @ B @ w - y) / len(y)


def _query(B_t, w_t, X, y):
    r = X @ B_t @ w_t - y
    return float(r @ r / (2 * len(y)))


def correct(B, w, X_in, y_in, X_out, y_out, alpha):
    u = _u(B, w, X_in, y_in)
    return _query(B - alpha * np.outer(u, w), w - alpha * B.T @ u, X_out, y_out)


def before_adaptation(B, w, X_in, y_in, X_out, y_out, alpha):
    return _query(B, w, X_out, y_out)


def on_support(B, w, X_in, y_in, X_out, y_out, alpha):
    u = _u(B, w, X_in, y_in)
    return _query(B - alpha * np.outer(u, w), w - alpha * B.T @ u, X_in, y_in)


def anil_only(B, w, X_in, y_in, X_out, y_out, alpha):
    return _query(B, w - alpha * B.T @ _u(B, w, X_in, y_in), X_out, y_out)


def body_first(B, w, X_in, y_in, X_out, y_out, alpha):
    u = _u(B, w, X_in, y_in)
    B_t = B - alpha * np.outer(u, w)
    return _query(B_t, w - alpha * B_t.T @ u, X_out, y_out)


def head_first(B, w, X_in, y_in, X_out, y_out, alpha):
    u = _u(B, w, X_in, y_in)
    w_t = w - alpha * B.T @ u
    return _query(B - alpha * np.outer(u, w_t), w_t, X_out, y_out)


def uphill(B, w, X_in, y_in, X_out, y_out, alpha):
    u = _u(B, w, X_in, y_in)
    return _query(B + alpha * np.outer(u, w), w + alpha * B.T @ u, X_out, y_out)


def sum_not_mean(B, w, X_in, y_in, X_out, y_out, alpha):
    u = X_in.T @ (X_in @ B @ w - y_in)
    return _query(B - alpha * np.outer(u, w), w - alpha * B.T @ u, X_out, y_out)


def no_half(B, w, X_in, y_in, X_out, y_out, alpha):
    return 2 * correct(B, w, X_in, y_in, X_out, y_out, alpha)


def query_sum(B, w, X_in, y_in, X_out, y_out, alpha):
    return len(y_out) * correct(B, w, X_in, y_in, X_out, y_out, alpha)


@pytest.mark.parametrize("wrong, phrase", [
    (before_adaptation, "before adaptation"),
    (on_support, "support data"),
    (anil_only, "ANIL's objective"),
    (body_first, "adapted body B_t in the head's inner step"),
    (head_first, "adapted head w_t in the body's inner step"),
    (uphill, "uphill"),
    (sum_not_mean, "divide X_in^T (X_in B w - y_in) by m_in"),
    (no_half, "factor 1/2 is missing"),
    (query_sum, "divide by m_out"),
])
def test_maml_objective_checker_names_the_mistake(wrong, phrase, capsys):
    result = exercises.check_maml_objective(wrong)
    assert not result
    assert phrase in result.message
    assert phrase in capsys.readouterr().out


def test_maml_objective_checker_accepts_a_correct_answer_and_reports_others():
    assert exercises.check_maml_objective(correct, quiet=True)
    slightly_off = exercises.check_maml_objective(lambda *a: 1.001 * correct(*a), quiet=True)
    assert not slightly_off and "values differ" in slightly_off.message
    forgot_return = exercises.check_maml_objective(lambda *a: None, quiet=True)
    assert not forgot_return and "return" in forgot_return.message


def test_maml_objective_checker_says_an_unwritten_exercise_is_not_written():
    def stub(B, w, X_in, y_in, X_out, y_out, alpha):
        raise NotImplementedError("Exercise 'The MAML objective in code' (maml_objective) is not written yet")

    res = exercises.check_maml_objective(stub, quiet=True)
    assert not res and "(maml_objective) is not written yet" in res.message


def test_inner_step_explorer_markers_meet_at_the_origin():
    """Chapter 1's explorer (d = 2, k = 1, B = (1, 0), w = 0.5, |theta| = 1.5): at 90 degrees and
    alpha = 1, ANIL's and MAML's adapted predictions are both the origin, the best point of col(B) (worked
    by hand: w' = 0.5 - alpha * 0.5 = 0, so B' w' = 0); at other alpha ANIL stays on the axis off it."""
    B, w = np.array([[1.0], [0.0]]), np.array([0.5])
    task = gbml.PopulationTasks(np.array([[0.0, 1.5]]))
    for method in ("anil", "maml"):
        B_t, w_t = gbml.adapt(method, B, w, task, 1.0)
        assert np.allclose(B_t[0] @ w_t[0], 0.0, atol=1e-15)
    B_t, w_t = gbml.adapt("anil", B, w, task, 0.6)
    assert np.allclose(B_t[0] @ w_t[0], [0.2, 0.0])  # 0.5 - 0.6 * 0.5
