"""The [derived] propositions of chapter 2, checked numerically against independent computations."""
from __future__ import annotations

import numpy as np
import pytest

import gbml


def test_population_loss_is_half_squared_error_plus_noise():
    """prop-lr-population-loss: E[(<Bw,x> - y)^2]/2 = |Bw - theta|^2/2 + sigma^2/2 for x ~ N(0, I)."""
    rng = np.random.default_rng(0)
    d, k, sigma, m = 8, 2, 0.4, 400_000
    B_star = gbml.random_orthonormal(d, k, rng)
    theta = B_star @ rng.standard_normal(k)
    B, w = rng.standard_normal((d, k)), rng.standard_normal(k)
    X = rng.standard_normal((m, d))
    y = X @ theta + sigma * rng.standard_normal(m)
    mc = 0.5 * np.mean((X @ (B @ w) - y) ** 2)
    closed = 0.5 * np.sum((B @ w - theta) ** 2) + 0.5 * sigma**2
    assert mc == pytest.approx(closed, rel=0.01)
    # The sample mean has standard error ~ closed * sqrt(2/m); a wrong formula (no noise term) is far off.
    assert abs(mc - (closed - 0.5 * sigma**2)) > 10 * closed * np.sqrt(2 / m)


@pytest.mark.parametrize("d, k", [(5, 1), (10, 3), (30, 5)])
def test_distance_forms_agree_and_are_invariant(d, k):
    """prop-lr-distance-forms: sin(largest angle) = sqrt(1 - s_min^2) = |QQ^T - B*B*^T|_2; invariance."""
    rng = np.random.default_rng(d * k)
    for _ in range(20):
        B = rng.standard_normal((d, k))
        Bs = gbml.random_orthonormal(d, k, rng)
        Q = np.linalg.svd(B, full_matrices=False)[0]
        forms = [
            gbml.subspace_distance(B, Bs),
            np.sqrt(max(0.0, 1 - np.linalg.svd(Q.T @ Bs, compute_uv=False).min() ** 2)),
            np.linalg.norm(Q @ Q.T - Bs @ Bs.T, 2),
            np.sin(gbml.principal_angles(B, Bs)[-1]),
        ]
        assert np.ptp(forms) < 1e-10
        assert 0 <= forms[0] <= 1
        R = rng.standard_normal((k, k)) + 3 * np.eye(k)
        assert gbml.subspace_distance(B @ R, Bs) == pytest.approx(forms[0], abs=1e-10)
    assert gbml.subspace_distance(Bs @ R, Bs) < 1e-10


def test_random_subspaces_are_far():
    """prop-lr-random-far: E[QQ^T] = (k/d) I and E[dist] >= E[dist^2] >= 1 - k/d."""
    rng = np.random.default_rng(3)
    d, k, draws = 12, 3, 4000
    Bs = gbml.random_orthonormal(d, k, rng)
    P = np.zeros((d, d))
    dists = []
    for _ in range(draws):
        Q = gbml.random_orthonormal(d, k, rng)
        P += Q @ Q.T / draws
        dists.append(gbml.subspace_distance(Q, Bs))
    assert np.abs(P - k / d * np.eye(d)).max() < 0.03
    dists = np.array(dists)
    assert dists.mean() >= (dists**2).mean() >= 1 - k / d
