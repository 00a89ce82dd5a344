"""Fair autograding, through nbgrader itself: hidden tests, no reachable reference, partial credit.

The nbgrader source of a problem set of two coding exercises (``gbml_build.problem_set``) is released and
autograded with nbgrader's command line in a throw-away course directory.  The simulated students: a
correct answer, an honest near-miss (right on some cases only), and the five tricks of issue 22 — each on
one exercise, the other exercise answered correctly.  The graded scores are printed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

import gbml
from gbml.book import exercises
from booksupport import built_notebooks
from gbml_build import problem_set
from gbml_build.chapters import collect

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

LR, AVG = "ex-lr-code", "ex-avg-code"  # my_subspace_distance(B, B_star); average_loss_gradient(B, w, thetas)
EXERCISES = {e.label: e for c in collect() for e in c.exercises}
POINTS = {label: EXERCISES[label].minutes for label in (LR, AVG)}
VENV_BIN = Path(sys.executable).parent

# Written from the chapters' formulas with NumPy (the setup cells import numpy as np and gbml).
CORRECT = {
    LR: "def my_subspace_distance(B, B_star):\n"
        "    U = np.linalg.svd(B, full_matrices=False)[0]\n"
        "    return np.linalg.norm(B_star - U @ (U.T @ B_star), 2)\n",
    AVG: "def average_loss_gradient(B, w, thetas):\n"
         "    residual = B @ w - thetas.mean(axis=0)\n"
         "    return np.outer(residual, w), B.T @ residual\n",
}
# Honest mistakes that are right on some cases only: both are right exactly when k = 1.
NEAR_MISS = {
    LR: "def my_subspace_distance(B, B_star):\n"
        "    Q = np.linalg.qr(B)[0]\n"
        "    return np.linalg.norm(B_star - Q @ (Q.T @ B_star))  # Frobenius, not spectral\n",
    AVG: "def average_loss_gradient(B, w, thetas):\n"
         "    residual = B @ w - thetas.mean(axis=0)\n"
         "    return np.outer(w, residual).reshape(B.shape), B.T @ residual  # transposed, then reshaped\n",
}


def _seed0_table() -> str:
    """A lookup table of the visible check's fixed cases (seed 0), as a learner could record it."""
    rng, table = np.random.default_rng(0), {}
    for i in range(5):  # drawn one after the other from one generator, as compare draws them
        case = exercises._subspace_case(rng, i)
        table[round(float(case["B"].sum()), 9)] = float(gbml.subspace_distance(**case))
    return f"TABLE = {table!r}\n"


TRICKS = {  # student: (exercise, answer cell)
    "wrapped": (LR, "def my_subspace_distance(B, B_star):\n"
                    "    return gbml.subspace_distance.__wrapped__(B, B_star)  # the original, behind the guard\n"),
    "frames": (AVG, "import sys\n\n"
                    "def average_loss_gradient(B, w, thetas):\n"
                    "    frame = sys._getframe(1)\n"
                    "    while frame is not None:  # up the stack: the checker's expected value, or its reference\n"
                    "        scope = frame.f_locals\n"
                    "        if 'want' in scope:\n"
                    "            return scope['want']\n"
                    "        if callable(scope.get('reference')):\n"
                    "            try:\n"
                    "                return scope['reference'](B=B, w=w, thetas=thetas)\n"
                    "            except Exception:\n"
                    "                pass\n"
                    "        frame = frame.f_back\n"
                    "    return np.zeros_like(B), np.zeros_like(w)\n"),
    "table": (LR, _seed0_table() +
                  "def my_subspace_distance(B, B_star):\n"
                  "    return TABLE.get(round(float(B.sum()), 9), 0.0)\n"),
    "replace": (AVG, "import sys, types\n"
                     "from gbml.book import exercises\n\n"
                     "def always_correct(fn, **kwargs):\n"
                     "    print('Correct')\n"
                     "    return exercises.CheckResult('Exercise', True, 'Correct', None, 5, 5)\n\n"
                     "exercises.check_average_loss_gradient = exercises.compare = always_correct\n"
                     "stand_in = types.ModuleType('gbml.book.exercises')\n"
                     "stand_in.check_average_loss_gradient = stand_in.compare = always_correct\n"
                     "sys.modules['gbml.book.exercises'] = stand_in\n"
                     "# and the reference, for a checker that would import it again\n"
                     "gbml.meta_gradient = gbml.algorithms.meta_gradient = \\\n"
                     "    lambda method, B, w, tasks, alpha: (np.zeros_like(B), np.zeros_like(w))\n\n"
                     "def average_loss_gradient(B, w, thetas):\n"
                     "    return np.zeros_like(B), np.zeros_like(w)\n"),
    "thread": (LR, "from concurrent.futures import ThreadPoolExecutor\n\n"
                   "def my_subspace_distance(B, B_star):\n"
                   "    with ThreadPoolExecutor(1) as pool:  # the reference, run in another thread\n"
                   "        return pool.submit(gbml.subspace_distance, B, B_star).result()\n"),
}
STUDENTS = {"correct": CORRECT, "near-miss": NEAR_MISS,
            **{name: {**CORRECT, label: answer} for name, (label, answer) in TRICKS.items()}}


def _nbgrader(course, *args, check=True):
    run = subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=course, capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"))
    assert not check or run.returncode == 0, run.stderr[-3000:]
    return run


def _cells(nb):
    return {c.metadata["nbgrader"]["grade_id"]: c for c in nb.cells if "nbgrader" in c.metadata}


def _said(cell) -> str:
    return "".join(o.get("text", "") + "".join(o.get("traceback", [])) for o in cell.outputs)


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The course directory after ``generate_assignment`` and ``autograde`` of every student's submission."""
    built_notebooks()
    items = [problem_set.item(EXERCISES[label]) for label in (LR, AVG)]
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'fair'\n")
    source = course / "source" / "hw" / "hw.ipynb"
    source.parent.mkdir(parents=True)
    nbformat.write(problem_set.nbgrader_notebook(items, "hw"), source)
    _nbgrader(course, "generate_assignment", "hw")
    release = nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4)
    for student, answers in STUDENTS.items():
        nb = nbformat.reads(nbformat.writes(release), as_version=4)
        for label, answer in answers.items():
            _cells(nb)[f"{label}-answer"].source = answer
        (course / "submitted" / student / "hw").mkdir(parents=True)
        nbformat.write(nb, course / "submitted" / student / "hw" / "hw.ipynb")
    _nbgrader(course, "autograde", "hw")
    return course


@pytest.fixture(scope="module")
def scores(course):
    """Points of each hidden test, by student, from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in STUDENTS:
            sub = gb.find_submission("hw", student)
            grades = {g.name: g.auto_score for g in sub.notebooks[0].grades}
            found[student] = {label: grades[f"{label}-test"] for label in (LR, AVG)}
            found[student]["total"] = (sub.code_score, sub.max_code_score)
            assert grades[f"{LR}-check"] == grades[f"{AVG}-check"] == 0  # the visible checks carry no points
    print("\nnbgrader autograde, points of the hidden tests:\n" + "\n".join(
        f"  {student:>9}: {json.dumps(s)}" for student, s in found.items()))
    return found


def _autograded(course, student):
    return _cells(nbformat.read(course / "autograded" / student / "hw" / "hw.ipynb", as_version=4))


def test_release_has_the_visible_check_and_no_hidden_test(course):
    cells = _cells(nbformat.read(course / "release" / "hw" / "hw.ipynb", as_version=4))
    for label in (LR, AVG):
        check, hidden = cells[f"{label}-check"].source, cells[f"{label}-test"].source
        assert re.fullmatch(r"check_result = exercises\.check_\w+\(\w+\)\nassert check_result, check_result\.message",
                            check)
        assert hidden.startswith("# Hidden test: when your notebook is graded") and "HIDDEN" not in hidden
        assert "grading" not in hidden and "seed" not in hidden


def test_a_correct_answer_earns_full_marks(scores):
    assert scores["correct"] == {LR: POINTS[LR], AVG: POINTS[AVG], "total": (20.0, 20.0)}


def test_an_honest_near_miss_earns_the_share_of_cases_it_gets_right(scores, course):
    # The hidden tests draw 10 cases, k = 1 in every fifth (the checkers cycle through 5 shapes): 2 of 10.
    assert scores["near-miss"] == {LR: 2.0, AVG: 2.0, "total": (4.0, 20.0)}
    cells = _autograded(course, "near-miss")
    feedback = _said(cells[f"{LR}-test"])
    assert "Frobenius norm" in feedback and "Right on 2 of 10 cases." in feedback


@pytest.mark.parametrize("trick", TRICKS)
def test_each_trick_earns_zero_on_its_exercise(scores, trick):
    label, _ = TRICKS[trick]
    other = AVG if label == LR else LR
    assert scores[trick][label] == 0.0 and scores[trick][other] == POINTS[other], scores[trick]


def test_the_tricks_that_fool_the_visible_check_still_earn_zero(course, scores):
    """The lookup table and the replaced checker pass the visible check, which carries no points."""
    for trick in ("table", "replace"):
        label, _ = TRICKS[trick]
        cells = _autograded(course, trick)
        assert _said(cells[f"{label}-check"]).startswith("Correct"), trick
        assert "Right on 0 of 10 cases." in _said(cells[f"{label}-test"]), trick
    assert "calls gbml's reference gbml.subspace_distance" in _said(_autograded(course, "thread")[f"{LR}-test"])
    assert "'__wrapped__'" in _said(_autograded(course, "wrapped")[f"{LR}-test"])
    assert "calls the checker's reference" in _said(_autograded(course, "frames")[f"{AVG}-test"])


def test_validate_shows_the_hint(course, tmp_path):
    """nbgrader's Validate (the student's button) runs the released notebook: the failing visible check shows
    the checker's hint."""
    shutil.copy(course / "submitted" / "near-miss" / "hw" / "hw.ipynb", tmp_path / "hw.ipynb")
    said = _nbgrader(tmp_path, "validate", "hw.ipynb", check=False).stdout
    assert "The following cell failed" in said and "Frobenius norm" in said
