"""subspace_distance and principal_angles: range, invariances and equivalent forms."""
import numpy as np
import pytest

import gbml


def _orth(d, k, seed):
    return gbml.random_orthonormal(d, k, seed)


@pytest.mark.parametrize("seed", range(5))
def test_equivalent_forms(seed):
    rng = np.random.default_rng(seed)
    B_star = _orth(10, 3, 100 + seed)
    B = rng.standard_normal((10, 3))
    Q, _ = np.linalg.qr(B)
    dist = gbml.subspace_distance(B, B_star)
    cos_min = np.linalg.svd(Q.T @ B_star, compute_uv=False).min()
    assert dist == pytest.approx(np.sqrt(1 - cos_min**2), abs=1e-12)
    assert dist == pytest.approx(np.linalg.norm(Q @ Q.T - B_star @ B_star.T, 2), abs=1e-12)
    assert dist == pytest.approx(np.sin(gbml.principal_angles(B, B_star).max()), abs=1e-12)
    assert 0 <= dist <= 1


def test_invariance_and_extremes():
    rng = np.random.default_rng(0)
    B_star = _orth(8, 2, 1)
    B = rng.standard_normal((8, 2))
    R = rng.standard_normal((2, 2)) + 3 * np.eye(2)
    assert gbml.subspace_distance(B @ R, B_star) == pytest.approx(gbml.subspace_distance(B, B_star), abs=1e-12)
    assert gbml.subspace_distance(B_star @ R, B_star) < 1e-12
    perp = np.linalg.qr(np.hstack([B_star, rng.standard_normal((8, 2))]))[0][:, 2:]
    assert gbml.subspace_distance(perp, B_star) == pytest.approx(1.0)
    assert np.allclose(gbml.principal_angles(perp, B_star), np.pi / 2)


def test_small_angles_are_accurate():
    """arccos alone would return ~1e-8 here; the angle is 1e-12."""
    B_star = _orth(6, 2, 2)
    perp = np.linalg.qr(np.hstack([B_star, np.eye(6)[:, :2]]))[0][:, 2:]
    B = B_star + 1e-12 * perp
    assert gbml.principal_angles(B, B_star) == pytest.approx([1e-12, 1e-12], rel=1e-6)
    assert gbml.subspace_distance(B, B_star) == pytest.approx(1e-12, rel=1e-6)


def test_random_subspace_is_far_when_k_much_smaller_than_d():
    B_star = _orth(200, 3, 3)
    dists = [gbml.subspace_distance(_orth(200, 3, s), B_star) for s in range(10, 30)]
    assert min(dists) > 0.95


def test_wider_model_has_min_k_angles():
    B_star = _orth(10, 2, 4)
    B = np.hstack([B_star, _orth(10, 2, 5)])
    assert gbml.principal_angles(B, B_star) == pytest.approx([0, 0], abs=1e-12)
    assert gbml.subspace_distance(B, B_star) < 1e-12
