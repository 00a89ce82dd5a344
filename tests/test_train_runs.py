"""gbml.train_runs: several runs vectorised over a leading axis equal the same runs of gbml.train, one by one."""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml import _kernels

FOUR = ["anil", "fo-anil", "maml", "fo-maml"]
FIELDS = ("distance", "angles", "loss", "head_norm", "orth_error", "B", "w")


def reference(method, problem, beta, **kw):
    """train's own loop, one round at a time (a custom gradient keeps train from delegating to train_runs)."""
    return gbml.train(method, problem, beta=beta, on_divergence="stop",
                      gradient=lambda B, w, tasks, alpha: gbml.meta_gradient(method, B, w, tasks, alpha), **kw)


def one_by_one(methods, problem, betas, **kw):
    return [reference(m, problem, b, **kw) for m, b in zip(methods, betas)]


def assert_same_runs(batched, single, rtol=1e-12):
    for h, ref in zip(batched, single, strict=True):
        assert (h.method, h.beta, h.diverged_at) == (ref.method, ref.beta, ref.diverged_at)
        for field in FIELDS:
            np.testing.assert_allclose(getattr(h, field), getattr(ref, field), rtol=rtol, atol=1e-12,
                                       err_msg=f"{h.method}: {field}")
        assert h.settings == ref.settings


@pytest.mark.parametrize("beta", [0.5, 1.5])  # at 1.5 FO-ANIL and FO-MAML diverge, the exact methods do not
def test_four_methods_at_once_equal_four_runs_of_train(beta):
    problem = gbml.Problem(20, 3, rng=0)
    kw = dict(alpha=0.1, T=120, n_tasks=20, rng=1)
    batched = gbml.train_runs(FOUR, problem, betas=beta, **kw)
    single = one_by_one(FOUR, problem, [beta] * 4, **kw)
    assert_same_runs(batched, single)
    if beta == 1.5:
        assert [h.diverged_at is not None for h in batched] == [False, True, False, True]


def test_each_run_its_own_step_start_and_head():
    problem = gbml.Problem(12, 2, rng=3, mu=0.6, noise_std=0.2)
    rng = np.random.default_rng(4)
    B0 = np.stack([problem.init(0.1, rng)[0] for _ in range(3)])
    w0 = rng.standard_normal((3, 2))
    methods, betas = ["avg-loss", "anil", "maml"], [0.05, 0.5, 0.25]
    kw = dict(alpha=0.1, T=60, n_tasks=7, rng=5)
    batched = gbml.train_runs(methods, problem, betas=betas, B0=B0, w0=w0, **kw)
    single = [reference(m, problem, b, B0=B0[i], w0=w0[i], **kw) for i, (m, b) in enumerate(zip(methods, betas))]
    assert_same_runs(batched, single)


def test_finite_samples_pool_and_a_wider_model():
    problem = gbml.Problem(15, 2, rng=6)
    kw = dict(alpha=0.1, T=50, n_tasks=6, rng=7, m_in=8, m_out=9, pool=12)
    assert_same_runs(gbml.train_runs(["fo-anil", "maml"], problem, betas=0.4, **kw),
                     one_by_one(["fo-anil", "maml"], problem, [0.4, 0.4], **kw))
    B0 = np.random.default_rng(8).standard_normal((15, 4)) / np.sqrt(0.1) / np.sqrt(15)
    kw = dict(alpha=0.1, T=40, n_tasks=10, rng=9, B0=B0)
    assert_same_runs(gbml.train_runs(["anil", "fo-maml"], problem, betas=0.3, **kw),
                     one_by_one(["anil", "fo-maml"], problem, [0.3, 0.3], **kw))


def test_train_of_a_method_is_a_run_of_train_runs():
    """gbml.train runs a method of METHODS (no custom gradient, objective or snapshots) in train_runs' loop."""
    problem = gbml.Problem(20, 3, rng=0)
    kw = dict(alpha=0.1, T=80, n_tasks=20, rng=1)
    for method, beta in [("anil", 0.5), ("fo-maml", 1.5), ("avg-loss", 0.05)]:
        assert_same_runs([gbml.train(method, problem, beta=beta, on_divergence="stop", **kw)],
                         [reference(method, problem, beta, **kw)])
    with pytest.raises(gbml.DivergenceError) as err:
        gbml.train("fo-maml", problem, beta=1.5, **kw)
    stopped = reference("fo-maml", problem, 1.5, **kw)
    assert err.value.iteration == stopped.diverged_at and np.array_equal(err.value.history.distance, stopped.distance)
    h = gbml.train("avg-loss", problem, beta=0.05, m_in=5, m_out=5, settings={"note": 1}, **kw)  # train's own loop
    assert h.settings["note"] == 1 and len(h.distance) == 81


def test_snapshots_as_train_keeps_them():
    problem = gbml.Problem(20, 3, rng=0)
    kw = dict(alpha=0.1, T=37, n_tasks=10, rng=2, snapshot_every=10)
    runs = gbml.train_runs(["fo-anil", "fo-maml"], problem, betas=[0.3, 2.5], **kw)
    for h, ref in zip(runs, one_by_one(["fo-anil", "fo-maml"], problem, [0.3, 2.5], **kw)):
        assert np.array_equal(h.snapshot_iterations, ref.snapshot_iterations)
        np.testing.assert_allclose(h.snapshots, ref.snapshots, rtol=1e-12, atol=1e-12)
    assert runs[0].snapshot_iterations.tolist() == [0, 10, 20, 30, 37]
    assert runs[1].diverged_at is not None and runs[1].snapshot_iterations[-1] == runs[1].diverged_at - 1


def test_no_rounds_records_the_start():
    problem = gbml.Problem(8, 2, rng=1)
    kw = dict(alpha=0.2, T=0, n_tasks=3, rng=2)
    assert_same_runs(gbml.train_runs(["anil", "maml"], problem, betas=1.0, **kw),
                     one_by_one(["anil", "maml"], problem, [1.0, 1.0], **kw))


@pytest.mark.parametrize("samples", [{}, {"m_in": 6, "m_out": 5}])
def test_runs_gradient_is_meta_gradient_for_every_method(samples):
    problem = gbml.Problem(10, 3, rng=2)
    rng = np.random.default_rng(3)
    tasks = problem.sample_round(4, rng, **samples)
    methods = [m for m in gbml.METHODS if not (samples and m == "avg-loss")]
    B, w = rng.standard_normal((len(methods), 10, 3)), rng.standard_normal((len(methods), 3))
    spec = gbml.Method(*(np.array(s) for s in zip(*(gbml.METHODS[m] for m in methods))))
    grad_B, grad_w, objective = _kernels.runs_gradient(spec, B, w, tasks, 0.3)
    for i, m in enumerate(methods):
        ref_B, ref_w = gbml.meta_gradient(m, B[i], w[i], tasks, 0.3)
        np.testing.assert_allclose(grad_B[i], ref_B, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grad_w[i], ref_w, rtol=1e-13, atol=1e-13)
        assert objective[i] == pytest.approx(gbml.meta_objective(m, B[i], w[i], tasks, 0.3), rel=1e-12)


@pytest.mark.parametrize("method", list(gbml.METHODS))
def test_runs_gradient_with_shared_switches_is_meta_gradient(method):
    # A switch that every run shares may be one bool (train_runs passes it so): Method's own switches.
    problem = gbml.Problem(10, 3, rng=2)
    rng = np.random.default_rng(4)
    tasks = problem.sample_round(4, rng)
    B, w = rng.standard_normal((2, 10, 3)), rng.standard_normal((2, 3))
    grad_B, grad_w, objective = _kernels.runs_gradient(gbml.METHODS[method], B, w, tasks, 0.3)
    for i in range(2):
        ref_B, ref_w = gbml.meta_gradient(method, B[i], w[i], tasks, 0.3)
        np.testing.assert_allclose(grad_B[i], ref_B, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(grad_w[i], ref_w, rtol=1e-13, atol=1e-13)
        assert objective[i] == pytest.approx(gbml.meta_objective(method, B[i], w[i], tasks, 0.3), rel=1e-12)


def test_stacked_bases_and_angles_equal_one_at_a_time():
    rng = np.random.default_rng(0)
    B = rng.standard_normal((5, 9, 3))
    B[1] *= 1e-120  # rescaled before the QR, as in basis_or_none
    B[2, :, 2] = B[2, :, 0] + B[2, :, 1]  # rank 2
    B[3] = 0.0
    Q, full_rank = _kernels.bases_or_none(B)
    assert full_rank.tolist() == [True, True, False, False, True]
    B_star = gbml.random_orthonormal(9, 2, rng)
    for i in (0, 1, 4):
        assert np.array_equal(Q[i], _kernels.basis_or_none(B[i]))
        np.testing.assert_allclose(_kernels.angles_between_bases(Q[[i]], B_star)[0],
                                   gbml.principal_angles(B[i], B_star), rtol=0, atol=1e-14)
    assert _kernels.basis_or_none(B[2]) is None and _kernels.basis_or_none(B[3]) is None


def test_bad_arguments_are_named():
    problem = gbml.Problem(8, 2, rng=1)
    kw = dict(alpha=0.1, T=5, n_tasks=3, rng=2)
    with pytest.raises(TypeError, match="methods"):
        gbml.train_runs("anil", problem, betas=0.5, **kw)
    with pytest.raises(ValueError, match="method"):
        gbml.train_runs(["anil", "reptile"], problem, betas=0.5, **kw)
    with pytest.raises(ValueError, match="betas"):
        gbml.train_runs(["anil", "maml"], problem, betas=[0.5], **kw)
    with pytest.raises(ValueError, match=r"betas\[1\]"):
        gbml.train_runs(["anil", "maml"], problem, betas=[0.5, 0.0], **kw)
    with pytest.raises(ValueError, match="average loss"):
        gbml.train_runs(["avg-loss"], problem, betas=0.5, m_in=4, m_out=4, **kw)
    with pytest.raises(ValueError, match="B0"):
        gbml.train_runs(["anil", "maml"], problem, betas=0.5, B0=np.ones((3, 8, 2)), **kw)
    with pytest.raises(ValueError, match="full column rank"):
        gbml.train_runs(["anil"], problem, betas=0.5, B0=np.ones((8, 2)), **kw)
    with pytest.raises(ValueError, match="w0"):
        gbml.train_runs(["anil"], problem, betas=0.5, w0=np.ones(3), **kw)
    with pytest.raises(TypeError, match="rng"):
        gbml.train_runs(["anil"], problem, alpha=0.1, betas=0.5, T=5, n_tasks=3, rng=None)


@pytest.mark.parametrize("options", [dict(), dict(m_in=6, m_out=5), dict(noise_std=0.3, m_in=4, m_out=7),
                                     dict(input_cov=np.diag(np.linspace(0.5, 2.0, 10))),
                                     dict(input_cov=np.diag(np.linspace(0.5, 2.0, 10)), m_in=3, m_out=3)])
def test_round_drawer_draws_what_sample_round_draws(options):
    """Problem.round_drawer (the training loops' tasks, checked once) gives the very arrays of repeated
    sample_round calls on the same generator, round after round."""
    samples = {key: options.pop(key) for key in ("m_in", "m_out") if key in options}
    problem = gbml.Problem(10, 3, rng=4, mu=0.7, head_mean=np.full(3, 0.2), **options)
    draw, ref_rng = problem.round_drawer(5, 11, **samples), np.random.default_rng(11)
    for _ in range(3):
        tasks, ref = draw(), problem.sample_round(5, ref_rng, **samples)
        assert type(tasks) is type(ref) and (tasks.n, tasks.d) == (ref.n, ref.d)
        names = ("X_in", "y_in", "X_out", "y_out") if samples else ("thetas",)
        for name in names:
            np.testing.assert_array_equal(getattr(tasks, name), getattr(ref, name))
            assert not getattr(tasks, name).flags.writeable
        V = np.random.default_rng(0).standard_normal((5, 10))
        for data, ref_data in ((tasks.inner, ref.inner), (tasks.outer, ref.outer), (tasks.pooled, ref.pooled)):
            np.testing.assert_array_equal(data.grad(V), ref_data.grad(V))
            np.testing.assert_array_equal(data.loss(V), ref_data.loss(V))
    with pytest.raises(ValueError, match="both m_in and m_out"):
        problem.round_drawer(5, 1, m_in=3)
    with pytest.raises(ValueError):
        problem.round_drawer(0, 1)
