"""Hidden tests for nbgrader: the points of a coding exercise, from a fresh copy of its checker.

nbgrader runs a test cell in the learner's kernel after their answer cell, which may have replaced what a
test would call (``exercises.check_x``, ``sys.modules`` entries, a gbml routine).  So a problem set's hidden
test loads this file afresh with ``importlib`` (``_ext/gbml_build/problem_set.py`` writes that cell), and
:func:`points` loads a private copy of ``gbml`` under a new random name, sharing only ``gbml._guard`` (the
reference routines the learner can reach still raise).  This stops an answer cell that rebinds gbml's
objects; no test in the learner's kernel can stop code that rewrites the kernel's machinery.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import secrets
import sys
from pathlib import Path


def fresh_exercises():
    """``gbml.book.exercises`` of a private copy of ``gbml`` under a name no earlier code can know."""
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
    checker ``checker`` of a fresh copy of ``gbml.book.exercises``, rounded to 0.01 (nbgrader's partial
    credit); prints the verdict.  The learner's stderr goes to stdout: nbgrader gives no points to a test
    cell that wrote to stderr."""
    exercises = fresh_exercises()
    with contextlib.redirect_stderr(sys.stdout):
        result = getattr(exercises, checker)(fn, rng=seed, n_cases=n_cases)
    return round(points * result.n_passed / result.n_cases, 2)
