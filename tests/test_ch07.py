"""Chapters 7 (task diversity) and 8 (finite samples): their propositions, the numerical claims of their
prose, the sweep helper ``gbml.experiments`` and the two coding-exercise checkers.

Already tested elsewhere and cited by chapter 7 rather than repeated here:
* the orthogonal dynamics of FO-ANIL and ANIL (eq-td-orthogonal, proved as prop-anil-orthogonal in chapter 4):
  ``test_core_identities.py::test_fo_anil_orthogonal_dynamics`` and ``::test_exact_anil_orthogonal_dynamics``;
* the head Gram matrix at w = 0 and when it is positive definite (prop-anil-diversity):
  ``test_ch03_ch04.py::test_adapted_head_gram_formula_and_positive_definiteness`` and its neighbours;
* measured vs predicted local rate on a fixed batch for all four methods:
  ``test_core_identities.py::test_local_rate_on_a_fixed_batch``.
"""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml import exercises, experiments

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
#    test_ch03_ch04.py; here the chapter's extra claim: at w = 0 the error E does not enter) -------------

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


# -- alt text quoting numbers is computed (gbml.book.show_figure), static alt text quotes none ------------

def test_show_figure_displays_one_image_with_the_given_alt_text(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    from gbml.book import show_figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0.27])
    show_figure(fig, 'a floor at 0.27 & "quotes"')
    assert len(shown) == 1
    html = shown[0].data
    assert html.startswith('<img src="data:image/png;base64,')
    assert 'alt="a floor at 0.27 &amp; &quot;quotes&quot;"' in html
    assert not plt.fignum_exists(fig.number)            # closed: the inline backend will not show it twice
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alt must be a non-empty"):
        show_figure(fig, "  ")
    plt.close(fig)


def test_static_alt_texts_quote_no_measured_numbers():
    """A figure's alt text in cell metadata is static; one quoting a measured value ("near 0.1", "1e-12",
    "85 degrees") must be built from the values with show_figure instead (issue 11: alt said 0.1, glue 0.27)."""
    import re
    from pathlib import Path

    measured = re.compile(r"\b(about|near|below|above|around|roughly)\s+(minus\s+)?\d"
                          r"|\d(\.\d+)?e-?\d+|\d+\s*(degrees|iterations)")
    chapters = sorted(p for p in (Path(__file__).parent.parent / "chapters").glob("[0-9i]*.md"))
    assert len(chapters) >= 11
    offenders = []
    for path in chapters:
        for block in re.finditer(r"\n  image:\n    alt: \|\n((?:      .*\n)+)", path.read_text()):
            text = " ".join(block.group(1).split())
            if measured.search(text):
                offenders.append(f"{path.name}: {text[:80]}")
    assert not offenders, offenders


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


# -- chapter 8: proposition prop-fs-not-fixed and the fluctuation fact of ex-fs-proof ----------------

def _clean_round(n, m_in, m_out, seed):
    rng = np.random.default_rng(seed)
    problem = gbml.Problem(D, K, rng=rng, mu=1.0, noise_std=0.0)
    heads = problem.sample_heads(n, rng)
    tasks = problem.tasks(heads, rng, m_in=m_in, m_out=m_out)
    Q = gbml.random_orthonormal(K, K, rng)
    return problem, heads, tasks, Q, problem.B_star @ Q / np.sqrt(ALPHA)


def _support_fluctuation(tasks, B_star):
    """M_t = B*^T Sigma_in,t B* - I for every task, (n, k, k), written from the samples directly."""
    Z = tasks.X_in @ B_star
    return np.swapaxes(Z, 1, 2) @ Z / tasks.m_in - np.eye(B_star.shape[1])


def test_solution_step_with_finite_samples_exact():
    """w_t = sqrt(alpha) Q^T (I + M_t) w*_t and E+ = -(beta/n) sum_t P_t M_t w*_t w_t^T at sigma = 0."""
    problem, heads, tasks, Q, B = _clean_round(6, 8, 11, seed=11)
    B_star, perp = problem.B_star, _perp(problem.B_star)
    M = _support_fluctuation(tasks, B_star)
    Zo = tasks.X_out
    P = np.swapaxes(Zo @ perp, 1, 2) @ (Zo @ B_star) / tasks.m_out           # (n, d-k, k)
    w_expected = np.sqrt(ALPHA) * np.einsum("tij,tj->ti", np.eye(K) + M, heads) @ Q
    _, w_t = gbml.adapt("fo-anil", B, np.zeros(K), tasks, ALPHA)
    np.testing.assert_allclose(w_t, w_expected, atol=1e-13)
    grad_B, _ = gbml.meta_gradient("fo-anil", B, np.zeros(K), tasks, ALPHA)
    PMw = np.einsum("taj,tjl,tl->ta", P, M, heads)
    expected = -BETA * PMw.T @ w_expected / len(heads)
    np.testing.assert_allclose(perp.T @ (B - BETA * grad_B), expected, atol=1e-13 * np.abs(expected).max())
    assert np.abs(expected).max() > 1e-3  # not a fixed point


def test_solution_step_with_finite_samples_mean_zero_and_variance():
    """E[E+] = 0 and E||E+||_F^2 = beta^2 (d-k)/(n m_out) E[||M w*||^2 ||w_t||^2] (Monte Carlo, 1000 rounds)."""
    n, m_in, m_out, rounds = 4, 10, 15, 1000
    problem, heads, tasks, Q, B = _clean_round(n * rounds, m_in, m_out, seed=12)
    perp = _perp(problem.B_star)
    _, w_t = gbml.adapt("fo-anil", B, np.zeros(K), tasks, ALPHA)
    q = tasks.outer.grad(w_t @ B.T)
    steps = (-BETA * (q @ perp)[:, :, None] * w_t[:, None, :]).reshape(rounds, n, D - K, K).mean(axis=1)
    second = np.mean(np.sum(steps**2, axis=(1, 2)))
    Mw = np.einsum("tij,tj->ti", _support_fluctuation(tasks, problem.B_star), heads)
    predicted = BETA**2 * (D - K) / (n * m_out) * np.mean(np.sum(Mw**2, 1) * np.sum(w_t**2, 1))
    assert second == pytest.approx(predicted, rel=0.1)
    assert np.linalg.norm(steps.mean(axis=0)) < 0.15 * np.sqrt(second)


def test_sample_covariance_fluctuation():
    """Exercise ex-fs-proof: E||M u||^2 = (p+1)/m ||u||^2 for M = (1/m) sum b b^T - I."""
    rng = np.random.default_rng(13)
    p, m, draws = 3, 10, 40000
    b = rng.standard_normal((draws, m, p))
    M = np.swapaxes(b, 1, 2) @ b / m - np.eye(p)
    u = np.array([0.5, -1.0, 2.0])
    assert np.mean(np.sum((M @ u) ** 2, axis=1)) == pytest.approx((p + 1) / m * (u @ u), rel=0.03)
    assert np.abs(M.mean(axis=0)).max() < 0.01


# -- chapter 8: the claims about the floor ---------------------------------------------------------

@pytest.fixture(scope="module")
def floor():
    """The chapter's measurement (mean distance over the last 90 of 140 rounds from distance 0.3), other seeds."""
    B_star = gbml.random_orthonormal(D, K, 14)
    cache = {}

    def measure(m_in=20, m_out=20, n=20, sigma=0.1, population=False):
        key = (m_in, m_out, n, sigma, population)
        if key not in cache:
            problem = gbml.Problem(D, K, rng=0, mu=1.0, noise_std=sigma, B_star=B_star)
            B0, _ = problem.init(ALPHA, 15, distance=0.3)
            samples = {} if population else {"m_in": m_in, "m_out": m_out}
            h = gbml.train("fo-anil", problem, alpha=ALPHA, beta=BETA, T=140, n_tasks=n, rng=16, B0=B0, **samples)
            cache[key] = float(h.distance[-90:].mean()) if not population else float(h.distance[-1])
        return cache[key]

    return measure


@pytest.mark.parametrize("name, small, large", [("m_in", 5, 40), ("m_out", 5, 40), ("n", 10, 80)])
def test_floor_shrinks_roughly_as_inverse_square_root(floor, name, small, large):
    lo, hi = floor(**{name: small}), floor(**{name: large})
    assert hi < lo
    slope = experiments.loglog_slope([small, large], [lo, hi])
    assert -0.85 < slope < -0.25, f"slope {slope:.2f} for {name}"


def test_floor_is_positive_without_noise_and_grows_with_large_noise(floor):
    assert floor(population=True) < 1e-3
    at_zero = floor(sigma=0.0)
    assert at_zero > 0.01
    assert at_zero == pytest.approx(floor(sigma=0.1), rel=0.2)
    assert floor(sigma=4.0) > 2.5 * at_zero
    slope = experiments.loglog_slope([1.0, 4.0], [floor(sigma=1.0), floor(sigma=4.0)])
    assert 0.6 < slope < 1.3


def test_fo_maml_with_few_samples_and_large_alpha_diverges_fo_anil_does_not():
    """m = 10 < d = 20, alpha = beta = 0.5: FO-MAML blows up in most runs, FO-ANIL in none, population FO-MAML converges."""
    problem = gbml.Problem(D, K, rng=17, mu=1.0, noise_std=0.1)
    settings = dict(alpha=0.5, beta=0.5, T=160, n_tasks=20, m_in=10, m_out=10, on_divergence="stop")
    maml = [gbml.train("fo-maml", problem, rng=s, **settings).diverged_at for s in range(18, 22)]
    anil = [gbml.train("fo-anil", problem, rng=s, **settings).diverged_at for s in range(18, 20)]
    assert sum(x is not None for x in maml) >= 2, maml
    assert anil == [None, None]
    pop = gbml.train("fo-maml", problem, alpha=0.5, beta=0.5, T=160, n_tasks=20, rng=18)
    assert pop.distance[-1] < 1e-6


# -- gbml.experiments -------------------------------------------------------------------------------

def test_grid_points_order_and_errors():
    assert experiments.grid_points({"a": [1, 2], "b": ["x", "y", "z"]}) == [
        {"a": a, "b": b} for a in [1, 2] for b in ["x", "y", "z"]]
    assert experiments.grid_points({"a": np.array([0.5, 1.0])}) == [{"a": 0.5}, {"a": 1.0}]
    with pytest.raises(TypeError, match="non-empty dict"):
        experiments.grid_points({})
    with pytest.raises(TypeError, match="sequence of values"):
        experiments.grid_points({"a": "abc"})
    with pytest.raises(ValueError, match="empty"):
        experiments.grid_points({"a": []})


def test_sweep_keys_order_and_calls():
    calls = []

    def fn(m, sigma):
        calls.append((m, sigma))
        return m * 10 + sigma

    out = experiments.sweep(fn, {"m": [1, 2], "sigma": [3, 4]}, progress=False)
    assert list(out) == [(1, 3), (1, 4), (2, 3), (2, 4)] == calls
    assert out[(2, 3)] == 23
    assert experiments.sweep(lambda m: m**2, {"m": [3, 1]}, progress=False) == {3: 9, 1: 1}
    assert list(experiments.sweep(lambda s: s[0], [("a", 1), ("b", 2)], progress=False).items()) == [
        (("a", 1), "a"), (("b", 2), "b")]


def test_sweep_progress_callback_and_errors():
    seen = []
    experiments.sweep(lambda x: x, [5, 6, 7], progress=lambda done, total, key: seen.append((done, total, key)))
    assert seen == [(1, 3, 5), (2, 3, 6), (3, 3, 7)]
    with pytest.raises(TypeError, match="function"):
        experiments.sweep(3, [1])
    with pytest.raises(ValueError, match="twice"):
        experiments.sweep(lambda x: x, [1, 1], progress=False)
    with pytest.raises(TypeError, match="hashable"):
        experiments.sweep(lambda x: x, [[1], [2]], progress=False)
    with pytest.raises(TypeError, match="progress"):
        experiments.sweep(lambda x: x, [1], progress="yes")
    with pytest.raises(ValueError, match="empty"):
        experiments.sweep(lambda x: x, [], progress=False)


def test_sweep_is_silent_outside_a_live_notebook(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    experiments.sweep(lambda x: x, [1, 2])           # a plain Python process: no kernel
    assert shown == []
    assert experiments._live_notebook() is False


def test_sweep_shows_and_fills_a_progress_bar_in_a_notebook(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda w, *a, **k: shown.append(w))
    monkeypatch.setattr(experiments, "_live_notebook", lambda: True)
    out = experiments.sweep(lambda x: 2 * x, [1, 2, 3], description="demo")
    assert out == {1: 2, 2: 4, 3: 6}
    (box,) = shown
    bar, label = box.children
    assert (bar.value, bar.max, bar.description, bar.bar_style) == (3, 3, "demo", "success")
    assert label.value.startswith("3 / 3 done")


def test_static_book_build_is_silent(monkeypatch):
    class FakeShell:
        pass

    FakeShell.__name__ = "ZMQInteractiveShell"
    monkeypatch.setattr("IPython.get_ipython", lambda: FakeShell())
    monkeypatch.delenv("GBML_EXPLORER", raising=False)
    assert experiments._live_notebook() is True
    monkeypatch.setenv("GBML_EXPLORER", "static")
    assert experiments._live_notebook() is False


def test_loglog_slope():
    x = np.array([5.0, 10, 20, 40])
    assert experiments.loglog_slope(x, 3 / np.sqrt(x)) == pytest.approx(-0.5, abs=1e-12)
    assert experiments.loglog_slope(x, 0.2 * x**1.5) == pytest.approx(1.5, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        experiments.loglog_slope([1, 2], [1, 0])
    with pytest.raises(ValueError, match="two distinct"):
        experiments.loglog_slope([2, 2], [1, 3])


# -- checkers ---------------------------------------------------------------------------------------

def head_gram_ok(B, w, thetas, alpha):
    """Written with a loop over tasks, independently of gbml."""
    heads = [w - alpha * B.T @ (B @ w - theta) for theta in thetas]
    return sum(np.outer(h, h) for h in heads) / len(heads)


def sampled_gradient_ok(B, w, X, y):
    return np.stack([Xt.T @ (Xt @ B @ w - yt) / len(yt) for Xt, yt in zip(X, y)])


CHECKERS = [
    (exercises.check_head_gram, head_gram_ok, [
        (lambda B, w, thetas, alpha: np.outer(w, w), "before adaptation"),
        (lambda B, w, thetas, alpha: (alpha * thetas @ B).T @ (alpha * thetas @ B) / len(thetas), "w = 0 formula"),
        (lambda B, w, thetas, alpha: head_gram_ok(B, w, thetas, -alpha), "descent"),
        (lambda B, w, thetas, alpha: head_gram_ok(B, w, thetas, 1.0), "alpha is missing"),
        (lambda B, w, thetas, alpha: len(thetas) * head_gram_ok(B, w, thetas, alpha), "divide by the number"),
        (lambda B, w, thetas, alpha: np.zeros((len(thetas), len(thetas))), "shape"),
    ]),
    (exercises.check_sampled_inner_gradient, sampled_gradient_ok, [
        (lambda B, w, X, y: X.shape[1] * sampled_gradient_ok(B, w, X, y), "divide X_t^T"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, y) / X.shape[0], "n * m"),
        (lambda B, w, X, y: -sampled_gradient_ok(B, w, X, y), "prediction minus label"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, 0 * y), "labels are missing"),
        (lambda B, w, X, y: np.broadcast_to(sampled_gradient_ok(B, w, X, y).mean(0), (X.shape[0], X.shape[2])),
         "averaged the gradients"),
        (lambda B, w, X, y: sampled_gradient_ok(B, w, X, y) @ B, "shape"),
    ]),
]


@pytest.mark.parametrize("checker, correct, wrongs", CHECKERS, ids=lambda c: getattr(c, "__name__", ""))
def test_checker_accepts_correct_and_explains_mistakes(checker, correct, wrongs):
    ok = checker(correct, quiet=True)
    assert ok and ok.message.startswith("Correct")
    for wrong, hint in wrongs:
        res = checker(wrong, quiet=True)
        assert not res, f"{checker.__name__} accepted a wrong answer ({hint})"
        assert hint in res.message, f"expected a hint about {hint!r}, got: {res.message}"


@pytest.mark.parametrize("checker, name", [(exercises.check_head_gram, "head_gram"),
                                           (exercises.check_sampled_inner_gradient, "sampled_inner_gradient")])
def test_unwritten_exercise_raises_naming_it(checker, name):
    def stub(*args):
        raise NotImplementedError("placeholder")

    with pytest.raises(NotImplementedError, match=rf"Exercise \({name}\)"):
        checker(stub)
