"""Chapter 7's global argument for FO-ANIL (thm-global-fo-anil and its lemmas), exact ANIL's closed form, and
the core helpers it added (gbml.split_body, gbml.global_bound).

Every expected value is computed here, independently of the code under test: FO-ANIL's step and the closed
system are written out below from the book's equations, and the theorem's bounds from its formulas.
"""
from __future__ import annotations

import numpy as np
import pytest

import gbml

D = 9


def _sqrtm(P):
    lam, V = np.linalg.eigh(P)
    return (V * np.sqrt(lam)) @ V.T


def _symmetric_heads(Psi):
    """2k heads +-sqrt(k) Psi^(1/2) e_i, each next to its negative (mean zero, second moment Psi)."""
    k = len(Psi)
    root = np.sqrt(k) * _sqrtm(Psi)
    heads = np.empty((2 * k, k))
    heads[0::2], heads[1::2] = root, -root
    return heads


def _fo_anil_step(B, w, heads, B_star, alpha, beta):
    """One population FO-ANIL round, written from the definitions (not gbml's code)."""
    thetas = heads @ B_star.T
    w_t = w - alpha * (B @ w - thetas) @ B
    r_t = w_t @ B.T - thetas
    return B - beta * r_t.T @ w_t / len(heads), w - beta * (r_t @ B).mean(axis=0)


def _closed(A, E, Psi, alpha, beta):
    I = np.eye(len(A))
    return A + alpha * beta * (I - alpha * A @ A.T) @ Psi @ A, E @ (I - alpha**2 * beta * A.T @ Psi @ A)


def _parts(B, B_star):
    U = np.linalg.svd(B_star, full_matrices=True)[0][:, B_star.shape[1]:]
    return B_star.T @ B, U.T @ B, U


def _spectrum(Psi, alpha, A):
    """Eigenvalues of W = alpha Psi^1/2 A A^T Psi^1/2 (ascending), via singular values (accurate at the bottom)."""
    return np.sort(np.linalg.svd(np.sqrt(alpha) * _sqrtm(Psi) @ A, compute_uv=False)) ** 2


def _dist(B, B_star):
    Q = np.linalg.qr(B)[0]
    return np.linalg.norm(B_star - Q @ (Q.T @ B_star), 2)


def _psi(kind, k, rng):
    if kind == "isotropic":
        return 0.7 * np.eye(k)
    lam = {"graded": np.geomspace(1.0, 0.25, k), "ill": np.geomspace(2.0, 0.02, k)}[kind]
    Q = np.linalg.qr(rng.standard_normal((k, k)))[0]
    return (Q * lam) @ Q.T


def _start(kind, k, alpha, B_star, rng):
    """B0 with 0 < alpha A0^T A0 <= I."""
    d = B_star.shape[0]
    _, _, U = _parts(B_star, B_star)
    if kind == "near":  # alpha B0^T B0 = I at distance 1e-3: the lemmas are nearly tight
        G = B_star @ np.linalg.qr(rng.standard_normal((k, k)))[0] + 1e-3 * U @ rng.standard_normal((d - k, k))
        return np.linalg.qr(G)[0] / np.sqrt(alpha)
    if kind == "random":  # alpha B0^T B0 = I, random subspace
        return np.linalg.qr(rng.standard_normal((d, k)))[0] / np.sqrt(alpha)
    # off-scale: inside part with singular values in [0.05, 1] (one equal to 1), large error
    s = np.concatenate([[1.0], rng.uniform(0.05, 1.0, k - 1)])
    A0 = np.linalg.qr(rng.standard_normal((k, k)))[0] @ np.diag(s) @ np.linalg.qr(rng.standard_normal((k, k)))[0]
    E0 = rng.standard_normal((d - k, k))
    return (B_star @ A0 + U @ (3 * E0 / np.linalg.norm(E0, 2))) / np.sqrt(alpha)


# -- lem-gl-closed, eq-gl-drift, eq-gl-anil against gbml -------------------------------------------------

@pytest.mark.parametrize("k", [1, 2, 3])
def test_closed_system_and_zero_head(k):
    rng = np.random.default_rng(k)
    B_star = gbml.random_orthonormal(D, k, rng)
    problem = gbml.Problem(D, k, rng=rng, B_star=B_star)
    Psi = _psi("graded", k, rng)
    B = 2 * rng.standard_normal((D, k))
    alpha, beta = 0.3, 0.7
    grad_B, grad_w = gbml.meta_gradient("fo-anil", B, np.zeros(k), problem.tasks(_symmetric_heads(Psi)), alpha)
    assert np.all(grad_w == 0.0)  # the rounding of each head and of its negative cancels exactly
    A, E, _ = _parts(B, B_star)
    A1, E1, _ = _parts(B - beta * grad_B, B_star)
    A_pred, E_pred = _closed(A, E, Psi, alpha, beta)
    np.testing.assert_allclose(A1, A_pred, atol=1e-12 * np.abs(B).max())
    np.testing.assert_allclose(E1, E_pred, atol=1e-12 * np.abs(B).max())
    # the written-out step agrees as well
    B_mine, w_mine = _fo_anil_step(B, np.zeros(k), _symmetric_heads(Psi), B_star, alpha, beta)
    np.testing.assert_allclose(B_mine, B - beta * grad_B, atol=1e-12)
    assert np.abs(w_mine).max() < 1e-12


def test_head_drift_on_a_batch_with_nonzero_mean():
    rng = np.random.default_rng(11)
    problem = gbml.Problem(D, 3, rng=rng)
    heads = problem.sample_heads(7, rng)
    B = 2 * rng.standard_normal((D, 3))
    alpha, beta = 0.2, 0.4
    _, grad_w = gbml.meta_gradient("fo-anil", B, np.zeros(3), problem.tasks(heads), alpha)
    A = problem.B_star.T @ B
    expected = beta * (np.eye(3) - alpha * B.T @ B) @ A.T @ heads.mean(axis=0)
    np.testing.assert_allclose(-beta * grad_w, expected, rtol=1e-10)
    assert np.linalg.norm(expected) > 1


def test_exact_anil_closed_form_and_zero_head():
    rng = np.random.default_rng(12)
    k = 3
    B_star = gbml.random_orthonormal(D, k, rng)
    problem = gbml.Problem(D, k, rng=rng, B_star=B_star)
    Psi = _psi("ill", k, rng)
    B = 2 * rng.standard_normal((D, k))
    alpha, beta = 0.1, 0.5
    grad_B, grad_w = gbml.meta_gradient("anil", B, np.zeros(k), problem.tasks(_symmetric_heads(Psi)), alpha)
    assert np.abs(grad_w).max() < 1e-12
    A, E, _ = _parts(B, B_star)
    A1, E1, _ = _parts(B - beta * grad_B, B_star)
    A_fo, E_fo = _closed(A, E, Psi, alpha, beta)
    A_pred = A_fo + alpha * beta * Psi @ A @ (np.eye(k) - alpha * B.T @ B)
    np.testing.assert_allclose(A1, A_pred, atol=1e-12 * np.abs(B).max())
    np.testing.assert_allclose(E1, E_fo, atol=1e-12 * np.abs(B).max())


# -- the lemmas and the theorem, over a grid -------------------------------------------------------------

GRID = [(psi, k, alpha, step, start)
        for psi in ["isotropic", "graded", "ill"]
        for k in [1, 3]
        for alpha in [0.05, 1.0, 5.0]
        for step in [0.05, 1 / 3]
        for start in ["near", "random", "offscale"]
        if not (k == 1 and psi == "ill")]


@pytest.mark.parametrize("psi, k, alpha, step, start", GRID)
def test_lemmas_and_theorem_along_the_closed_system(psi, k, alpha, step, start):
    """lem-gl-upper, lem-gl-lower, lem-gl-contract, lem-gl-distance and thm-global-fo-anil (all four parts and
    the sharper bound) along 150 rounds of the closed system, with the step at the theorem's limit 1/3
    included (a ratio of 1 means the bound is attained)."""
    rng = np.random.default_rng(GRID.index((psi, k, alpha, step, start)))
    B_star = np.linalg.qr(rng.standard_normal((D, k)))[0]
    Psi = _psi(psi, k, rng)
    lam = np.linalg.eigvalsh(Psi)
    beta = step / (alpha * lam[-1])
    eta = alpha * beta
    B0 = _start(start, k, alpha, B_star, rng)
    A, E, _ = _parts(B0, B_star)
    assert np.linalg.eigvalsh(alpha * A.T @ A)[-1] <= 1 + 1e-12
    W0 = _spectrum(Psi, alpha, A)
    ell, h = min(W0[0], lam[0]), max(W0[-1], lam[-1])  # the book's ell and h
    assert h == pytest.approx(lam[-1]) and eta * h <= 1 / 3 + 1e-12
    rho, C, E0 = 1 - eta * ell, np.sqrt(alpha * lam[-1] / ell) * np.linalg.norm(E, 2), np.linalg.norm(E, 2)
    ell_s, product = ell, 1.0
    tol = 1e-10
    for t in range(1, 151):
        W = _spectrum(Psi, alpha, A)
        h_t, l_t = max(W[-1], lam[-1]), min(W[0], lam[0])
        A1, E1 = _closed(A, E, Psi, alpha, beta)
        W1 = _spectrum(Psi, alpha, A1)
        assert W1[-1] <= h_t * (1 - eta * (h_t - lam[-1])) ** 2 * (1 + tol)              # lem-gl-upper
        assert W1[0] >= l_t * (1 + eta * (lam[0] - l_t)) ** 2 * (1 - tol)                 # lem-gl-lower
        assert np.linalg.norm(E1, 2) <= (1 - eta * W[0]) * np.linalg.norm(E, 2) * (1 + tol) + 1e-300  # contract
        assert ell * (1 - tol) <= W1[0] and W1[-1] <= h * (1 + tol)                     # theorem, part 2
        inside = np.linalg.eigvalsh(alpha * A1.T @ A1)
        assert ell / lam[-1] * (1 - tol) <= inside[0] and inside[-1] <= h / lam[0] * (1 + tol)
        product *= 1 - eta * ell_s
        ell_s = ell_s * (1 + eta * (lam[0] - ell_s)) ** 2
        assert W1[0] >= ell_s * (1 - tol)                                               # sharper bound
        A, E = A1, E1
        t_F = np.linalg.norm(E @ np.linalg.inv(A), 2)
        dist = t_F / np.sqrt(1 + t_F**2)
        assert t_F <= np.sqrt(alpha * lam[-1] / W1[0]) * np.linalg.norm(E, 2) * (1 + tol)  # lem-gl-distance
        assert np.linalg.norm(E, 2) <= rho**t * E0 * (1 + tol)                           # theorem, part 3
        assert dist <= C * rho**t * (1 + tol)                                           # theorem, part 4
        assert dist <= np.sqrt(alpha * lam[-1] / ell_s) * E0 * product * (1 + tol)
    if start == "near" and psi == "isotropic":  # nearly tight: the contraction bound is almost attained
        assert np.linalg.norm(E, 2) / (E0 * rho**150) > 0.9


@pytest.mark.parametrize("psi", ["isotropic", "graded", "ill"])
@pytest.mark.parametrize("start", ["random", "offscale"])
def test_gbml_runs_obey_the_theorem(psi, start):
    """gbml.train's FO-ANIL keeps w = 0 exactly and stays inside every bound of the theorem (step at 1/3)."""
    k, alpha = 3, 0.1
    rng = np.random.default_rng(len(psi) * 7 + len(start))
    B_star = gbml.random_orthonormal(D, k, rng)
    Psi = _psi(psi, k, rng)
    lam = np.linalg.eigvalsh(Psi)
    beta = 1 / (3 * alpha * lam[-1])
    problem = gbml.Problem(D, k, rng=rng, B_star=B_star, head_cov=Psi)
    B0 = _start(start, k, alpha, B_star, rng)
    run = gbml.train("fo-anil", problem, alpha=alpha, beta=beta, T=120, n_tasks=2 * k, rng=rng,
                     pool=_symmetric_heads(Psi), B0=B0, snapshot_every=1)
    assert np.all(run.head_norm == 0.0)
    A0, E0, _ = _parts(B0, B_star)
    W0 = _spectrum(Psi, alpha, A0)
    ell, h = min(W0[0], lam[0]), max(W0[-1], lam[-1])  # the book's ell and h
    rho, C = 1 - alpha * beta * ell, np.sqrt(alpha * lam[-1] / ell) * np.linalg.norm(E0, 2)
    for t, B in enumerate(run.snapshots):
        W = _spectrum(Psi, alpha, B_star.T @ B)
        assert ell * (1 - 1e-10) <= W[0] and W[-1] <= h * (1 + 1e-10)
        bound = C * rho**t
        if bound > 1e-6:
            assert run.distance[t] <= bound * (1 + 1e-9)
            assert _dist(B, B_star) <= bound * (1 + 1e-9)
    assert run.distance[-1] < run.distance[0]


def test_exact_anil_leaves_the_bounds_from_an_off_scale_start_while_fo_anil_converges():
    """The chapter's claim: from starts with a large error exact ANIL loses the representation (its body step
    sees E), FO-ANIL recovers it."""
    k, alpha = 3, 0.1
    rng = np.random.default_rng(21)
    B_star = gbml.random_orthonormal(20, k, rng)
    Psi = np.diag([1.0, 0.5, 0.25])
    problem = gbml.Problem(20, k, rng=rng, B_star=B_star, head_cov=Psi)
    heads = _symmetric_heads(Psi)
    for _ in range(3):
        B0 = _start("offscale", k, alpha, B_star, rng)
        runs = {m: gbml.train(m, problem, alpha=alpha, beta=1 / (3 * alpha), T=200, n_tasks=2 * k, rng=rng,
                              pool=heads, B0=B0, on_divergence="stop") for m in ["anil", "fo-anil"]}
        assert runs["anil"].diverged_at is not None or runs["anil"].distance[-1] > 0.5
        assert runs["fo-anil"].diverged_at is None and runs["fo-anil"].distance[-1] < 1e-4


def test_fresh_batches_at_the_step_limit_can_diverge():
    """With fresh (non-symmetric) batches the theorem does not apply: at alpha beta psi_max = 1/3 the head
    drifts and FO-ANIL diverges; at a third of that step it converges (the chapter's runs)."""
    k, alpha = 3, 0.1
    rng = np.random.default_rng(5)
    problem = gbml.Problem(20, k, rng=rng, head_cov=np.diag([1.0, 0.5, 0.25]))
    B0, _ = problem.init(alpha, rng, distance=0.99)
    fast = gbml.train("fo-anil", problem, alpha=alpha, beta=1 / (3 * alpha), T=200, n_tasks=20, rng=rng,
                      B0=B0, on_divergence="stop")
    slow = gbml.train("fo-anil", problem, alpha=alpha, beta=0.1 / alpha, T=200, n_tasks=20, rng=rng,
                      B0=B0, on_divergence="stop")
    assert fast.diverged_at is not None
    assert slow.diverged_at is None and slow.distance[-1] < 0.1 and slow.head_norm.max() > 0


# -- the core helpers --------------------------------------------------------------------------------------

def test_split_body_reassembles_and_is_basis_free():
    rng = np.random.default_rng(31)
    B_star = gbml.random_orthonormal(D, 3, rng)
    B = rng.standard_normal((D, 3))
    A, E = gbml.split_body(B, B_star)
    _, _, U = _parts(B, B_star)
    np.testing.assert_allclose(B_star @ A + U @ E, B, atol=1e-13)
    np.testing.assert_allclose(A, B_star.T @ B, atol=1e-14)
    np.testing.assert_allclose(E.T @ E, B.T @ B - A.T @ A, atol=1e-12)
    with pytest.raises(ValueError, match="B_star must have orthonormal columns"):
        gbml.split_body(B, 2 * B_star)
    with pytest.raises(ValueError, match="B has shape"):
        gbml.split_body(B[:-1], B_star)


@pytest.mark.parametrize("delta", [1e-3, 0.5, 0.9])
def test_global_bound_constants_by_hand(delta):
    """Psi = diag(1, 0.25), alpha B0^T B0 = I with both angles equal to arcsin(delta): W0 = (1 - delta^2) Psi,
    so ell = 0.25 (1 - delta^2), h = 1 (key "u"), rho = 1 - alpha beta ell and C = delta sqrt(1 / ell) (by hand)."""
    alpha, beta = 0.5, 0.6
    problem = gbml.Problem(8, 2, rng=3, head_cov=np.diag([1.0, 0.25]))
    B0, _ = problem.init(alpha, 4, distance=delta)
    out = gbml.global_bound(alpha, beta, problem.Psi, B0, problem.B_star, T=3)
    ell = 0.25 * (1 - delta**2)
    assert out["ell"] == pytest.approx(ell, rel=1e-10)
    assert out["u"] == pytest.approx(1.0, rel=1e-12)
    assert out["rho"] == pytest.approx(1 - 0.3 * ell, rel=1e-12)
    assert out["C"] == pytest.approx(delta / np.sqrt(ell), rel=1e-9)
    assert out["step"] == pytest.approx(0.3) and out["step_ok"]
    ell1 = ell * (1 + 0.3 * (0.25 - ell)) ** 2
    assert out["ell_t"][1] == pytest.approx(ell1, rel=1e-12)
    assert out["refined"][1] == pytest.approx(delta / np.sqrt(ell1) * (1 - 0.3 * ell), rel=1e-9)
    assert not gbml.global_bound(alpha, 0.7, problem.Psi, B0, problem.B_star)["step_ok"]  # 0.35 > 1/3


def test_global_bound_refuses_what_the_theorem_does_not_cover():
    problem = gbml.Problem(8, 2, rng=3)
    B0, _ = problem.init(0.5, 4)
    with pytest.raises(ValueError, match="Psi must be positive definite"):
        gbml.global_bound(0.5, 0.5, np.diag([1.0, 0.0]), B0, problem.B_star)
    singular = B0.copy()
    singular -= problem.B_star @ (problem.B_star.T @ singular)  # A0 = 0: distance 1
    with pytest.raises(ValueError, match="invertible inside part"):
        gbml.global_bound(0.5, 0.5, np.eye(2), singular, problem.B_star)
    with pytest.raises(ValueError, match="Psi must be k x k"):
        gbml.global_bound(0.5, 0.5, np.eye(3), B0, problem.B_star)
    with pytest.raises(ValueError, match="beta must be > 0"):
        gbml.global_bound(0.5, 0.0, np.eye(2), B0, problem.B_star)


# -- lem-gl-head: the head's zero is invariant, not stable ---------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
def test_head_step_from_any_head(seed):
    """eq-gl-head: w+ = (I - beta/alpha G (I - G)) w + beta (I - G) A^T wbar with G = alpha B^T B, against the
    FO-ANIL step written out above (any w, any batch)."""
    rng = np.random.default_rng(40 + seed)
    k = 3
    B_star = gbml.random_orthonormal(D, k, rng)
    heads = rng.standard_normal((5, k)) + rng.standard_normal(k)
    B = rng.uniform(0.3, 3) * rng.standard_normal((D, k))
    w = rng.standard_normal(k)
    alpha, beta = rng.uniform(0.05, 1), rng.uniform(0.05, 1)
    _, w_next = _fo_anil_step(B, w, heads, B_star, alpha, beta)
    G, I = alpha * B.T @ B, np.eye(k)
    expected = w - beta / alpha * G @ (I - G) @ w + beta * (I - G) @ (B_star.T @ B).T @ heads.mean(axis=0)
    np.testing.assert_allclose(w_next, expected, atol=1e-12 * np.abs(expected).max())
    # and gbml agrees
    problem = gbml.Problem(D, k, rng=rng, B_star=B_star)
    _, grad_w = gbml.meta_gradient("fo-anil", B, w, problem.tasks(heads), alpha)
    np.testing.assert_allclose(w - beta * grad_w, expected, atol=1e-12 * np.abs(expected).max())


def test_a_nudged_head_diverges_from_an_off_scale_start():
    """The chapter's claim: on the mean-zero batch, from an off-scale start (alpha B^T B far above I, where
    eq-gl-head multiplies a head by up to thousands), a head of 1e-12 makes FO-ANIL diverge; the unnudged run
    converges."""
    k, alpha = 3, 0.1
    rng = np.random.default_rng(23)
    B_star = gbml.random_orthonormal(20, k, rng)
    Psi = np.diag([1.0, 0.5, 0.25])
    problem = gbml.Problem(20, k, rng=rng, B_star=B_star, head_cov=Psi)
    B0 = _start("offscale", k, alpha, B_star, rng)
    beta = 1 / (3 * alpha)
    gamma = np.linalg.eigvalsh(alpha * B0.T @ B0)
    assert np.abs(1 - beta / alpha * gamma * (1 - gamma)).max() > 100
    runs = {w0: gbml.train("fo-anil", problem, alpha=alpha, beta=beta, T=200, n_tasks=2 * k, rng=1,
                           pool=_symmetric_heads(Psi), B0=B0, w0=np.full(k, w0), on_divergence="stop")
            for w0 in [0.0, 1e-12]}
    assert runs[0.0].diverged_at is None and runs[0.0].distance[-1] < 1e-4
    assert runs[1e-12].diverged_at is not None


def test_global_bound_step_exactly_at_the_limit():
    """beta = 1 / (3 alpha h) computed in floating point is at the theorem's limit, not beyond it."""
    problem = gbml.Problem(8, 2, rng=3, head_cov=np.diag([1.0, 0.3]))
    for alpha in [0.1, 0.3, 0.7, 3.0]:
        B0, _ = problem.init(alpha, 4, distance=0.5)
        out = gbml.global_bound(alpha, 1 / (3 * alpha * 1.0), problem.Psi, B0, problem.B_star)
        assert out["step"] == pytest.approx(1 / 3) and out["step_ok"]
        assert not gbml.global_bound(alpha, 1.001 / (3 * alpha), problem.Psi, B0, problem.B_star)["step_ok"]
