"""Hidden tests for nbgrader: the points of a coding exercise, from a fresh copy of its checker.

nbgrader runs a test cell in the learner's kernel, after their answer cell, and that cell may have
replaced what a test would call: ``exercises.check_x = lambda fn, **kw: ...``, ``exercises.compare``,
``gbml.book.exercises`` in ``sys.modules``, a reference routine of ``gbml``.  So the hidden test of a
problem set (written by ``make problem-set``) loads this file afresh, with ``importlib`` rather than
``import`` (which would return whatever ``sys.modules`` holds)::

    import importlib.util
    grading = importlib.util.module_from_spec(importlib.util.find_spec("gbml.book._grading"))
    grading.__spec__.loader.exec_module(grading)
    grading.points("check_subspace_distance", my_subspace_distance, points=10, seed=123456789)

and :func:`points` loads a private copy of the whole ``gbml`` package from its files (made after the
answer cell ran, under a new random name), whose checker runs the learner's function on new cases.
Only ``gbml._guard`` is shared with the ``gbml`` the learner imported, so that the reference routines
they can reach still raise while their function runs.

This stops an answer cell that rebinds or replaces gbml's objects.  It cannot stop code that rewrites the
kernel's own machinery (the import system, IPython's display or exception handling, NumPy, the guard's
private state): no test that runs in the learner's kernel can, nbgrader's included.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import secrets
import sys
from pathlib import Path


def fresh_exercises():
    """``gbml.book.exercises`` of a private copy of ``gbml``, loaded from the files of this installation
    under a name no earlier code can know (gbml imports some modules when first needed, so it stays)."""
    root = Path(__file__).resolve().parents[1]  # the gbml folder
    name = f"_gbml_hidden_test_{secrets.token_hex(8)}"
    spec = importlib.util.spec_from_file_location(name, root / "__init__.py", submodule_search_locations=[str(root)])
    package = importlib.util.module_from_spec(spec)
    sys.modules[name] = package
    if "gbml._guard" in sys.modules:  # the guard of the routines the learner's function can call
        sys.modules[f"{name}._guard"] = sys.modules["gbml._guard"]
    spec.loader.exec_module(package)
    return importlib.import_module(f"{name}.book.exercises")


def points(checker: str, fn, *, points: float, seed: int, n_cases: int = 10) -> float:
    """``points`` times the share of ``n_cases`` new cases (drawn with ``seed``) on which ``fn`` passes the
    checker ``checker`` of a fresh copy of ``gbml.book.exercises``, rounded to 0.01; prints the verdict.

    The value is what nbgrader reads as a test cell's partial credit (its output, a number between 0 and the
    cell's points).  Anything the learner's function writes to stderr, such as a warning, goes to stdout:
    nbgrader gives no points to a test cell that wrote to stderr.
    """
    exercises = fresh_exercises()
    with contextlib.redirect_stderr(sys.stdout):
        result = getattr(exercises, checker)(fn, rng=seed, n_cases=n_cases)
    return round(points * result.n_passed / result.n_cases, 2)
