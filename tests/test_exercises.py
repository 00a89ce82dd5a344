"""gbml.exercises: each checker accepts a correct answer (written here independently of gbml) and
answers each typical mistake with its own hint."""
from __future__ import annotations

import numpy as np
import pytest

from gbml import exercises


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


def test_unwritten_exercise_raises_naming_it():
    def stub(B, B_star):
        raise NotImplementedError("placeholder")

    with pytest.raises(NotImplementedError, match=r"Exercise \(subspace_distance\)"):
        exercises.check_subspace_distance(stub)


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
    from gbml.exercises import compare

    def case(rng, i):
        return {"u": rng.standard_normal(4), "w": rng.standard_normal(3)}

    wrong_t = compare("outer", lambda u, w: np.outer(w, u), reference=lambda u, w: np.outer(u, w),
                      make_case=case, quiet=True)
    assert not wrong_t and "transpose" in wrong_t.message
    boxed = compare("dot", lambda u, w: np.array([u.sum()]), reference=lambda u, w: u.sum(),
                    make_case=case, quiet=True)
    assert not boxed and "plain number" in boxed.message


def test_unwritten_exercise_traceback_hides_the_checker():
    """The student edition shows the traceback of an unwritten exercise; it must not show a checker's
    source (which holds the reference answer): only the decorator's frame may come from gbml.exercises."""
    import traceback

    names = [n for n in exercises.__all__ if n.startswith("check_")]
    assert len(names) >= 10

    def stub(*args):
        raise NotImplementedError("Exercise 'x' is not written yet")

    for name in names:
        with pytest.raises(NotImplementedError, match="not written yet") as info:
            getattr(exercises, name)(stub)
        frames = [f for f in traceback.extract_tb(info.value.__traceback__) if f.filename == exercises.__file__]
        assert [f.name for f in frames] == ["wrapper"], (name, [f.name for f in frames])
