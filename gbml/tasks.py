"""The tasks of one round: infinite-sample (population) or finite samples with a support/query split.

Every method needs, per task, only the gradient of the loss in the prediction ``v = B w`` (chapter 2) and,
for the exact methods, the input covariance applied to vectors: in population ``L_t(v) = 1/2 ||v -
theta_t||^2 + sigma^2/2`` and ``grad(v) = v - theta_t``; for samples ``(X, y)`` with m rows ``L(v) =
1/(2m) ||X v - y||^2``, ``grad(v) = X^T (X v - y) / m`` and ``cov(V) = X^T X V / m`` (never formed).
"""
from __future__ import annotations

import functools

import numpy as np

from . import _checks, _guard

__all__ = ["PopulationTasks", "SampledTasks"]


def _forward(X, V):
    """``X_t v_t`` for stacked X (n, m, d) and V (n, d) or one shared v (d,) -> (n, m); a leading axis of
    runs, V (R, n, d) or (R, 1, d), gives (R, n, m)."""
    if V.ndim == 1:
        return X @ V  # one matrix-vector product over all n*m rows
    return (X @ V[..., None])[..., 0]


def _backward(X, R):
    """``X_t^T r_t`` for stacked X (n, m, d) and R (n, m) -> (n, d) (or (R, n, m) -> (R, n, d))."""
    return (R[..., None, :] @ X)[..., 0, :]


class _Samples:
    """Finite data of n tasks: X (n, m, d), y (n, m)."""

    def __init__(self, X, y):
        self.X, self.y = X, y
        self.m = X.shape[1]

    def _grad(self, V):
        """``X_t^T (X_t v_t - y_t) / m`` for each task; V is (n, d) or (d,)."""
        return _backward(self.X, _forward(self.X, V) - self.y) / self.m

    # The learner's entry point is guarded (an exercise asks for it); the kernels call the unguarded _grad.
    grad = _guard.reference("SampledTasks.inner.grad")(_grad)

    def _grad_and_loss(self, V):
        """``grad(V)`` and ``loss(V)`` from one residual ``X_t v_t - y_t`` (the training loops need both)."""
        residual = _forward(self.X, V) - self.y
        return _backward(self.X, residual) / self.m, 0.5 * ((residual**2).sum(axis=-1) / self.m)  # np.mean's sum / m

    def cov(self, V):
        """``X_t^T X_t v_t / m`` for each task."""
        return _backward(self.X, _forward(self.X, V)) / self.m

    def loss(self, V):
        """Per-task loss ``||X_t v_t - y_t||^2 / (2m)``, shape (n,)."""
        return self._grad_and_loss(V)[1]


class _Population:
    """Infinite data of n tasks: regressors thetas (n, d), noise level sigma, input covariance Sigma (None:
    the identity); the loss is ``1/2 (v - theta)^T Sigma (v - theta) + sigma^2/2``."""

    def __init__(self, thetas, noise_std, input_cov=None):
        self.thetas, self.noise_std, self.input_cov = thetas, noise_std, input_cov

    def cov(self, V):
        return V if self.input_cov is None else V @ self.input_cov

    def grad(self, V):
        return self.cov(V - self.thetas)

    _grad = grad

    def loss(self, V):
        return self._grad_and_loss(V)[1]

    def _grad_and_loss(self, V):
        """``grad(V)`` and ``loss(V)`` from one error ``E = V - theta`` (the training loops need both)."""
        E = V - self.thetas
        grad = self.cov(E)
        return grad, 0.5 * (E * grad).sum(axis=-1) + 0.5 * self.noise_std**2


class _Tasks:
    @classmethod
    def _trusted(cls, *args):
        """The tasks without the argument checks and copies, for ``Problem.round_drawer``'s fresh, checked,
        read-only arrays (a training loop makes one per round)."""
        self = cls.__new__(cls)
        self._set(*args)
        return self


class PopulationTasks(_Tasks):
    """Infinite-sample tasks of one round: the regressors ``theta_t = B* w*_t`` (n, d; real; copied), the
    label noise sigma (in population it only adds ``sigma^2/2`` to each loss) and the inputs' covariance
    (d, d; default: the identity, as in the paper)."""

    def __init__(self, thetas, noise_std: float = 0.0, input_cov=None):
        self.thetas = _checks.array("thetas", thetas, 2, copy=True)  # a read-only copy: never the caller's
        self.noise_std = _checks.real("noise_std", noise_std, low=0.0)
        if input_cov is not None:
            input_cov = _checks.psd_matrix("input_cov", input_cov, self.thetas.shape[1], copy=True)
        self._set(self.thetas, self.noise_std, input_cov)

    def _set(self, thetas, noise_std, input_cov):
        self.thetas, self.noise_std, self.input_cov = thetas, noise_std, input_cov
        self.n, self.d = thetas.shape
        # Support, query and pooled data are the same distribution in population.
        self.inner = self.outer = self.pooled = _Population(thetas, noise_std, input_cov)

    def __repr__(self):
        return f"PopulationTasks(n={self.n}, d={self.d}, noise_std={self.noise_std})"


class SampledTasks(_Tasks):
    """Finite samples of one round, split into support (inner) and query (outer) sets: ``X_in`` (n, m_in, d),
    ``y_in`` (n, m_in), ``X_out`` (n, m_out, d) and ``y_out`` (n, m_out), real, every size >= 1 (copied)."""

    def __init__(self, X_in, y_in, X_out, y_out):
        X_in = _checks.array("X_in", X_in, 3, copy=True)
        n, m_in, d = X_in.shape
        y_in = _checks.array("y_in", y_in, 2, (n, m_in), copy=True)
        X_out = _checks.array("X_out", X_out, 3, (n, None, d), copy=True)
        y_out = _checks.array("y_out", y_out, 2, (n, X_out.shape[1]), copy=True)
        self._set(X_in, y_in, X_out, y_out)

    def _set(self, X_in, y_in, X_out, y_out):
        self.X_in, self.y_in, self.X_out, self.y_out = X_in, y_in, X_out, y_out
        self.n, self.m_in, self.d = X_in.shape
        self.m_out = X_out.shape[1]
        self.inner, self.outer = _Samples(X_in, y_in), _Samples(X_out, y_out)

    @functools.cached_property
    def pooled(self):
        """All m_in + m_out samples of each task, which the average-loss baseline trains on."""
        return _Samples(np.concatenate([self.X_in, self.X_out], axis=1),
                        np.concatenate([self.y_in, self.y_out], axis=1))

    def __repr__(self):
        return f"SampledTasks(n={self.n}, d={self.d}, m_in={self.m_in}, m_out={self.m_out})"
