"""gbml.book.exercises: each checker accepts a correct answer (written here independently of gbml) and
answers each typical mistake with its own hint."""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml import beyond
from gbml.book import exercises
from gbml import subspace_distance  # as a learner may have done before the check


def dist_ok(B, B_star):
    U, _, _ = np.linalg.svd(B, full_matrices=False)  # another orthonormal basis than QR
    return np.linalg.norm(B_star - U @ (U.T @ B_star), 2)


def anil_ok(B, w, X, y, alpha):
    return w - alpha * B.T @ (X.T @ (X @ (B @ w) - y)) / X.shape[0]


CASES = [
    (exercises.check_subspace_distance, dist_ok, [
        (lambda B, Bs: np.linalg.norm(Bs - B @ (B.T @ Bs), 2), "orthonormalise"),
        (lambda B, Bs: np.linalg.norm(Bs - np.linalg.qr(B)[0] @ (np.linalg.qr(B)[0].T @ Bs)), "Frobenius"),
        (lambda B, Bs: np.linalg.svd(np.linalg.qr(B)[0].T @ Bs, compute_uv=False).min(), "cosine"),
        (lambda B, Bs: np.linalg.norm(np.linalg.qr(B)[0] @ (np.linalg.qr(B)[0].T @ Bs), 2), "complement"),
        (lambda B, Bs: [dist_ok(B, Bs)] * 2, "shape"),
        (lambda B, Bs: None, "return"),
    ]),
    (exercises.check_head_second_moment, lambda heads: np.einsum("ti,tj->ij", heads, heads) / len(heads), [
        (lambda heads: heads.T @ heads, "divide by the number of tasks"),
        (lambda heads: np.atleast_2d(np.cov(heads.T, bias=True)), "covariance"),
        (lambda heads: heads @ heads.T / len(heads), "per *row*"),
    ]),
    (exercises.check_anil_inner_step, anil_ok, [
        (lambda B, w, X, y, alpha: w + alpha * B.T @ X.T @ (X @ B @ w - y) / len(y), "sign"),
        (lambda B, w, X, y, alpha: w - B.T @ X.T @ (X @ B @ w - y) / len(y), "alpha is missing"),
        (lambda B, w, X, y, alpha: w - alpha * B @ X.T @ (X @ B @ w - y) / len(y), "transpose"),
        (lambda B, w, X, y, alpha: w - alpha * B.T @ X.T @ (X @ B @ w - y), "divide"),
        (lambda B, w, X, y, alpha: anil_ok(B, w, X, y, alpha)[:, None], "shape"),
    ]),
]


@pytest.mark.parametrize("checker, correct, wrongs", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_checker_accepts_correct_and_explains_mistakes(checker, correct, wrongs, capsys):
    ok = checker(correct)
    assert ok and ok.message.startswith("Correct")
    assert "Correct" in capsys.readouterr().out
    for wrong, hint in wrongs:
        res = checker(wrong, quiet=True)
        assert not res, f"{checker.__name__} accepted a wrong answer ({hint})"
        assert hint in res.message, f"expected a hint about {hint!r}, got: {res.message}"


def test_unwritten_exercise_says_so_plainly_without_raising(capsys):
    """The student edition's placeholder: a plain verdict naming the exercise, no exception (Run All goes on)."""
    calls = []

    def stub(B, B_star):
        calls.append(1)
        raise NotImplementedError("placeholder")

    res = exercises.check_subspace_distance(stub)
    printed = capsys.readouterr().out
    assert not res and res.case is None and len(calls) == 1
    assert printed.strip() == res.message
    assert res.message.startswith("Not yet — Exercise") and "(subspace_distance) is not written yet" in res.message
    assert "Traceback" not in printed and "placeholder" not in printed


def test_compare_is_seeded_and_validates_input():
    calls = []

    def spy(x):
        calls.append(x)
        return x

    for _ in range(2):
        exercises.compare("E", spy, reference=lambda x: x, make_case=lambda rng, i: {"x": rng.standard_normal(3)},
                          quiet=True)
    assert all(np.array_equal(a, b) for a, b in zip(calls[:5], calls[5:]))
    with pytest.raises(TypeError, match="fn must be"):
        exercises.check_subspace_distance("not a function")


def test_compare_hints_for_transposed_and_boxed_answers():
    from gbml.book.exercises import compare

    def case(rng, i):
        return {"u": rng.standard_normal(4), "w": rng.standard_normal(3)}

    wrong_t = compare("outer", lambda u, w: np.outer(w, u), reference=lambda u, w: np.outer(u, w),
                      make_case=case, quiet=True)
    assert not wrong_t and "transpose" in wrong_t.message
    boxed = compare("dot", lambda u, w: np.array([u.sum()]), reference=lambda u, w: u.sum(),
                    make_case=case, quiet=True)
    assert not boxed and "plain number" in boxed.message


def test_every_checker_says_an_unwritten_exercise_is_not_written_and_shows_no_source(capsys):
    """No checker raises on the placeholder, so the student edition shows no traceback (and no checker
    source, which holds the reference answer, and no machine path)."""
    names = [n for n in exercises.__all__ if n.startswith("check_")]
    assert len(names) >= 10

    def stub(*args):
        raise NotImplementedError("Exercise 'x' is not written yet")

    for name in names:
        res = getattr(exercises, name)(stub)
        printed = capsys.readouterr().out
        assert not res and "is not written yet" in res.message, name
        assert "Traceback" not in printed and ".py" not in printed and "/" not in printed.split("—", 1)[0], name


# -- checkers fit for grading ----------------------------------------------------------------------------
# Correct answers written from the chapters' formulas with NumPy only (never with gbml).

def maml_objective_ok(B, w, X_in, y_in, X_out, y_out, alpha):
    u = X_in.T @ (X_in @ B @ w - y_in) / len(y_in)
    e = X_out @ (B - alpha * np.outer(u, w)) @ (w - alpha * B.T @ u) - y_out
    return float(e @ e / (2 * len(y_out)))


def avg_gradient_ok(B, w, thetas):
    r = B @ w - sum(thetas) / len(thetas)
    return np.outer(r, w), B.T @ r


def fo_anil_ok(B, w, thetas, alpha):
    pairs = []
    for theta in thetas:
        w_t = w - alpha * B.T @ (B @ w - theta)
        q = B @ w_t - theta
        pairs.append((np.outer(q, w_t), B.T @ q))
    return sum(p[0] for p in pairs) / len(thetas), sum(p[1] for p in pairs) / len(thetas)


def _two_step_bug(bug):
    """The chain rule by hand, task by task (two inner steps forward, then back through each), with one
    planted bug; ``bug=None`` is the right gradient."""
    def fn(B, w, thetas, alpha):
        k = len(w)
        P = np.eye(k) - alpha * B.T @ B
        gB, gw = np.zeros_like(B), np.zeros(k)
        for theta in thetas:
            r0 = B @ w - theta
            w1 = w - alpha * B.T @ r0
            r1 = B @ w1 - theta
            w2 = w1 - alpha * B.T @ r1
            q = B @ w2 - theta
            a2 = B.T @ q
            a1 = a2 if bug == "no P" else P @ a2
            h1 = w if bug == "w in both" else w1
            body = 0.0 if bug == "no body" else 1.0
            second = -alpha * (np.outer(r1, a2) + body * np.outer(B @ a2, h1))
            first = -alpha * (np.outer(r0, a1) + body * np.outer(B @ a1, w))
            if bug == "first order":
                gB, gw = gB + np.outer(q, w2), gw + a2
            elif bug == "last step only":
                gB, gw = gB + np.outer(q, w2) + second, gw + P @ a2
            else:
                gB, gw = gB + np.outer(q, w2) + second + first, gw + (a1 if bug == "no P" else P @ a1)
        scale = 1.0 if bug == "sum" else len(thetas)
        return gB / scale, gw / scale
    return fn


two_step_anil_ok = _two_step_bug(None)


@pytest.mark.parametrize("bug, hint", [("first order", "first-order"), ("last step only", "second inner step only"),
                                       ("no P", "multiplies the adjoint"), ("w in both", "you used w in both"),
                                       ("no body", "are missing"), ("sum", "divide by n")])
def test_two_step_anil_checker_diagnoses_planted_bugs(bug, hint):
    assert exercises.check_two_step_anil_gradient(two_step_anil_ok, quiet=True)
    res = exercises.check_two_step_anil_gradient(_two_step_bug(bug), quiet=True)
    assert not res and hint in res.message, res.message
    one_step = lambda B, w, th, a: fo_anil_ok(B, w, th, a)  # noqa: E731  (a wrong method altogether)
    assert not exercises.check_two_step_anil_gradient(one_step, quiet=True)


def maml_prediction_ok(B, w, thetas, alpha):
    rows = []
    for theta in thetas:
        r = B @ w - theta
        rows.append((B - alpha * np.outer(r, w)) @ (w - alpha * B.T @ r))
    return np.array(rows)


def fo_maml_ok(B, w, thetas, alpha):
    gB, gw = np.zeros_like(B), np.zeros_like(w)
    for theta in thetas:
        r = B @ w - theta
        B_t, w_t = B - alpha * np.outer(r, w), w - alpha * B.T @ r
        q = B_t @ w_t - theta
        gB, gw = gB + np.outer(q, w_t), gw + B_t.T @ q
    return gB / len(thetas), gw / len(thetas)


def head_gram_ok(B, w, thetas, alpha):
    heads = [w - alpha * B.T @ (B @ w - theta) for theta in thetas]
    return sum(np.outer(h, h) for h in heads) / len(heads)


def sampled_gradient_ok(B, w, X, y):
    return np.stack([Xt.T @ (Xt @ B @ w - yt) / len(yt) for Xt, yt in zip(X, y)])


def ls_heads_ok(B, thetas, Sigma):
    return np.stack([np.linalg.lstsq(B.T @ Sigma @ B, B.T @ Sigma @ theta, rcond=None)[0] for theta in thetas])


def iterations_ok(d0, rate, tol):
    """In 40-digit decimal arithmetic from the numbers as typed (repr), a whole number up to a relative 1e-9
    counting as whole, as the exercise asks."""
    from decimal import Decimal, getcontext
    getcontext().prec = 40
    s = (Decimal(repr(tol)) / Decimal(repr(d0))).ln() / Decimal(repr(rate)).ln()
    n = int(s)                                       # s > 0: round down, then step up if needed
    return n if n >= s * (1 - Decimal("1e-9")) else n + 1


@pytest.mark.parametrize("d0, rate, tol, n", [(1.0, 0.1, 1e-5, 5), (0.3, 0.9, 0.19683, 4), (2.0, 0.5, 2**-9, 10),
                                               (1.0, 0.1, 1.1e-5, 5), (1.0, 0.1, 0.9e-5, 6)])
def test_iterations_needed_is_exact_at_exact_powers(d0, rate, tol, n):
    """Referee 8.11: ceil(log(tol/d0)/log(rate)) gives 6 for 1, 0.1, 1e-5; the reference gives 5."""
    assert iterations_ok(d0, rate, tol) == n
    assert exercises.check_iterations_needed(iterations_ok, quiet=True)
    naive = lambda a, r, t: int(np.ceil(np.log(t / a) / np.log(r)))  # noqa: E731
    assert np.ceil(np.log(1e-5) / np.log(0.1)) == 6                          # the off-by-one this guards
    result = exercises.check_iterations_needed(naive, quiet=True)
    assert not result and "exact power" in result.message


def _one_task(X_in, y_in, X_out, y_out):
    return gbml.SampledTasks(X_in[None], y_in[None], X_out[None], y_out[None])


# checker, a correct answer, answers that call the gbml reference of the same exercise
ALL = [
    (exercises.check_maml_objective, maml_objective_ok, [
        lambda B, w, Xi, yi, Xo, yo, a: gbml.meta_objective("maml", B, w, _one_task(Xi, yi, Xo, yo), a),
        lambda B, w, Xi, yi, Xo, yo, a: float(np.mean((np.einsum("tdk,tk->td", *gbml.adapt(
            "maml", B, w, _one_task(Xi, yi, Xo, yo), a)) @ Xo.T - yo) ** 2) / 2),
    ]),
    (exercises.check_subspace_distance, dist_ok, [
        lambda B, Bs: gbml.subspace_distance(B, Bs),
        lambda B, Bs: subspace_distance(B, Bs),  # imported before the check: the original function object
        lambda B, Bs: float(np.sin(gbml.principal_angles(B, Bs).max())),
    ]),
    (exercises.check_head_second_moment, lambda heads: np.einsum("ti,tj->ij", heads, heads) / len(heads), []),
    (exercises.check_average_loss_gradient, avg_gradient_ok, [
        lambda B, w, th: gbml.meta_gradient("avg-loss", B, w, gbml.PopulationTasks(th), 0.0),
        lambda B, w, th: beyond.multistep_gradient(B, w, gbml.PopulationTasks(th), 0.0, steps=0),
    ]),
    (exercises.check_anil_inner_step, anil_ok, [
        lambda B, w, X, y, a: gbml.adapt("anil", B, w, _one_task(X, y, X, y), a)[1][0],
        lambda B, w, X, y, a: w - a * B.T @ _one_task(X, y, X, y).inner.grad(B @ w)[0],
    ]),
    (exercises.check_fo_anil_gradient, fo_anil_ok, [
        lambda B, w, th, a: gbml.meta_gradient("fo-anil", B, w, gbml.PopulationTasks(th), a),
        lambda B, w, th, a: beyond.multistep_gradient(B, w, gbml.PopulationTasks(th), a, first_order=True),
    ]),
    (exercises.check_two_step_anil_gradient, two_step_anil_ok, [
        lambda B, w, th, a: beyond.multistep_gradient(B, w, gbml.PopulationTasks(th), a, steps=2),
        lambda B, w, th, a: gbml.meta_gradient("anil", B, w, gbml.PopulationTasks(th), a),
    ]),
    (exercises.check_maml_adapted_prediction, maml_prediction_ok, [
        lambda B, w, th, a: np.einsum("tdk,tk->td", *gbml.adapt("maml", B, w, gbml.PopulationTasks(th), a)),
    ]),
    (exercises.check_fo_maml_gradient, fo_maml_ok, [
        lambda B, w, th, a: gbml.meta_gradient("fo-maml", B, w, gbml.PopulationTasks(th), a),
    ]),
    (exercises.check_head_gram, head_gram_ok, [
        lambda B, w, th, a: (lambda h: h.T @ h / len(h))(gbml.adapt("anil", B, w, gbml.PopulationTasks(th), a)[1]),
        lambda B, w, th, a: (lambda h: h.T @ h / len(h))(beyond.adapt_steps(B, w, gbml.PopulationTasks(th), a)),
    ]),
    (exercises.check_sampled_inner_gradient, sampled_gradient_ok, [
        lambda B, w, X, y: gbml.SampledTasks(X, y, X, y).inner.grad(B @ w),
    ]),
    (exercises.check_least_squares_heads, ls_heads_ok, [
        lambda B, th, S: beyond.fit_heads(B, gbml.PopulationTasks(th, input_cov=S)),
    ]),
    (exercises.check_iterations_needed, iterations_ok, [
        lambda d0, rate, tol: gbml.iterations_to(d0 * rate ** np.arange(10**5), tol),
    ]),
]
IDS = [c.__name__ for c, _, _ in ALL]


def test_every_checker_is_covered():
    assert sorted(IDS) == sorted(n for n in exercises.__all__ if n.startswith("check_"))


@pytest.mark.parametrize("check, correct, cheats", ALL, ids=IDS)
def test_an_answer_that_calls_the_gbml_reference_fails(check, correct, cheats):
    for cheat in cheats:
        result = check(cheat, quiet=True)
        assert not result and "calls gbml's reference" in result.message, result.message
        assert "write it yourself" in result.message
    # the references work again once the check is over, and a correct answer passes
    assert check(correct, quiet=True)
    B = np.eye(3)[:, :2]
    assert gbml.subspace_distance(B, B) == 0.0


def test_catching_the_guard_does_not_help():
    def sly(B, B_star):
        try:
            return gbml.subspace_distance(B, B_star)
        except Exception:
            return dist_ok(B, B_star)

    result = exercises.check_subspace_distance(sly, quiet=True)
    assert not result and "calls gbml's reference gbml.subspace_distance" in result.message


def _texts(x):
    """Ways the value x could be printed."""
    x = float(x)
    return {f"{x:.3g}", f"{x:.4g}", f"{x:g}", repr(x), f"{x:.6f}"}


@pytest.mark.parametrize("check, correct, _", ALL, ids=IDS)
def test_a_wrong_answer_never_shows_the_expected_value(check, correct, _):
    def zero(*args):
        out = correct(*args)
        return tuple(np.zeros_like(g) for g in out) if isinstance(out, tuple) else 0 * np.asarray(out)

    def scaled(c):
        def fn(*args):
            out = correct(*args)
            return tuple(c * g for g in out) if isinstance(out, tuple) else c * np.asarray(out)
        return fn

    for wrong, words in [(zero, ["zero"]), (scaled(3.0), ["constant factor"]), (scaled(1.3), [""]),
                         (scaled(-1.0), ["opposite sign", "wrong sign", "you used y_t - X_t B w"])]:
        result = check(wrong, quiet=True)
        assert not result
        assert any(w in result.message for w in words), result.message
        want = correct(*result.case.values())
        parts = want if isinstance(want, tuple) else (want,)
        shown = [np.max(np.abs(p)) for p in parts] + [np.max(p) for p in parts] + [np.min(p) for p in parts]
        if not isinstance(want, tuple) and np.size(want) == 1:
            shown.append(float(want))
        inputs = exercises._shown(result.case)
        for value in shown:
            for text in _texts(value) - {"0", "-0"}:
                assert text in inputs or text not in result.message, (text, result.message)


@pytest.mark.parametrize("check, correct, _", ALL, ids=IDS)
def test_complex_nan_and_infinite_answers_get_their_own_hints(check, correct, _):
    def spoil(how):
        def fn(*args):
            out = correct(*args)
            parts = list(out) if isinstance(out, tuple) else [np.asarray(out)]
            parts[0] = how(np.asarray(parts[0], dtype=float))
            return tuple(parts) if isinstance(out, tuple) else parts[0]
        return fn

    for how, words in [(lambda a: a + 0j, "complex"), (lambda a: a + 1e-300j, "complex"),
                       (lambda a: a * np.nan, "NaN"), (lambda a: a + np.inf, "infinite")]:
        result = check(spoil(how), quiet=True)
        assert not result and words in result.message, result.message


@pytest.mark.parametrize("check, correct, _", ALL, ids=IDS)
def test_each_case_calls_the_learners_function_once(check, correct, _):
    calls = []

    def counted(*args):
        calls.append(1)
        return correct(*args)

    assert check(counted, quiet=True)
    assert len(calls) == 5
    calls.clear()
    assert check(counted, quiet=True, n_cases=3) and len(calls) == 3

    def wrong_in_case_2(*args):
        calls.append(1)
        out = correct(*args)
        return out if len(calls) != 2 else (tuple(2 * g for g in out) if isinstance(out, tuple) else 2 * out)

    calls.clear()  # every case runs and counts: partial credit
    result = check(wrong_in_case_2, quiet=True)
    assert not result and len(calls) == 5 and (result.n_passed, result.n_cases) == (4, 5)
    assert "(case 2: " in result.message and result.message.endswith("Right on 4 of 5 cases.")


def _helper_that_divides(x):
    return x / 0  # the learner's bug


@pytest.mark.parametrize("check, correct, _", ALL, ids=IDS)
def test_the_learners_exception_is_reported_as_theirs(check, correct, _):
    def buggy(*args):
        return _helper_that_divides(1)

    result = check(buggy, quiet=True)
    assert not result
    assert "your function raised ZeroDivisionError" in result.message
    assert "_helper_that_divides" in result.message and "x / 0" in result.message  # where, in their code

    def singular(*args):
        return np.linalg.inv(np.zeros((2, 2)))

    result = check(singular, quiet=True)
    assert not result and "LinAlgError" in result.message and "singular" in result.message
    assert "np.linalg.inv" in result.message  # the learner's line, not NumPy's internals

    for odd in ([[1.0, 2.0], [3.0]], "0.5", {"a": 1}):
        result = check(lambda *args, odd=odd: odd, quiet=True)
        assert not result and result.message.startswith("Not yet"), result.message


def test_compare_forbids_only_known_references_and_only_while_the_answer_runs():
    def case(rng, i):
        return {"B": rng.standard_normal((4, 2)), "B_star": np.linalg.qr(rng.standard_normal((4, 2)))[0]}

    with pytest.raises(ValueError, match="no gbml reference routine is named gbml.subspace_distanse"):
        exercises.compare("E", dist_ok, reference=dist_ok, make_case=case, forbid=["gbml.subspace_distanse"])
    # the reference itself may be gbml's: it runs outside the window in which the answer runs
    assert exercises.compare("E", dist_ok, reference=gbml.subspace_distance, make_case=case,
                             forbid=["gbml.subspace_distance"], quiet=True)
    # not forbidden: a helper the exercise does not ask for stays usable
    assert exercises.compare("E", lambda B, Bs: np.linalg.norm(Bs - (Q := gbml.orthonormal_basis(B)) @ (Q.T @ Bs), 2),
                             reference=dist_ok, make_case=case, forbid=["gbml.subspace_distance"], quiet=True)


# -- nothing of the answer is reachable while the learner's function runs ----------------------------------

def test_guarded_routines_keep_no_original_but_their_signature():
    import inspect

    for name in ("subspace_distance", "meta_gradient", "adapt", "local_rate", "iterations_to"):
        routine = getattr(gbml, name)
        assert not hasattr(routine, "__wrapped__") and inspect.unwrap(routine) is routine, name
        assert routine.__name__ == name and routine.__doc__, name
    assert list(inspect.signature(gbml.subspace_distance).parameters) == ["B", "B_star"]


def test_another_thread_cannot_call_the_reference():
    from concurrent.futures import ThreadPoolExecutor

    def threaded(B, B_star):
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(gbml.subspace_distance, B, B_star).result()

    result = exercises.check_subspace_distance(threaded, quiet=True)
    assert not result and "calls gbml's reference gbml.subspace_distance" in result.message


def test_the_checkers_frames_hold_no_expected_value_and_its_reference_refuses():
    """A function that walks up the stack finds neither the expected value nor a callable reference."""
    import sys
    seen = []

    def snoop(heads):
        frame = sys._getframe(1)
        while frame is not None:
            for name, value in frame.f_locals.items():
                if isinstance(value, np.ndarray) and value.shape == (heads.shape[1],) * 2:
                    seen.append(name)
                if name == "reference" and callable(value):
                    try:
                        return value(heads=heads)
                    except Exception:
                        seen.append("refused")
            frame = frame.f_back
        return np.zeros((heads.shape[1],) * 2)

    result = exercises.check_head_second_moment(snoop, quiet=True)  # its reference is NumPy only
    assert not result and "calls the checker's reference" in result.message
    assert set(seen) == {"refused"}  # no (k, k) array anywhere up the stack; every reference refused


def test_changing_the_case_through_the_frames_does_not_change_the_check():
    import sys

    def vandal(heads):
        frame = sys._getframe(1)
        while frame is not None:
            for value in frame.f_locals.values():
                if isinstance(value, dict) and "heads" in value:
                    value["heads"][...] = 0  # so that a zero answer would match
            frame = frame.f_back
        return np.zeros((heads.shape[1],) * 2)

    result = exercises.check_head_second_moment(vandal, quiet=True)
    assert not result and result.n_passed == 0 and "zero" in result.message


def test_resetting_the_checkers_generator_does_not_bring_back_known_cases():
    """A function that resets the generator in compare's frame to seed 0 at every call would meet cases it
    tabulated (case i drawn first from seed 0); the cases are all drawn before it runs."""
    import sys
    known = {}
    for i in range(5):
        case = exercises._subspace_case(np.random.default_rng(0), i)
        known[round(float(case["B"].sum()), 9)] = dist_ok(**case)

    def steer(B, B_star):
        frame = sys._getframe(1)
        while frame is not None:
            for value in frame.f_locals.values():
                if isinstance(value, np.random.Generator):
                    value.bit_generator.state = np.random.default_rng(0).bit_generator.state
            frame = frame.f_back
        return known.get(round(float(B.sum()), 9), 0.0)

    assert exercises.check_subspace_distance(steer, quiet=True, rng=12345).n_passed == 0
