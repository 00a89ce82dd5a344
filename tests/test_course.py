"""A course's own problem sets (``make problem-set SPEC=… SEED=… LOCAL=…``, gbml_build.course): the spec file,
exercises of the course's own folder outside the repository, per-offering numbers, equations in the sheet,
PDFs without dead links, and the course folder whose nbgrader feedback typesets offline.

One offering is built from a spec file (title, due date, points, seed 3) mixing book exercises with two
exercises written to a pytest folder outside the repository; a second set is built with seed 4.  nbgrader
then grades two simulated students in the course folder the build writes, and its feedback page is opened
in Chromium with every request outside the page refused.
"""
from __future__ import annotations

import re
import shutil
import textwrap
import unicodedata
from pathlib import Path

import jupytext
import nbformat
import numpy as np
import pytest
from booksupport import built_notebooks
from pypdf import PdfReader
from test_notebook_edition import LEFTOVERS
from test_problem_set import _nbgrader, _refused, images

from gbml_build import course, problem_set
from gbml_build.booktoc import ROOT
from gbml_build.browser import wait_for_mathjax
from gbml_build.chapters import collect

BOOK = ["ex-fs-compute", "ex-lr-code", "ex-anil-rounds"]
LOCAL = ["ex-course-cond", "ex-course-draw"]
POINTS = {"ex-lr-code": 12, "ex-course-cond": 6}
SHOTS = Path("/tmp/gbml-course-shots")  # screenshots to look at

CHECKS = '''\
"""Checkers of a course's own exercises, built on gbml's compare."""
import numpy as np

from gbml.book.exercises import compare


def _psi_case(rng, i):
    k = [3, 2, 4, 1, 3][i % 5]
    A = rng.standard_normal((k, k))
    return {"Psi": A @ A.T / k + 0.1 * np.eye(k)}


def _condition(Psi):
    eigenvalues = np.linalg.eigvalsh(Psi)
    return eigenvalues[-1] / eigenvalues[0]


MISTAKES = {
    "you divided the smallest eigenvalue by the largest; the condition number is "
    "lambda_max / lambda_min, at least 1.": lambda Psi: 1 / _condition(Psi),
}


def check_condition(fn, **kwargs):
    """Check ``fn(Psi) -> float``: lambda_max(Psi) / lambda_min(Psi)."""
    return compare("Exercise (condition number)", fn, reference=_condition, make_case=_psi_case,
                   mistakes=MISTAKES, **kwargs)
'''

EXERCISES = '''\
---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Week 3: conditioning

:::{admonition} Learning objectives
:class: tip

1. compute how far the head second moment is from isotropic.
:::

```{code-cell} ipython3
import numpy as np

import course_checks

rng = np.random.default_rng(11)
A = rng.standard_normal((3, 3))
Psi_week3 = A @ A.T / 3 + 0.1 * np.eye(3)
```

% exercise: kind=coding; minutes=8; objective=1
:::{exercise} The condition number of a second moment
:label: ex-course-cond

Write `my_condition(Psi)` returning $\\lambda_{\\max}(\\Psi)/\\lambda_{\\min}(\\Psi)$ for a symmetric
positive definite $\\Psi$, then run the check cell below it.
:::

```{code-cell} ipython3
:tags: [exercise]

def my_condition(Psi):
    # Your code here: the eigenvalues of Psi, largest over smallest.
    raise NotImplementedError("Exercise 'The condition number of a second moment' is not written yet")
```

```{code-cell} ipython3
:tags: [solution, hide-cell]

def my_condition(Psi):
    eigenvalues = np.linalg.eigvalsh(Psi)
    return eigenvalues[-1] / eigenvalues[0]
```

```{code-cell} ipython3
:tags: [check]

course_checks.check_condition(my_condition);
```

+++

% exercise: kind=computation; minutes=5; objective=1
:::{exercise} The drawn second moment
:label: ex-course-draw

Compute the condition number of `Psi_week3`, the matrix the setup draws, to three decimals.
:::

+++ {"tags": ["solution"]}

:::{solution} ex-course-draw
:class: dropdown

Its largest eigenvalue over its smallest; the cell below prints it.
:::

```{code-cell} ipython3
:tags: [solution, hide-cell]

print(f"condition number of Psi_week3: {np.linalg.cond(Psi_week3):.3f}")
```
'''


def _write_course(folder: Path) -> Path:
    """A course's own folder, outside the repository: exercises, their checker, and the set's spec."""
    (folder / "exercises").mkdir(parents=True)
    (folder / "exercises" / "course_checks.py").write_text(CHECKS)
    (folder / "exercises" / "week3.md").write_text(EXERCISES)
    labels = [BOOK[0], LOCAL[0], BOOK[1], LOCAL[1], BOOK[2]]
    entries = "\n".join(f"  - {label}: {POINTS[label]}" if label in POINTS else f"  - {label}"
                        for label in labels)
    (folder / "hw2.yml").write_text(textwrap.dedent(f"""\
        title: "Homework 2: conditioning and samples"
        due: "Friday 13 November 2026, 18:00"
        seed: 3
        local: [exercises]
        exercises:
        """) + entries + "\n")
    return folder / "hw2.yml"


@pytest.fixture(scope="module")
def offering(tmp_path_factory, browser):
    built_notebooks()
    home = tmp_path_factory.mktemp("course")
    assert not home.resolve().is_relative_to(ROOT)  # the course's exercises live outside the repository
    labels, settings = course.read_spec(_write_course(home))
    paths = problem_set.build(labels, "hw2", out=home / "sets", browser=browser, settings=settings)
    other = problem_set.build(BOOK[::2], "hw2b", out=home / "sets", browser=browser,
                              settings=course.Settings(seed=4))
    return labels, paths, other, home


def _read(path):
    return nbformat.read(path, as_version=4)


def _outputs(nb, needle: str) -> str:
    cell = next(c for c in nb.cells if "solution" in c.metadata.get("tags", []) and needle in c.source)
    return "".join(o.get("text", "") for o in cell.outputs)


def _statement(nb, label: str) -> str:
    return next(c.source for c in nb.cells if c.cell_type == "markdown" and f"<a id='{label}'></a>" in c.source)


# -- the spec file -------------------------------------------------------------------------------------------

def test_spec_sets_title_due_order_and_points(offering):
    labels, paths, _, home = offering
    sheet = _read(paths["sheet"])
    front = sheet.cells[1].source
    assert front.startswith("# Homework 2: conditioning and samples\n")
    assert "**Due: Friday 13 November 2026, 18:00**" in front
    minutes = {e.label: e.minutes for e in problem_set.select(labels, "hw2", [home / "exercises"])}
    points = {label: POINTS.get(label, minutes[label]) for label in labels}
    assert f"**{sum(points.values())} points**" in front and "seed 3" in front
    text = "\n".join(c.source for c in sheet.cells)
    for index, label in enumerate(labels, 1):  # numbered 1..n in the spec's order, each citing its label
        assert re.search(rf"^## Problem {index}: .+\n\n\*(Course e|E)xercise `{label}` .* · "
                         rf"{points[label]} points\*$", text, re.M), label
    grades = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"].get("points")
              for c in _read(paths["nbgrader"]).cells if "nbgrader" in c.metadata}
    assert grades["ex-lr-code-test"] == 12 and grades["ex-course-cond-test"] == 6  # the spec's points
    assert grades["ex-fs-compute-answer"] == minutes["ex-fs-compute"]  # default: the minutes


@pytest.mark.parametrize("spec, said", [
    ("exercises: []\n", "'exercises' must be a list of labels"),
    ("exercises:\n  - ex-lr-code: -3\n", "ex-lr-code: points must be a number above 0"),
    ("exercises: [ex-lr-code]\nseed: seven\n", "seed='seven' is not a seed"),
    ("exercises: [ex-lr-code]\nduedate: Friday\n", "unknown setting(s) ['duedate']"),
    ("exercises: [ex-lr-code]\nlocal: [nowhere]\n", "is not a folder"),
    ("exercises: [ex-lr-cod]\n", "unknown exercise label 'ex-lr-cod'"),
])
def test_bad_spec_is_an_error_before_any_work(tmp_path, capsys, spec, said):
    (tmp_path / "hw.yml").write_text(spec)
    assert said in _refused(tmp_path, capsys, "--spec", str(tmp_path / "hw.yml"))


def test_bad_seed_option_is_an_error(tmp_path, capsys):
    said = _refused(tmp_path, capsys, "--name", "hw", "--seed=-1", "ex-lr-code")
    assert "SEED='-1' is not a seed: give a whole number" in said



# -- course-local exercises ----------------------------------------------------------------------------------

def test_local_exercises_in_the_sheet_key_and_nbgrader_source(offering):
    _, paths, _, _ = offering
    sheet, key, source = (_read(paths[which]) for which in ("sheet", "key", "nbgrader"))
    for label in LOCAL:
        assert "Week 3: conditioning" in _statement(sheet, label)
    for nb in (sheet, key, source):
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for what, pattern in LEFTOVERS.items():
                    assert not re.search(pattern, cell.source, re.M), (what, cell.source[:200])
    check = next(c for c in key.cells if "check" in c.metadata.get("tags", []) and "check_condition" in c.source)
    assert "".join(o.get("text", "") for o in check.outputs).startswith("Correct — Exercise (condition number)")
    assert re.fullmatch(r"condition number of Psi_week3: \d+\.\d{3}\n", _outputs(key, "Psi_week3"))
    assert "eigenvalues[-1] / eigenvalues[0]" not in "\n".join(c.source for c in sheet.cells)  # no solution
    for folder in (paths["sheet"].parent, paths["nbgrader"].parent):  # the checker beside what imports it
        assert (folder / "course_checks.py").read_text() == CHECKS


# -- per-offering numbers ------------------------------------------------------------------------------------

def test_seeds_change_the_numbers_and_statement_key_and_check_follow(offering):
    _, paths, other, _ = offering
    key3, key1 = _read(paths["key"]), _read(other["key"])
    for needle in ("floor_20 = floor()", "rounds"):  # computations of chapters 8 and 4
        assert _outputs(key3, needle) != _outputs(key1, needle), needle
    for key, sheet in ((key3, _read(paths["sheet"])), (key1, _read(other["sheet"]))):
        floor = re.search(r"floor at m = 20: (\d\.\d+)", _outputs(key, "floor_20 = floor()")).group(1)
        assert f"floor {float(floor):.3f} at" in _statement(sheet, "ex-fs-compute")  # the statement follows
        m = re.search(r"predicted m for a floor of 0.01: (\d+)", _outputs(key, "floor_20 = floor()")).group(1)
        written = next(c.source for c in key.cells if "Solution to" in c.source and "floor" in c.source)
        assert re.search(rf"\\approx \$\s+{m}\b", written)  # and so does the written solution
    book = problem_set._book_glue("08_finite_samples")["fs_base_floor"]
    assert f"floor {float(book):.3f} at" not in _statement(_read(paths["sheet"]), "ex-fs-compute")
    assert "check_subspace_distance(my_subspace_distance, rng=3)" in "\n".join(c.source for c in key3.cells)
    book = next(e for c in collect() for e in c.exercises if e.label == "ex-fs-compute")
    assert "default_rng(808)" in problem_set.setup_code(problem_set.item(book))  # chapter 8's generator
    setup = next(c.source for c in key3.cells if "setup-chapter" in c.metadata.get("tags", []))
    assert "default_rng(808)" not in setup and re.search(r"default_rng\(\d+\)", setup)
    rng = np.random.default_rng(11)  # the course's setup, as it draws without a seed of the offering
    A = rng.standard_normal((3, 3))
    unseeded = f"condition number of Psi_week3: {np.linalg.cond(A @ A.T / 3 + 0.1 * np.eye(3)):.3f}\n"
    assert _outputs(key3, "Psi_week3") != unseeded  # the course's own draws follow the seed too


def test_a_seed_replaces_every_seed_written_as_a_number_and_no_seed_none():
    code = ("%%capture\nrng = np.random.default_rng(2004)\nproblem = gbml.Problem(3, 2, rng=31, mu=0.5)\n"
            "batch = problem.sample_heads(200, 32)\nB0, _ = problem.init(0.1, 33, distance=1e-2)\n")
    assert course.seeded(code, None) == code
    seeds = re.fullmatch(r"%%capture\nrng = np.random.default_rng\((\d+)\)\nproblem = gbml.Problem\(3, 2, "
                         r"rng=(\d+), mu=0.5\)\nbatch = problem.sample_heads\(200, (\d+)\)\nB0, _ = "
                         r"problem.init\(0.1, (\d+), distance=1e-2\)\n", course.seeded(code, 5)).groups()
    assert len(set(seeds) | {"2004", "31", "32", "33"}) == 8  # four new seeds, all different
    assert course.seeded(code, 6) != course.seeded(code, 5) == course.seeded(code, 5)
    assert course.seeded("exercises.check_x(my_f);", 5) == "exercises.check_x(my_f, rng=5);"



def test_a_setup_closes_its_hidden_figures_and_binds_no_name_of_its_own():
    """A setup cell's output is hidden: the figures its chapter's code draws are closed before the cell
    ends, so none is rendered, and the kernel is left with the chapter's names only."""
    import matplotlib.pyplot as plt
    before = [nbformat.v4.new_code_cell("import matplotlib.pyplot as plt\nfig, ax = plt.subplots()"),
              nbformat.v4.new_code_cell("answer = 1", metadata={"tags": ["solution"]})]
    item = problem_set.Item(None, "1.1", "title", "chapter", before, [])
    plt.close("all")
    names = {}
    exec(problem_set.setup_code(item), names)
    assert plt.get_fignums() == []
    assert set(names) - {"__builtins__"} == {"plt", "fig", "ax"}

# -- equations and links -------------------------------------------------------------------------------------

def test_equations_a_statement_cites_are_in_it_numbered_as_in_the_book(offering):
    _, paths, _, _ = offering
    sheet = _read(paths["sheet"])
    for label, tag in (("ex-lr-code", "2.4"), ("ex-anil-rounds", "4.8")):
        statement = _statement(sheet, label)
        assert f"({tag})" in statement and f"]({tag})" not in statement and "#equation-" not in statement
        assert re.search(rf"\$\$\n[^$]+\\tag{{{tag}}}\n\$\$", statement), statement


@pytest.mark.build
def test_every_equation_any_statement_cites_is_written_out():
    """Over every exercise of the book: no statement links to an equation; each cited number, (2.4), (3.3),
    (4.4), (4.8), ..., is followed by its display, tagged with the same number, found in the chapters."""
    built_notebooks()
    cited = {}
    for e in (e for c in collect() for e in c.exercises):
        it = problem_set.item(e)
        statement = problem_set._statement(it, 1, "")
        assert "#equation-" not in statement, e.label
        for tag in re.findall(r"\[\((\d+\.\d+)\)\]\([^)]*#equation-", it.cells[0].source):
            cited[tag] = e.label
            display = rf"^\$\$\n(?:(?!\$\$).*\n)*?.*\\tag{{{re.escape(tag)}}}\n\$\$$"
            assert re.search(display, statement, re.M), (e.label, tag)
    assert {"2.4", "3.3", "4.4", "4.8"} <= set(cited), cited


def _images(cells) -> list:
    return [image for c in cells for image in images(c.get("outputs", []))]


def _figure_cell(name: str, stem: str):
    """The code of the figure ``name`` in the MyST source of a chapter, and its caption there."""
    cell = next(c for c in jupytext.read(ROOT / "chapters" / f"{stem}.md").cells
                if c.metadata.get("mystnb", {}).get("figure", {}).get("name") == name)
    return cell.source.strip(), " ".join(cell.metadata["mystnb"]["figure"]["caption"].split())


def test_the_figure_a_statement_cites_is_in_the_sheet_drawn_with_the_sets_seed(offering):
    """ex-fs-compute uses "the fitted slopes of Fig. 8.2": the sheet shows that figure after the
    setup, numbered and captioned as in the book, drawn by the set's run (seeded: the key's
    image, not the book's); so does the sheet's PDF."""
    _, paths, other, _ = offering
    code, caption = _figure_cell("fig-fs-scaling", "08_finite_samples")
    executed = nbformat.read(ROOT / "_build" / "jupyter_execute" / "chapters" /
                             "08_finite_samples.ipynb", as_version=4)
    book = _images(c for c in executed.cells if c.source.strip() == code)
    assert len(book) == 1
    for built in (paths, other):
        sheet, key = _read(built["sheet"]), _read(built["key"])
        number = re.search(r"Fig\. (\d+\.\d+)", _statement(sheet, "ex-fs-compute")).group(1)
        at = next(i for i, c in enumerate(sheet.cells) if c.source.strip() == code)
        assert "cited-figure" in sheet.cells[at].metadata["tags"]
        assert "setup-chapter" in sheet.cells[at - 1].metadata["tags"]  # drawn after the setup
        assert sheet.cells[at + 1].source == f"**Figure {number}.** {caption}"
        drawn = _images(c for c in key.cells if c.source.strip() == code)
        assert _images([sheet.cells[at]]) == drawn != book and len(drawn) == 1
        pages = PdfReader(built["sheet_pdf"]).pages
        text = unicodedata.normalize("NFKC", " ".join(" ".join(p.extract_text().split()) for p in pages))
        assert f"Figure {number}. {caption.split('$')[0].strip()}" in text
        assert sum(len(p.images) for p in pages) >= 1


@pytest.mark.build
def test_every_figure_and_section_any_statement_cites_is_in_its_sheet():
    """Over every exercise of the book: each figure its statement cites ({numref}) is drawn after
    its setup with its caption; each section it links to ({ref} to a ``sec-`` label) is quoted."""
    built_notebooks()
    figures = sections = 0
    for e in (e for c in collect() for e in c.exercises):
        source = (ROOT / f"{e.chapter}.md").read_text(encoding="utf-8").splitlines()[e.line - 1:]
        statement = "\n".join(source[:source.index(":::", 1)])
        sheet = problem_set.problem_notebook([problem_set.item(e)], "one", key=False).cells
        for name in re.findall(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)", statement):
            code, caption = _figure_cell(name, Path(e.chapter).name)
            at = next(i for i, c in enumerate(sheet) if c.source.strip() == code)
            assert sheet[at + 1].source.endswith(caption), (e.label, name)
            figures += 1
        for anchor in re.findall(r"\{ref\}`(?:[^`<]*<)?(sec-[\w-]+)", statement):
            text = (ROOT / f"{e.chapter}.md").read_text(encoding="utf-8")
            title = re.search(rf"^\({anchor}\)=\n#+ (.*)$", text, re.M).group(1)
            assert any(f"### {title}" in c.source and "cited-section" in c.metadata.get("tags", [])
                       for c in sheet), (e.label, anchor)
            sections += 1
    assert figures >= 1 and sections >= 1


def _links(pdf: Path) -> list:
    found = []
    for page in PdfReader(pdf).pages:
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/Subtype") == "/Link":
                action = annot.get("/A") or {}
                found.append(str(action.get("/URI")) if "/URI" in action else ("dest", annot.get("/Dest"),
                                                                                 action.get("/D")))
    return found


def test_pdfs_have_no_dead_links(offering):
    _, paths, _, _ = offering
    text = "\n".join(c.source for c in _read(paths["sheet"]).cells)
    assert re.search(r"\]\(\d\d_\w+\.ipynb#", text)  # the notebook links to chapter notebooks ...
    for which in ("sheet_pdf", "key_pdf"):  # ... which the PDF, read on its own, cannot open
        reader = PdfReader(paths[which])
        for link in _links(paths[which]):
            if isinstance(link, str):
                assert link.startswith("https://"), (which, link)  # none here: no html.baseurl
            else:
                assert str(link[1] or link[2]).lstrip("/") in reader.named_destinations, (which, link)
        assert "ex-lr-code of chapter 2" in " ".join(" ".join(p.extract_text().split()) for p in reader.pages)
        assert not [link for link in _links(paths[which]) if "127.0.0.1" in str(link) or ".ipynb" in str(link)]


# -- the course folder: nbgrader with feedback that typesets offline --------------------------------------------

@pytest.fixture(scope="module")
def graded(offering):
    from nbgrader.api import Gradebook

    _, paths, _, _ = offering
    folder = paths["course"].parent
    _nbgrader(folder, "generate_assignment", "hw2")
    release = _read(folder / "release" / "hw2" / "hw2.ipynb")
    assert (folder / "release" / "hw2" / "course_checks.py").exists()
    # the ratio upside down: right only when k = 1 (1 case in 5 of the checker's sizes), a near-miss
    inverted = "def my_condition(Psi):\n    e = np.linalg.eigvalsh(Psi)\n    return e[0] / e[-1]\n"
    wrong = "def my_condition(Psi):\n    return float(np.trace(Psi))\n"
    for student, answer in (("key", None), ("inverted", inverted), ("wrong", wrong)):
        (folder / "submitted" / student / "hw2").mkdir(parents=True)
        shutil.copy(folder / "release" / "hw2" / "course_checks.py", folder / "submitted" / student / "hw2")
        if answer is None:
            shutil.copy(paths["nbgrader"], folder / "submitted" / student / "hw2")
            continue
        nb = _read(folder / "release" / "hw2" / "hw2.ipynb")
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == "ex-course-cond-answer":
                cell.source = answer
        nbformat.write(nb, folder / "submitted" / student / "hw2" / "hw2.ipynb")
    _nbgrader(folder, "autograde", "hw2")
    _nbgrader(folder, "generate_feedback", "hw2")
    with Gradebook(f"sqlite:///{folder / 'gradebook.db'}") as gb:
        scores = {s: {g.name: g.auto_score for g in gb.find_submission("hw2", s).notebooks[0].grades}
                  for s in ("key", "inverted", "wrong")}
    print(f"\ncourse-local exercise, hidden test: { {s: v['ex-course-cond-test'] for s, v in scores.items()} }")
    return folder, scores, release


def test_local_coding_exercise_is_autograded_with_partial_credit(graded):
    _, scores, release = graded
    assert "BEGIN SOLUTION" not in "\n".join(c.source for c in release.cells)
    assert scores["key"]["ex-course-cond-test"] == 6 and scores["key"]["ex-lr-code-test"] == 12
    assert scores["inverted"]["ex-course-cond-test"] == 1.2  # partial credit: k = 1 in 2 cases of 10
    assert scores["wrong"]["ex-course-cond-test"] == 0


def test_feedback_typesets_offline_and_its_links_work(graded, browser):
    folder, _, _ = graded
    html = folder / "feedback" / "inverted" / "hw2" / "hw2.html"
    text = html.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\bsrc=", text)  # MathJax is in the page, not loaded from a CDN
    page = browser.new_page(viewport={"width": 1000, "height": 1400})
    refused = []
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file://")
               else (refused.append(r.request.url), r.abort()))
    try:
        page.goto(html.as_uri(), wait_until="load")
        wait_for_mathjax(page)
        state = page.evaluate("""() => ({
            math: document.querySelectorAll('mjx-container svg').length,
            errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
            raw: [...document.querySelectorAll('.text_cell_render')].some(
                e => /\\$\\$|\\\\frac|\\\\lambda|\\\\tag/.test(e.innerText)),
            rendered: document.querySelectorAll('.text_cell_render').length,
            hint: document.body.innerText.includes('you divided the smallest eigenvalue by the largest'),
            links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
            ids: [...document.querySelectorAll('[id], a[name]')].map(e => e.id || e.getAttribute('name')),
        })""")
        SHOTS.mkdir(exist_ok=True)
        page.locator("text=The condition number of a second moment").first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "feedback.png"))
    finally:
        page.close()
    assert refused == [] and state["math"] >= 10 and state["errors"] == 0, state
    assert state["rendered"] >= 10 and not state["raw"], state  # every formula of the markdown typeset
    assert state["hint"]  # the checker's hint for the inverted ratio, in the feedback
    for href in state["links"]:
        assert href.startswith("#") and href[1:] in state["ids"], href  # no link leaves the page
    assert len(state["links"]) >= 5
