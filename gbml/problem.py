"""The multi-task linear representation problem (book chapter 2; Collins et al. 2022, Section 2).

Inputs ``x ~ N(0, I_d)``, a ground-truth representation ``B*`` (d x k, orthonormal columns), task heads
``w*_t ~ N(head_mean, head_cov)`` drawn independently, labels ``y = <B* w*_t, x> + z`` with
``z ~ N(0, noise_std^2)``.  Task diversity is measured by ``Psi = E[w* w*^T]``.
"""
from __future__ import annotations

import numpy as np

from . import _checks
from .geometry import random_orthonormal
from .tasks import PopulationTasks, SampledTasks

__all__ = ["Problem", "paper_head_cov"]


def paper_head_cov(k: int, mu: float) -> np.ndarray:
    """The simulations' head covariance ``diag(1, ..., 1, mu^2)``: lambda_min = mu^2, lambda_max = 1."""
    k = _checks.positive_int("k", k)
    mu = _checks.real("mu", mu, low=0.0)
    if mu > 1:
        raise ValueError(f"mu must lie in [0, 1] (it sets lambda_min(Psi) = mu^2 <= 1), got {mu}")
    cov = np.eye(k)
    cov[-1, -1] = mu**2
    return cov


def _sqrt_psd(M):
    """A square root R with R R^T = M, from the eigendecomposition (works when M is singular)."""
    vals, vecs = np.linalg.eigh(M)
    return vecs * np.sqrt(np.clip(vals, 0.0, None))


class Problem:
    """A distribution over regression tasks that share the representation ``B*``.

    Parameters
    ----------
    d, k : int
        Ambient and representation dimensions, ``1 <= k <= d``.
    rng : int or numpy.random.Generator
        Draws ``B*`` (unless ``B_star`` is given); an int seed gets a stream of its own, so that
        ``Problem(rng=s)`` and ``train(..., rng=s)`` never draw the same numbers.
    mu : float in [0, 1], optional
        Diversity as in the paper's simulations: ``head_cov = diag(1, ..., 1, mu^2)``.
        Give ``mu`` or ``head_cov``, not both; with neither, ``mu = 1`` (``head_cov = I``).
    head_cov, head_mean : arrays (k, k) symmetric positive semi-definite and (k,), optional
        Covariance and mean (default 0) of the heads.
    noise_std : float >= 0
        Label noise sigma.
    B_star : array (d, k), optional
        Ground truth with orthonormal columns; drawn at random if omitted.
    input_cov : array (d, d), optional
        Covariance of the inputs ``x``; the identity (the paper's setting) if omitted.
    """

    def __init__(self, d, k, rng, *, mu=None, head_cov=None, head_mean=None, noise_std=0.0, B_star=None,
                 input_cov=None):
        self.d = _checks.positive_int("d", d)
        self.k = _checks.positive_int("k", k)
        if self.k > self.d:
            raise ValueError(f"k must be <= d (the representation is lower-dimensional), got k={k}, d={d}")
        if mu is not None and head_cov is not None:
            raise ValueError("give either mu or head_cov, not both")
        # B*, its draw and an input covariance (d x d) must fit in memory: refuse before allocating.
        _checks.fits(f"Problem(d={self.d}, k={self.k})", 3 * self.d * self.k + (0 if input_cov is None else 3 * self.d**2))
        if head_cov is None:
            head_cov = paper_head_cov(self.k, 1.0 if mu is None else mu)
        # Read-only copies: mutating the caller's arrays afterwards cannot desynchronise Psi and the draws.
        self.head_cov = _checks.psd_matrix("head_cov", head_cov, self.k, copy=True)
        self.head_mean = np.zeros(self.k) if head_mean is None else _checks.array(
            "head_mean", head_mean, 1, (self.k,), copy=True)
        self.noise_std = _checks.real("noise_std", noise_std, low=0.0)
        if B_star is None:  # from a stream of the seed of its own (see rng)
            B_star = random_orthonormal(self.d, self.k, _checks.as_rng(rng, stream=1))
            B_star.setflags(write=False)
        else:
            B_star = _checks.orthonormal("B_star", _checks.array("B_star", B_star, 2, (self.d, self.k), copy=True))
        self.B_star = B_star
        self._cov_root = _sqrt_psd(self.head_cov)
        self.input_cov = None if input_cov is None else _checks.psd_matrix("input_cov", input_cov, self.d, copy=True)
        self._input_root = None if input_cov is None else _sqrt_psd(self.input_cov)

    @property
    def Psi(self) -> np.ndarray:
        """Second moment of the heads ``E[w* w*^T] = head_cov + head_mean head_mean^T``."""
        return self.head_cov + np.outer(self.head_mean, self.head_mean)

    def sample_heads(self, n, rng) -> np.ndarray:
        """Draw n heads ``w*_t``, shape (n, k)."""
        n = _checks.positive_int("n", n)
        _checks.fits(f"sample_heads(n={n})", 2 * n * self.k)
        z = _checks.as_rng(rng).standard_normal((n, self.k))
        return self.head_mean + z @ self._cov_root.T

    def tasks(self, heads, rng=None, *, m_in=None, m_out=None):
        """The tasks of one round for given heads (n, k): population tasks if ``m_in`` and ``m_out`` are None
        (``rng`` unused), else ``m_in`` support and ``m_out`` query samples per task, drawn from ``rng``."""
        heads = _checks.array("heads", heads, 2, (None, self.k))
        m_in, m_out = self._sizes(len(heads), m_in, m_out)
        if m_in is not None and rng is None:
            raise TypeError("rng is required to draw finite samples (an int seed or a numpy Generator)")
        rng = None if rng is None else _checks.as_rng(rng)
        return self._draw(heads @ self.B_star.T, rng, m_in, m_out)

    def sample_round(self, n, rng, *, m_in=None, m_out=None):
        """Fresh tasks: draw n heads and (if ``m_in``, ``m_out`` are given) their data."""
        rng = _checks.as_rng(rng)
        return self.tasks(self.sample_heads(n, rng), rng, m_in=m_in, m_out=m_out)

    def round_drawer(self, n, rng, *, m_in=None, m_out=None):
        """A function drawing one round of fresh tasks per call: the same draws as calling
        ``sample_round(n, rng, m_in=m_in, m_out=m_out)`` again and again, with the arguments checked once."""
        n = _checks.positive_int("n", n)
        rng = _checks.as_rng(rng)
        _checks.fits(f"sample_heads(n={n})", 2 * n * self.k)
        m_in, m_out = self._sizes(n, m_in, m_out)
        root, B_star_t = self._cov_root.T, self.B_star.T

        def draw():  # heads as sample_heads draws them, then their tasks
            heads = self.head_mean + rng.standard_normal((n, self.k)) @ root
            return self._draw(heads @ B_star_t, rng, m_in, m_out, checked=False)
        return draw

    def _sizes(self, n, m_in, m_out):
        """Checked sample sizes: (None, None) for population, else two ints >= 1 whose data fits in memory."""
        if m_in is None and m_out is None:
            return None, None
        if m_in is None or m_out is None:
            raise ValueError("give both m_in and m_out (finite samples) or neither (population)")
        m_in, m_out = _checks.positive_int("m_in", m_in), _checks.positive_int("m_out", m_out)
        _checks.fits(f"tasks with n={n}, m_in={m_in}, m_out={m_out}, d={self.d}",
                     3 * n * (m_in + m_out) * (self.d + 1))
        return m_in, m_out

    def _draw(self, thetas, rng, m_in, m_out, checked=True):
        """The tasks of the regressors ``thetas`` (n, d): population, or samples drawn from ``rng``.  Every
        array is fresh and read-only, so the tasks keep it without a copy (``checked=False``: nor a check)."""
        n = len(thetas)
        thetas.setflags(write=False)
        if m_in is None:
            make = PopulationTasks if checked else PopulationTasks._trusted
            return make(thetas, self.noise_std, self.input_cov)
        data = []
        for m in (m_in, m_out):  # support and query sets, drawn independently
            X = rng.standard_normal((n, m, self.d))
            if self._input_root is not None:
                X = X @ self._input_root.T
            y = (X @ thetas[:, :, None])[:, :, 0] + self.noise_std * rng.standard_normal((n, m))
            X.setflags(write=False)
            y.setflags(write=False)
            data += [X, y]
        return (SampledTasks if checked else SampledTasks._trusted)(*data)

    def init(self, alpha, rng, *, distance=None):
        """The theory's initialisation: ``w_0 = 0`` and ``B_0 = Q / sqrt(alpha)`` (so alpha B_0^T B_0 = I).

        ``Q`` is a uniformly random orthonormal basis (``distance=None``), or one whose column space is at
        exactly ``distance`` in [0, 1) from ``col(B*)`` (every principal angle ``arcsin(distance)``);
        ``alpha >= numpy.finfo(float).tiny``, so that ``1 / alpha`` is finite.
        """
        alpha = _checks.real("alpha", alpha, low=0.0, strict_low=True)
        if alpha < np.finfo(float).tiny:
            raise ValueError(f"alpha must be at least {np.finfo(float).tiny:.3g} (the smallest normal float; B0 = "
                             f"Q / sqrt(alpha) and B0^T B0 = I / alpha must stay finite), got {alpha:g}")
        rng = _checks.as_rng(rng)
        if distance is None:
            Q = random_orthonormal(self.d, self.k, rng)
        else:
            distance = _checks.real("distance", distance, low=0.0)
            if distance >= 1 or self.d < 2 * self.k:
                raise ValueError("distance must lie in [0, 1) and needs d >= 2k to be set exactly; "
                                 f"got distance={distance}, d={self.d}, k={self.k}")
            # A random orthonormal basis of the orthogonal complement of col(B*), rotated in.
            G = rng.standard_normal((self.d, self.k))
            G -= self.B_star @ (self.B_star.T @ G)
            perp, _ = np.linalg.qr(G)
            Q = np.sqrt(1 - distance**2) * self.B_star + distance * perp
        return Q / np.sqrt(alpha), np.zeros(self.k)

    def __repr__(self):
        return f"Problem(d={self.d}, k={self.k}, lambda(Psi)={np.round(np.linalg.eigvalsh(self.Psi), 4).tolist()}, noise_std={self.noise_std})"
