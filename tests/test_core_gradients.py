"""meta_gradient against finite differences of the meta-objective, and the first-order surrogates
against an independent per-task transcription of their definition (chapters 4 to 6)."""
import numpy as np
import pytest

import gbml
from helpers_core import numerical_gradient, population, random_point, rel_err, sampled

def _non_isotropic():
    A = np.random.default_rng(11).standard_normal((7, 7))
    return gbml.PopulationTasks(np.random.default_rng(12).standard_normal((6, 7)), 0.1, A @ A.T / 7 + 0.1 * np.eye(7))


CASES = {
    "population": lambda: population(n=6, d=7, rng=1),
    "population-non-isotropic": _non_isotropic,
    "sampled": lambda: sampled(n=5, d=7, m_in=4, m_out=9, rng=2),
}


def _explicit_objective(method, B, w, tasks, alpha):
    """The meta-objective written task by task from the definition, without gbml's vectorised code."""
    total = 0.0
    for t in range(tasks.n):
        if isinstance(tasks, gbml.PopulationTasks):
            theta = tasks.thetas[t]
            S = np.eye(tasks.d) if tasks.input_cov is None else tasks.input_cov  # E[x x^T]

            def loss(v, theta=theta, S=S):
                return 0.5 * (v - theta) @ S @ (v - theta) + 0.5 * tasks.noise_std**2

            def grad(v, theta=theta, S=S):
                return S @ (v - theta)

            loss_in = loss_out = loss
            grad_in = grad
        else:
            Xi, yi, Xo, yo = tasks.X_in[t], tasks.y_in[t], tasks.X_out[t], tasks.y_out[t]
            if method == "avg-loss":
                Xi, yi = np.vstack([Xi, Xo]), np.concatenate([yi, yo])

            def loss_in(v, X=Xi, y=yi):
                return 0.5 * np.mean((X @ v - y) ** 2)

            def grad_in(v, X=Xi, y=yi):
                return X.T @ (X @ v - y) / len(y)

            def loss_out(v, X=Xo, y=yo):
                return 0.5 * np.mean((X @ v - y) ** 2)

        if method == "avg-loss":
            total += loss_in(B @ w)
            continue
        r = grad_in(B @ w)
        Bt = B - alpha * np.outer(r, w) if method == "maml" else B
        wt = w - alpha * B.T @ r
        total += loss_out(Bt @ wt)
    return total / tasks.n


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["anil", "maml", "avg-loss"])
@pytest.mark.parametrize("alpha", [0.05, 0.4])
def test_exact_gradient_matches_finite_differences(case, method, alpha):
    tasks = CASES[case]()
    B, w = random_point(tasks.d, 3, rng=3)
    gB, gw = gbml.meta_gradient(method, B, w, tasks, alpha)
    nB, nw = numerical_gradient(lambda B_, w_: _explicit_objective(method, B_, w_, tasks, alpha), B, w)
    assert rel_err(gB, nB) < 1e-7
    assert rel_err(gw, nw) < 1e-7


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["anil", "maml", "avg-loss"])
def test_meta_objective_matches_the_definition(case, method):
    tasks = CASES[case]()
    B, w = random_point(tasks.d, 3, rng=4)
    assert gbml.meta_objective(method, B, w, tasks, 0.3) == pytest.approx(
        _explicit_objective(method, B, w, tasks, 0.3), rel=1e-12
    )


def _first_order_reference(method, B, w, tasks, alpha):
    """FO surrogates per task: G_B = dL_out/dB_t = q w_t^T and G_w = B_t^T q at the adapted point."""
    GB, Gw = np.zeros_like(B), np.zeros_like(w)
    Bts, wts = gbml.adapt(method, B, w, tasks, alpha)
    for t in range(tasks.n):
        v = Bts[t] @ wts[t]
        if isinstance(tasks, gbml.PopulationTasks):
            q = (v - tasks.thetas[t]) @ (np.eye(tasks.d) if tasks.input_cov is None else tasks.input_cov)
        else:
            X, y = tasks.X_out[t], tasks.y_out[t]
            q = X.T @ (X @ v - y) / len(y)
        GB += np.outer(q, wts[t]) / tasks.n
        Gw += Bts[t].T @ q / tasks.n
    return GB, Gw


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("method", ["fo-anil", "fo-maml"])
def test_first_order_surrogates(case, method):
    tasks = CASES[case]()
    B, w = random_point(tasks.d, 3, rng=5)
    gB, gw = gbml.meta_gradient(method, B, w, tasks, 0.3)
    rB, rw = _first_order_reference(method, B, w, tasks, 0.3)
    assert rel_err(gB, rB) < 1e-12 and rel_err(gw, rw) < 1e-12
    # ... and they are genuinely different from the exact gradient (the second-order term is not zero).
    eB, ew = gbml.meta_gradient(method.removeprefix("fo-"), B, w, tasks, 0.3)
    assert rel_err(gB, eB) > 1e-2 and rel_err(gw, ew) > 1e-2


def test_adaptation_changes_the_loss():
    """Guard against the learn2learn bug: 'adapted' must not silently equal 'not adapted'."""
    tasks = population(n=6, d=7, rng=1)
    B, w = random_point(7, 3, rng=6)
    for method in ["anil", "maml"]:
        assert gbml.meta_objective(method, B, w, tasks, 0.1) != pytest.approx(
            gbml.meta_objective("avg-loss", B, w, tasks, 0.1), rel=1e-3
        )
    Bt, wt = gbml.adapt("anil", B, w, tasks, 0.1)
    assert np.all(Bt == B) and not np.allclose(wt, w)
    Bt, _ = gbml.adapt("maml", B, w, tasks, 0.1)
    assert not np.allclose(Bt, B)


def test_avg_loss_is_alpha_zero_of_every_method_in_population():
    tasks = population(n=6, d=7, rng=1)
    B, w = random_point(7, 3, rng=7)
    ref = gbml.meta_gradient("avg-loss", B, w, tasks, 0.5)
    for method in ["anil", "fo-anil", "maml", "fo-maml"]:
        got = gbml.meta_gradient(method, B, w, tasks, 0.0)
        assert rel_err(got[0], ref[0]) < 1e-14 and rel_err(got[1], ref[1]) < 1e-14


def test_avg_loss_on_samples_uses_support_and_query():
    tasks = sampled(n=5, d=7, m_in=4, m_out=9, rng=2)
    B, w = random_point(7, 3, rng=8)
    gB, _ = gbml.meta_gradient("avg-loss", B, w, tasks, 0.1)
    support_only = gbml.SampledTasks(tasks.X_in, tasks.y_in, tasks.X_in, tasks.y_in)
    gB_support, _ = gbml.meta_gradient("avg-loss", B, w, support_only, 0.1)
    assert rel_err(gB, gB_support) > 1e-2
