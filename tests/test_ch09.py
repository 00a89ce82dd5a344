"""Chapter 9 (beyond the theorem) and its module gbml.beyond: finite differences and closed forms for every
function, the chapter's checker, and the behaviour the chapter claims (one step is exact at the fixed point,
frozen extra directions, the rate under an invariant input covariance, altmin's robustness to the initial
scale)."""
import numpy as np
import pytest
from helpers_core import numerical_gradient, random_point, rel_err, sampled

import gbml
from gbml import beyond


def _population(n, d, rng, cov=False):
    rng = np.random.default_rng(rng)
    Sigma = None
    if cov:
        A = rng.standard_normal((d, d))
        Sigma = A @ A.T / d + 0.3 * np.eye(d)
    return gbml.PopulationTasks(rng.standard_normal((n, d)), noise_std=0.2, input_cov=Sigma)


TASKS = {
    "population": lambda: _population(4, 7, 1),
    "population, Sigma": lambda: _population(4, 7, 2, cov=True),
    "samples": lambda: sampled(4, 7, 5, 6, 3),
}


@pytest.mark.parametrize("kind", list(TASKS))
@pytest.mark.parametrize("steps", [0, 1, 2, 4])
@pytest.mark.parametrize("k", [2, 3, 5])
def test_multistep_gradient_is_the_gradient_of_the_multistep_objective(kind, steps, k):
    tasks = TASKS[kind]()
    B, w = random_point(7, k, 10 + k)
    B *= 0.6
    gB, gw = beyond.multistep_gradient(B, w, tasks, 0.2, steps)
    nB, nw = numerical_gradient(lambda B, w: beyond.multistep_objective(B, w, tasks, 0.2, steps), B, w)
    assert rel_err(gB, nB) < 1e-7 and rel_err(gw, nw) < 1e-7


@pytest.mark.parametrize("kind", list(TASKS))
def test_one_step_is_the_core_anil(kind):
    tasks = TASKS[kind]()
    B, w = random_point(7, 3, 4)
    for first_order, name in [(False, "anil"), (True, "fo-anil")]:
        got = beyond.multistep_gradient(B, w, tasks, 0.3, 1, first_order=first_order)
        want = gbml.meta_gradient(name, B, w, tasks, 0.3)
        assert rel_err(got[0], want[0]) < 1e-12 and rel_err(got[1], want[1]) < 1e-12
    assert beyond.multistep_objective(B, w, tasks, 0.3, 1) == pytest.approx(gbml.meta_objective("anil", B, w, tasks, 0.3))
    assert np.allclose(beyond.adapt_steps(B, w, tasks, 0.3, 1), gbml.adapt("anil", B, w, tasks, 0.3)[1])


def test_first_order_differs_from_exact_for_several_steps():
    tasks = TASKS["population"]()
    B, w = random_point(7, 3, 5)
    exact = beyond.multistep_gradient(B, w, tasks, 0.2, 3)
    first = beyond.multistep_gradient(B, w, tasks, 0.2, 3, first_order=True)
    assert rel_err(first[0], exact[0]) > 1e-3  # the surrogate drops the back-propagated terms
    heads = beyond.adapt_steps(B, w, tasks, 0.2, 3)
    q = tasks.outer.grad(heads @ B.T)
    assert np.allclose(first[0], q.T @ heads / tasks.n) and np.allclose(first[1], (q @ B).mean(axis=0))


@pytest.mark.parametrize("kind", list(TASKS))
def test_least_squares_heads_closed_form(kind):
    tasks = TASKS[kind]()
    B, _ = random_point(7, 3, 6)
    got = beyond.fit_heads(B, tasks)
    if kind == "samples":
        want = np.stack([np.linalg.lstsq(tasks.X_in[t] @ B, tasks.y_in[t], rcond=None)[0] for t in range(tasks.n)])
    else:
        S = np.eye(7) if tasks.input_cov is None else tasks.input_cov
        want = np.linalg.solve(B.T @ S @ B, B.T @ S @ tasks.thetas.T).T
    assert np.allclose(got, want, atol=1e-12)
    # And it is a minimiser: the head gradient of the inner loss vanishes there.
    r = tasks.inner.grad(got @ B.T)
    assert np.abs(r @ B).max() < 1e-10


def test_least_squares_heads_minimum_norm_when_underdetermined():
    tasks = sampled(3, 9, 2, 4, 7)  # 2 support samples, 4 columns: infinitely many exact fits
    B, _ = random_point(9, 4, 8)
    got = beyond.fit_heads(B, tasks)
    for t in range(3):
        A = tasks.X_in[t] @ B
        assert np.allclose(A @ got[t], tasks.y_in[t])
        assert np.allclose(got[t], np.linalg.pinv(A) @ tasks.y_in[t])


@pytest.mark.parametrize("kind", list(TASKS))
def test_several_steps_approach_the_least_squares_head_geometrically(kind):
    """w^(S) - w_LS = (I - alpha B^T Sigma_in B)^S (w - w_LS): the proposition of chapter 9."""
    tasks = TASKS[kind]()
    B, w = random_point(7, 3, 9)
    ls = beyond.fit_heads(B, tasks)
    for steps in [1, 3, 6]:
        got = beyond.adapt_steps(B, w, tasks, 0.1, steps)
        for t in range(tasks.n):
            if kind == "samples":
                H = B.T @ tasks.X_in[t].T @ tasks.X_in[t] @ B / tasks.m_in
            else:
                H = B.T @ (np.eye(7) if tasks.input_cov is None else tasks.input_cov) @ B
            want = ls[t] + np.linalg.matrix_power(np.eye(3) - 0.1 * H, steps) @ (w - ls[t])
            assert np.allclose(got[t], want, atol=1e-10)


def test_one_step_is_exact_when_alpha_BtB_is_identity():
    problem = gbml.Problem(12, 3, rng=0)
    tasks = problem.sample_round(6, 1)
    B, _ = problem.init(0.2, 2)
    w = np.random.default_rng(3).standard_normal(3)  # any shared head
    one = beyond.adapt_steps(B, w, tasks, 0.2, 1)
    assert np.allclose(one, beyond.fit_heads(B, tasks), atol=1e-12)
    assert np.allclose(beyond.adapt_steps(B, w, tasks, 0.2, 5), one, atol=1e-12)


def test_altmin_gradient_is_exact_in_population_and_partial_with_samples():
    for tasks in [TASKS["population"](), TASKS["population, Sigma"]()]:
        B, w = random_point(7, 3, 11)
        nB, _ = numerical_gradient(lambda B, w: beyond.altmin_objective(B, tasks), B, w)
        assert rel_err(beyond.altmin_gradient(B, tasks), nB) < 1e-7  # envelope theorem
    tasks = TASKS["samples"]()
    B, w = random_point(7, 3, 12)
    heads = beyond.fit_heads(B, tasks)
    frozen = lambda B, w: float(np.mean(tasks.outer.loss(heads @ B.T)))  # noqa: E731
    nB, _ = numerical_gradient(frozen, B, w)
    full, _ = numerical_gradient(lambda B, w: beyond.altmin_objective(B, tasks), B, w)
    got = beyond.altmin_gradient(B, tasks)
    assert rel_err(got, nB) < 1e-7 and rel_err(got, full) > 1e-3


def test_train_variant_one_step_reproduces_gbml_train():
    problem = gbml.Problem(15, 3, rng=0)
    for name in ["anil", "fo-anil"]:
        a = gbml.train(name, problem, alpha=0.1, beta=0.5, T=25, n_tasks=10, rng=4, m_in=8, m_out=8)
        b = beyond.train_variant(name, problem, alpha=0.1, beta=0.5, T=25, n_tasks=10, rng=4, m_in=8, m_out=8)
        assert np.allclose(a.B, b.B, rtol=1e-12, atol=1e-12) and np.allclose(a.distance, b.distance, atol=1e-12)
        assert np.allclose(a.loss, b.loss, equal_nan=True) and np.allclose(a.orth_error, b.orth_error)
        assert b.method == name and b.settings["steps"] == 1


FIELDS = ("distance", "angles", "loss", "head_norm", "orth_error", "B", "w")


def per_variant(variant, problem, steps=1, **kw):
    """The variant run by gbml.train's own loop, one round at a time, with its (gradient, objective) pair."""
    if variant == "altmin":
        gradient = lambda B, w, tasks, alpha: (beyond.altmin_gradient(B, tasks), np.zeros_like(w))  # noqa: E731
        objective = lambda B, w, tasks, alpha: beyond.altmin_objective(B, tasks)  # noqa: E731
    else:
        fo = variant == "fo-anil"
        gradient = lambda B, w, tasks, alpha: beyond.multistep_gradient(  # noqa: E731
            B, w, tasks, alpha, steps, first_order=fo)
        objective = lambda B, w, tasks, alpha: beyond.multistep_objective(B, w, tasks, alpha, steps)  # noqa: E731
    label = variant if variant == "altmin" or steps == 1 else f"{variant} ({steps} steps)"
    return gbml.train(label, problem, gradient=gradient, objective=objective, settings={"steps": steps},
                      on_divergence="stop", **kw)


def assert_same_runs(runs, references):
    for h, ref in zip(runs, references, strict=True):
        assert (h.method, h.alpha, h.beta, h.diverged_at) == (ref.method, ref.alpha, ref.beta, ref.diverged_at)
        assert h.settings == ref.settings
        for field in FIELDS:
            np.testing.assert_allclose(getattr(h, field), getattr(ref, field), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{h.method}: {field}")
        for field in ("snapshot_iterations", "snapshots"):
            a, b = getattr(h, field), getattr(ref, field)
            assert (a is None) == (b is None) and (a is None or np.allclose(a, b, rtol=1e-12, atol=1e-12))


VARIANT_RUNS = [("anil", 1), ("anil", 3), ("fo-anil", 2), ("altmin", 1), ("fo-anil", 0)]


@pytest.mark.parametrize("scale", [0.5, 1.0, 1.6])  # at 1.6 one-step ANIL diverges, the others do not
def test_train_variants_equal_the_runs_of_train_one_by_one(scale):
    problem = gbml.Problem(20, 3, rng=0)
    kw = dict(alpha=0.1, beta=0.5, T=150, n_tasks=20, rng=1, B0=scale * problem.init(0.1, 5)[0])
    variants, steps = zip(*VARIANT_RUNS)
    runs = beyond.train_variants(list(variants), problem, steps=list(steps), **kw)
    assert_same_runs(runs, [per_variant(v, problem, S, **kw) for v, S in VARIANT_RUNS])
    assert (runs[0].diverged_at is not None) == (scale == 1.6) and runs[3].diverged_at is None
    for run, (v, S) in zip(runs, VARIANT_RUNS):  # train_variant is one run of train_variants
        assert_same_runs([beyond.train_variant(v, problem, steps=S, on_divergence="stop", **kw)], [run])


@pytest.mark.parametrize("case", ["samples", "pool", "wide", "default start", "input covariance"])
def test_train_variants_equal_train_with_samples_pools_wide_bodies_and_snapshots(case):
    problem = gbml.Problem(12, 2, rng=3, noise_std=0.1)
    kw = dict(alpha=0.1, beta=0.3, T=40, n_tasks=6, rng=7, B0=problem.init(0.1, 2)[0])
    if case == "samples":
        kw.update(m_in=9, m_out=7, snapshot_every=6)
    elif case == "pool":
        kw.update(pool=10, m_in=8, m_out=8, w0=np.array([0.3, -0.2]))
    elif case == "wide":
        kw.update(B0=gbml.random_orthonormal(12, 4, 1) / np.sqrt(0.1), snapshot_every=10)
    elif case == "default start":
        del kw["B0"]
    else:
        A = np.random.default_rng(4).standard_normal((12, 12))
        problem = gbml.Problem(12, 2, rng=3, input_cov=A @ A.T / 12 + 0.5 * np.eye(12))
    variants, steps = zip(*VARIANT_RUNS)
    runs = beyond.train_variants(list(variants), problem, steps=list(steps), **kw)
    assert_same_runs(runs, [per_variant(v, problem, S, **kw) for v, S in VARIANT_RUNS])


def test_train_variants_stop_a_run_whose_objective_overflows_and_refuse_a_start_that_does():
    problem = gbml.Problem(10, 2, rng=0)
    B0 = 5.0 * problem.init(0.1, 1)[0]  # alpha B0^T B0 = 25 I: every inner step multiplies the head error by -24
    kw = dict(alpha=0.1, beta=0.5, T=60, n_tasks=5, rng=2, B0=B0, blowup=1e300)
    runs = beyond.train_variants(["anil", "altmin"], problem, steps=[40, 1], **kw)
    assert_same_runs(runs, [per_variant("anil", problem, 40, **kw), per_variant("altmin", problem, **kw)])
    assert runs[0].diverged_at is not None and runs[1].diverged_at is None
    with pytest.raises(ValueError, match="overflows at the start"):
        beyond.train_variants(["anil"], problem, steps=400, **kw)
    with pytest.raises(gbml.DivergenceError, match="diverged"):
        beyond.train_variant("anil", problem, steps=40, **kw)


@pytest.mark.parametrize("m", [None, 6])
def test_train_variants_on_rounds_drawn_beforehand_equal_the_rounds_rng_draws(m):
    problem = gbml.Problem(12, 2, rng=3)
    B0 = problem.init(0.1, 2)[0]
    kw = dict(alpha=0.1, beta=0.3, T=30, n_tasks=5, B0=B0)
    draw = np.random.default_rng(11)
    rounds = [problem.sample_round(5, draw, m_in=m, m_out=m) for _ in range(30)]
    variants, steps = zip(*VARIANT_RUNS)
    given = beyond.train_variants(list(variants), problem, steps=list(steps), rng=0, rounds=rounds, **kw)
    drawn = beyond.train_variants(list(variants), problem, steps=list(steps), rng=11, m_in=m, m_out=m, **kw)
    for a, b in zip(given, drawn, strict=True):
        assert a.settings == b.settings and a.diverged_at == b.diverged_at
        for field in FIELDS:
            assert np.array_equal(getattr(a, field), getattr(b, field)), field
    with pytest.raises(ValueError, match="rounds must be a list of the tasks of the 30 rounds"):
        beyond.train_variants(["anil"], problem, rng=0, rounds=rounds[:-1], **kw)
    with pytest.raises(ValueError, match="not both"):
        beyond.train_variants(["anil"], problem, rng=0, rounds=rounds, pool=8, **kw)
    with pytest.raises(TypeError, match=r"rounds\[2\] must be a gbml.PopulationTasks"):
        beyond.train_variants(["anil"], problem, rng=0, rounds=rounds[:2] + ["tasks"] + rounds[3:], **kw)
    with pytest.raises(ValueError, match=r"rounds\[0\] must hold n_tasks = 4 tasks"):
        beyond.train_variants(["anil"], problem, rng=0, rounds=rounds, **{**kw, "n_tasks": 4})


def test_train_variants_bad_input():
    problem = gbml.Problem(10, 2, rng=0)
    kw = dict(alpha=0.1, beta=0.5, T=3, n_tasks=2, rng=0)
    with pytest.raises(TypeError, match="variants must be a non-empty list"):
        beyond.train_variants("anil", problem, **kw)
    with pytest.raises(TypeError, match="variants must be a non-empty list"):
        beyond.train_variants([], problem, **kw)
    with pytest.raises(ValueError, match="variant must be one of"):
        beyond.train_variants(["anil", "maml"], problem, **kw)
    with pytest.raises(ValueError, match="steps must be one number or one per run"):
        beyond.train_variants(["anil", "altmin"], problem, steps=[1, 2, 3], **kw)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        beyond.train_variants(["anil"], problem, steps=[-1], **kw)
    with pytest.raises(TypeError, match="problem must be a gbml.Problem"):
        beyond.train_variants(["anil"], "problem", **kw)
    with pytest.raises(ValueError, match="beta"):
        beyond.train_variants(["anil"], problem, **{**kw, "beta": 0.0})
    with pytest.raises(ValueError, match="full column rank"):
        beyond.train_variants(["anil"], problem, B0=np.ones((10, 2)), **kw)
    with pytest.raises(ValueError, match="B0"):
        beyond.train_variants(["anil"], problem, B0=np.ones((9, 2)), **kw)
    with pytest.raises(ValueError, match="w0"):
        beyond.train_variants(["anil"], problem, B0=np.eye(10, 2), w0=np.zeros(3), **kw)
    with pytest.raises(ValueError, match="on_divergence"):
        beyond.train_variant("anil", problem, on_divergence="ignore", **kw)
    with pytest.raises(TypeError, match="on_divergence"):
        beyond.train_variants(["anil"], problem, on_divergence="stop", **kw)


def test_variants_learn_the_representation_in_population():
    problem = gbml.Problem(20, 3, rng=0)
    B0, _ = problem.init(0.1, 5)
    for variant, steps in [("anil", 3), ("fo-anil", 3), ("altmin", 1)]:
        h = beyond.train_variant(variant, problem, alpha=0.1, beta=0.5, T=400, n_tasks=20, rng=1, steps=steps, B0=B0)
        assert h.distance[0] > 0.9 and h.distance[-1] < 1e-6, variant
        assert np.all(np.isfinite(h.loss[:-1])) and h.loss[-2] < 1e-3 * h.loss[0]


def test_altmin_survives_an_initial_scale_that_breaks_anil():
    problem = gbml.Problem(20, 3, rng=0)
    B0 = 1.6 * problem.init(0.1, 5)[0]
    with pytest.raises(gbml.DivergenceError, match="diverged"):
        beyond.train_variant("anil", problem, alpha=0.1, beta=0.5, T=100, n_tasks=20, rng=1, B0=B0)
    h = beyond.train_variant("altmin", problem, alpha=0.1, beta=0.5, T=300, n_tasks=20, rng=1, B0=B0)
    assert h.distance[0] > 0.9 and h.distance[-1] < 0.3 and np.all(np.isfinite(h.B))


def test_more_steps_help_from_a_small_initial_scale():
    problem = gbml.Problem(20, 3, rng=0)
    B0 = 0.5 * problem.init(0.1, 5)[0]
    hit = {}
    for steps in [1, 3]:
        h = beyond.train_variant("anil", problem, alpha=0.1, beta=0.5, T=400, n_tasks=20, rng=1, steps=steps, B0=B0)
        hit[steps] = gbml.iterations_to(h.distance, 1e-6)
    assert hit[3] is not None and hit[1] is not None and hit[3] < 0.8 * hit[1]


@pytest.mark.parametrize("scale", [1.5, 1.6, 1.8])
def test_more_inner_steps_blow_up_sooner_above_sqrt2(scale):
    """Chapter 9's explorer text: above c = sqrt(2) 'more steps mostly blow up sooner'.  On six draws that are not
    the chapter's (other B*, start and tasks), ANIL from B0 = c Q / sqrt(alpha) with S = 1, 2, 3, 5, 10, 20 inner
    steps: twenty steps blow up before one step on every draw, and in at least 90% of the pairs S < S' of a draw
    the run with S' steps blows up no later than the one with S (a run that survives counts as never)."""
    steps = [1, 2, 3, 5, 10, 20]
    assert 1 - scale**2 < -1  # the inner loop itself diverges (prop-bey-steps): the setting the text describes
    pairs = agree = 0
    for seed in range(6):
        problem = gbml.Problem(20, 3, rng=1000 + seed)
        B0 = scale * problem.init(0.1, 2000 + seed)[0]
        runs = beyond.train_variants(["anil"] * len(steps), problem, steps=steps, alpha=0.1, beta=0.5, T=200,
                                     n_tasks=20, rng=3000 + seed, B0=B0)
        blow = [np.inf if h.diverged_at is None else h.diverged_at for h in runs]
        assert blow[-1] < blow[0], f"draw {seed}: blow-up rounds {blow} for S = {steps}"
        for i in range(len(steps)):
            for j in range(i + 1, len(steps)):
                pairs += 1
                agree += blow[j] <= blow[i]
    assert agree >= 0.9 * pairs, f"{agree} of {pairs} pairs blow up sooner (or as soon) with more steps"


def test_snapshots_are_the_bodies_of_shorter_runs():
    """train(snapshot_every=10) keeps B at 0, 10, 20, 30 and T: each equals the final B of a run of that length."""
    problem = gbml.Problem(20, 3, rng=0)
    kw = dict(alpha=0.1, beta=0.3, n_tasks=10, m_in=10, m_out=10, pool=15, rng=2)
    h = gbml.train("fo-anil", problem, T=37, snapshot_every=10, **kw)
    plain = gbml.train("fo-anil", problem, T=37, **kw)
    assert list(h.snapshot_iterations) == [0, 10, 20, 30, 37] and h.snapshots.shape == (5, 20, 3)
    assert np.array_equal(h.distance, plain.distance) and plain.snapshots is None
    B0 = problem.init(0.1, np.random.default_rng(2))[0]  # train's default start, drawn first from rng
    assert np.array_equal(h.snapshots[0], B0)
    for i, T in enumerate([10, 20, 30, 37]):
        assert np.array_equal(h.snapshots[i + 1], gbml.train("fo-anil", problem, T=T, **kw).B)
    v = beyond.train_variant("altmin", problem, T=12, snapshot_every=5, **kw)
    assert list(v.snapshot_iterations) == [0, 5, 10, 12]
    assert np.array_equal(v.snapshots[-1], v.B)


def test_snapshots_of_a_diverged_run_stop_at_the_last_recorded_iterate():
    problem = gbml.Problem(20, 3, rng=0)
    B0 = 1.6 * problem.init(0.1, 5)[0]
    with pytest.raises(gbml.DivergenceError) as err:
        gbml.train("anil", problem, alpha=0.1, beta=0.5, T=50, n_tasks=20, rng=1, B0=B0, snapshot_every=2)
    h = err.value.history
    last = len(h.distance) - 1
    assert h.diverged_at == err.value.iteration and h.snapshot_iterations[-1] == last
    assert all(i % 2 == 0 for i in h.snapshot_iterations[:-1]) and np.array_equal(h.snapshots[-1], h.B)


def test_train_variant_refuses_the_arguments_it_sets():
    problem = gbml.Problem(20, 3, rng=0)
    with pytest.raises(TypeError, match="objective"):
        beyond.train_variant("anil", problem, alpha=0.1, beta=0.5, T=2, n_tasks=5, rng=0, objective=len)


def test_outside_singular_values():
    rng = np.random.default_rng(0)
    B_star = gbml.random_orthonormal(10, 2, rng)
    N = np.linalg.svd(B_star, full_matrices=True)[0][:, 2:]
    A, C = rng.standard_normal((2, 4)), rng.standard_normal((8, 4))
    got = beyond.outside_singular_values(B_star @ A + N @ C, B_star)
    assert np.allclose(got, np.linalg.svd(C, compute_uv=False))
    assert np.allclose(beyond.outside_singular_values(B_star @ A, B_star), 0, atol=1e-12)


def test_extra_directions_stay_frozen_in_population():
    """Chapter 9's proposition: with alpha B0^T B0 = I and w0 = 0, B_s v = B_0 v whenever B_0 v is outside col(B*)."""
    problem = gbml.Problem(20, 3, rng=0)
    alpha, kp = 0.1, 5
    B0 = gbml.random_orthonormal(20, kp, 5) / np.sqrt(alpha)
    # The (k' - k)-dimensional set of head directions v with B0 v orthogonal to col(B*).
    V = np.linalg.svd(problem.B_star.T @ B0, full_matrices=True)[2][3:].T
    for method in ["anil", "fo-anil"]:
        h = gbml.train(method, problem, alpha=alpha, beta=0.5, T=300, n_tasks=20, rng=1, B0=B0)
        assert h.distance[-1] < 1e-5
        assert np.abs(h.B @ V - B0 @ V).max() < 1e-10 * np.abs(B0).max()
        assert np.allclose(np.sqrt(alpha) * beyond.outside_singular_values(h.B, problem.B_star)[:2], 1.0)


def test_extra_directions_shrink_with_finite_samples():
    problem = gbml.Problem(20, 3, rng=0)
    alpha = 0.1
    B0 = gbml.random_orthonormal(20, 5, 5) / np.sqrt(alpha)
    h = gbml.train("fo-anil", problem, alpha=alpha, beta=0.5, T=300, n_tasks=20, rng=1, B0=B0, m_in=10, m_out=10)
    assert np.sqrt(alpha) * beyond.outside_singular_values(h.B, problem.B_star)[0] < 0.5


def test_invariant_rate_formula_and_fixed_point():
    d, k, alpha, beta = 20, 3, 0.1, 0.5
    base = gbml.Problem(d, k, rng=0)
    Bs = base.B_star
    assert beyond.invariant_rate(alpha, beta, base.Psi, np.eye(d), Bs) == pytest.approx(gbml.local_rate(alpha, beta, base.Psi))
    N = np.linalg.svd(Bs, full_matrices=True)[0][:, k:]
    S_star, S_perp = np.diag([1.5, 1.0, 0.8]), np.diag(np.linspace(0.8, 2.0, d - k))
    Sigma = Bs @ S_star @ Bs.T + N @ S_perp @ N.T
    problem = gbml.Problem(d, k, rng=0, B_star=Bs, input_cov=Sigma)
    predicted = beyond.invariant_rate(alpha, beta, problem.Psi, Sigma, Bs)
    assert predicted == pytest.approx(1 - alpha * beta * 0.8 * 0.8)
    h = gbml.train("anil", problem, alpha=alpha, beta=beta, T=700, n_tasks=20, rng=1)
    assert gbml.measured_rate(h.distance, low=1e-9, high=1e-4) == pytest.approx(predicted, abs=2e-3)
    # The fixed point: alpha B^T Sigma B = I, not alpha B^T B = I.
    assert np.linalg.norm(np.eye(k) - alpha * h.B.T @ Sigma @ h.B, 2) < 1e-6 and h.orth_error[-1] > 0.1
    U = gbml.random_orthonormal(d, d, 1)
    with pytest.raises(ValueError, match="invariant"):
        beyond.invariant_rate(alpha, beta, problem.Psi, U @ Sigma @ U.T, Bs)


def test_bad_input():
    problem = gbml.Problem(10, 2, rng=0)
    with pytest.raises(ValueError, match="variant must be one of"):
        beyond.train_variant("maml", problem, alpha=0.1, beta=0.5, T=3, n_tasks=2, rng=0)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        beyond.adapt_steps(np.ones((10, 2)), np.zeros(2), problem.sample_round(2, 0), 0.1, -1)
    with pytest.raises(TypeError, match="tasks must be"):
        beyond.fit_heads(np.ones((10, 2)), "tasks")
    with pytest.raises(ValueError, match="snapshot_every must be"):
        gbml.train("anil", problem, alpha=0.1, beta=0.5, T=3, snapshot_every=0, n_tasks=2, rng=0)


def test_least_squares_heads_checker_accepts_the_answer_and_names_the_mistakes():
    from gbml.book import exercises

    def good(B, thetas, Sigma):
        return np.linalg.solve(B.T @ Sigma @ B, B.T @ Sigma @ thetas.T).T

    assert exercises.check_least_squares_heads(good, quiet=True)
    no_sigma = exercises.check_least_squares_heads(
        lambda B, thetas, Sigma: np.linalg.solve(B.T @ B, B.T @ thetas.T).T, quiet=True)
    assert not no_sigma and "input covariance" in no_sigma.message
    step = exercises.check_least_squares_heads(lambda B, thetas, Sigma: thetas @ Sigma @ B, quiet=True)
    assert not step and "Gram matrix" in step.message

    def stub(B, thetas, Sigma):
        raise NotImplementedError("Exercise: not yet")

    unwritten = exercises.check_least_squares_heads(stub, quiet=True)
    assert not unwritten and "(least_squares_heads) is not written yet" in unwritten.message


def test_altmin_orthogonal_dynamics_in_population():
    """Chapter 9, proposition on exact head fitting, part 2 (Sigma = I)."""
    problem = gbml.Problem(12, 3, rng=0)
    tasks = problem.sample_round(7, 1)
    B = problem.init(0.1, 2)[0] + 0.3 * np.random.default_rng(3).standard_normal((12, 3))
    B_perp = np.linalg.svd(problem.B_star, full_matrices=True)[0][:, 3:]
    heads = beyond.fit_heads(B, tasks)
    after = B - 0.5 * beyond.altmin_gradient(B, tasks)
    assert np.allclose(B_perp.T @ after, B_perp.T @ B @ (np.eye(3) - 0.5 * heads.T @ heads / 7), atol=1e-12)


def _invariant_sigma(problem, rng):
    d, k = problem.d, problem.k
    rng = np.random.default_rng(rng)
    B_perp = np.linalg.svd(problem.B_star, full_matrices=True)[0][:, k:]
    A, C = rng.standard_normal((k, k)), rng.standard_normal((d - k, d - k))
    return (problem.B_star @ (A @ A.T + np.eye(k)) @ problem.B_star.T
            + B_perp @ (C @ C.T / d + 0.5 * np.eye(d - k)) @ B_perp.T), B_perp


def _error_block(problem, Sigma, B_perp, heads, A, alpha, beta, method):
    """The map E -> U_perp^T B^+ of one outer step at B = B* A + U_perp E, w = 0, on a fixed batch, as a matrix."""
    tasks = gbml.PopulationTasks(heads @ problem.B_star.T, input_cov=Sigma)
    d, k = problem.d, problem.k
    columns = []
    for i in range(d - k):
        for j in range(k):
            E = np.zeros((d - k, k))
            E[i, j] = 1e-3
            B = problem.B_star @ A + B_perp @ E
            after = B - beta * gbml.meta_gradient(method, B, np.zeros(k), tasks, alpha)[0]
            columns.append((B_perp.T @ after).ravel() / 1e-3)
    return np.array(columns).T


@pytest.mark.parametrize("method", ["fo-anil", "anil"])
def test_invariant_sigma_rate_on_a_fixed_batch_needs_its_step_condition(method):
    """prop-bey-sigma-rate, fixed batch: the error block (exactly linear in E at w = 0) has spectral radius
    rho_Sigma, with the batch's Psi_hat, when beta lmax(Sigma_perp) lmax(M) < 2 (M has the eigenvalues
    alpha lambda(Psi_hat_Sigma)), and radius beta lmax lmax - 1 > 1 when that product is 3."""
    problem = gbml.Problem(8, 2, rng=0)
    Sigma, B_perp = _invariant_sigma(problem, 1)
    S_star, S_perp = problem.B_star.T @ Sigma @ problem.B_star, B_perp.T @ Sigma @ B_perp
    heads = problem.sample_heads(5, 2)
    Psi_hat = heads.T @ heads / 5
    alpha = 0.1
    # a fixed point alpha A^T S_star A = I: A = S_star^{-1/2} / sqrt(alpha)
    vals, vecs = np.linalg.eigh(S_star)
    A = vecs @ np.diag(vals ** -0.5) @ vecs.T / np.sqrt(alpha)
    root = vecs @ np.diag(vals ** 0.5) @ vecs.T
    lam_psi = np.linalg.eigvalsh(root @ Psi_hat @ root)
    lam_perp = np.linalg.eigvalsh(S_perp)
    for beta in [0.5 / (alpha * lam_perp[-1] * lam_psi[-1]), 3.0 / (alpha * lam_perp[-1] * lam_psi[-1])]:
        radius = np.abs(np.linalg.eigvals(_error_block(problem, Sigma, B_perp, heads, A, alpha, beta, method))).max()
        product = beta * lam_perp[-1] * alpha * lam_psi[-1]
        if product < 2:
            rho = 1 - alpha * beta * lam_perp[0] * lam_psi[0]
            assert radius == pytest.approx(rho, abs=1e-9)
        else:
            assert radius == pytest.approx(product - 1, rel=1e-6) and radius > 1.9


def test_fixed_point_with_input_covariance():
    """Chapter 9: col(B) = col(B*), w = 0, alpha B^T Sigma B = I is a fixed point for any Sigma > 0."""
    problem = gbml.Problem(10, 3, rng=0)
    rng = np.random.default_rng(1)
    G = rng.standard_normal((10, 10))
    Sigma = G @ G.T / 10 + 0.3 * np.eye(10)  # generic: mixes col(B*) with its complement
    tasks = gbml.PopulationTasks(problem.sample_heads(6, 2) @ problem.B_star.T, input_cov=Sigma)
    alpha = 0.2
    S_star = problem.B_star.T @ Sigma @ problem.B_star
    vals, vecs = np.linalg.eigh(S_star)
    A = vecs @ np.diag(vals**-0.5) @ vecs.T / np.sqrt(alpha) @ gbml.random_orthonormal(3, 3, 3)
    B = problem.B_star @ A
    assert np.allclose(alpha * B.T @ Sigma @ B, np.eye(3))
    for method in ["anil", "fo-anil"]:
        gB, gw = gbml.meta_gradient(method, B, np.zeros(3), tasks, alpha)
        assert np.abs(gB).max() < 1e-12 and np.abs(gw).max() < 1e-12
    # ... and the theory's isotropic scale alpha B^T B = I is not one.
    B_iso = problem.B_star / np.sqrt(alpha)
    assert np.abs(gbml.meta_gradient("anil", B_iso, np.zeros(3), tasks, alpha)[0]).max() > 1e-3


def test_orthogonal_dynamics_with_invariant_sigma():
    """Chapter 9: E_{s+1} = E_s - beta Sigma_perp E_s W_s for FO-ANIL (any w); exact ANIL agrees at w = 0."""
    problem = gbml.Problem(10, 3, rng=0)
    Sigma, B_perp = _invariant_sigma(problem, 1)
    S_perp = B_perp.T @ Sigma @ B_perp
    tasks = gbml.PopulationTasks(problem.sample_heads(6, 2) @ problem.B_star.T, input_cov=Sigma)
    rng = np.random.default_rng(3)
    B, w, alpha, beta = rng.standard_normal((10, 3)), rng.standard_normal(3), 0.1, 0.3
    heads = gbml.adapt("fo-anil", B, w, tasks, alpha)[1]
    W = heads.T @ heads / 6
    after = B - beta * gbml.meta_gradient("fo-anil", B, w, tasks, alpha)[0]
    assert np.allclose(B_perp.T @ after, B_perp.T @ B - beta * S_perp @ B_perp.T @ B @ W, atol=1e-12)
    w0 = np.zeros(3)
    heads0 = gbml.adapt("anil", B, w0, tasks, alpha)[1]
    exact = B - beta * gbml.meta_gradient("anil", B, w0, tasks, alpha)[0]
    assert np.allclose(B_perp.T @ exact, B_perp.T @ B - beta * S_perp @ B_perp.T @ B @ (heads0.T @ heads0 / 6),
                       atol=1e-12)


def test_fo_anil_at_zero_head_is_an_oja_step():
    """Chapter 9 (further reading): at w = 0, B <- B + alpha beta (I - alpha B B^T) M B, M = mean theta theta^T."""
    problem = gbml.Problem(9, 2, rng=0)
    tasks = problem.sample_round(5, 1)
    B, alpha, beta = np.random.default_rng(2).standard_normal((9, 2)), 0.3, 0.4
    M = tasks.thetas.T @ tasks.thetas / 5
    after = B - beta * gbml.meta_gradient("fo-anil", B, np.zeros(2), tasks, alpha)[0]
    assert np.allclose(after, B + alpha * beta * (np.eye(9) - alpha * B @ B.T) @ M @ B, atol=1e-12)


@pytest.mark.parametrize("steps", [1, 2, 3, 5])
@pytest.mark.parametrize("first_order", [False, True])
def test_at_alpha_BtB_eq_I_the_steps_do_not_matter(steps, first_order):
    """Exercise ex-bey-scale-steps: alpha B^T B = I gives grad_B = alpha (alpha B B^T - I) C B, grad_w = 0 for any
    S, w; the expected value is written task by task from the heads alpha B^T theta_t (not by gbml)."""
    rng = np.random.default_rng(91)
    d, k, n, alpha = 7, 3, 5, 0.2
    B = np.linalg.qr(rng.standard_normal((d, k)))[0] / np.sqrt(alpha)
    thetas = rng.standard_normal((n, d))
    expected = sum(np.outer(B @ (alpha * B.T @ th) - th, alpha * B.T @ th) for th in thetas) / n
    grad_B, grad_w = beyond.multistep_gradient(B, rng.standard_normal(k), gbml.PopulationTasks(thetas), alpha,
                                               steps, first_order=first_order)
    np.testing.assert_allclose(grad_B, expected, atol=1e-12)
    np.testing.assert_allclose(grad_w, 0.0, atol=1e-12)
    # and not at another scale: the exact gradient then depends on S
    other = beyond.multistep_gradient(1.3 * B, np.zeros(k), gbml.PopulationTasks(thetas), alpha, steps)[0]
    assert np.abs(other - beyond.multistep_gradient(1.3 * B, np.zeros(k), gbml.PopulationTasks(thetas), alpha,
                                                    steps + 1)[0]).max() > 1e-3
