"""``make problem-set`` (gbml_build.problem_set): the sheet, the key, their PDFs and the nbgrader source.

One problem set is built per module, from three exercises of different kinds and chapters given out of
book order; nbgrader's own command line then grades three submissions in a throw-away course directory.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from pypdf import PdfReader
from test_notebook_edition import LEFTOVERS

from gbml_build import problem_set
from gbml_build.booktoc import ROOT
from booksupport import built_notebooks
from gbml_build.chapters import collect

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

LABELS = ["ex-td-compute", "ex-lr-code", "ex-avg-minimisers"]  # computation (ch. 7), coding (2), proof (3)
CODING = "ex-lr-code"
# The answer to the coding exercise that calls gbml's reference, which its checker forbids.
REFERENCE_ANSWER = "def my_subspace_distance(B, B_star):\n    return gbml.subspace_distance(B, B_star)\n"
VENV_BIN = Path(sys.executable).parent
EXERCISES = {e.label: e for c in collect() for e in c.exercises}


@pytest.fixture(scope="module")
def built(tmp_path_factory, browser):
    built_notebooks()  # the session's notebook edition (shared with the book build)
    start = time.monotonic()
    paths = problem_set.build(LABELS, "hw1", out=tmp_path_factory.mktemp("problem-sets"), browser=browser)
    print(f"\nproblem set built in {time.monotonic() - start:.0f} s")
    return paths


def _read(path):
    return nbformat.read(path, as_version=4)


def _text(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def images(outputs) -> list:
    """The PNG images (base64) of a cell's outputs: image/png, or an HTML <img> (``show_figure``)."""
    found = []
    for out in outputs:
        data = out.get("data", {})
        found += [data["image/png"]] if "image/png" in data else \
            re.findall(r'<img src="data:image/png;base64,([^"]+)"', data.get("text/html", ""))
    return found


def _unlinked(text: str) -> str:
    """Markdown without link targets (the set points links into the chapter at the chapter's notebook)."""
    return re.sub(r"\]\([^)]*\)", "]", text)


def _solutions():
    """The solution cells of the three exercises in the notebook edition: (markdown bodies, code)."""
    markdown, code = [], []
    for label in LABELS:
        for cell in problem_set.item(EXERCISES[label]).cells:
            found = problem_set._SOLUTION_MD.match(cell.source) if cell.cell_type == "markdown" else None
            if found:
                markdown.append(found.group(2).strip())
            elif "solution" in cell.metadata.get("tags", []):
                code.append(cell.source.strip())
    return markdown, code


def test_the_folder_holds_the_five_files(built):
    folder = built["sheet"].parent
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["hw1-key.ipynb", "hw1-key.pdf", "hw1.ipynb", "hw1.pdf", "nbgrader/gbml_feedback.py",
                     "nbgrader/mathjax/tex-svg.js", "nbgrader/nbgrader_config.py", "nbgrader/source/hw1/hw1.ipynb",
                     "nbgrader/templates/feedback/offline.html.j2"]
    for key in ("sheet", "key", "nbgrader"):
        nbformat.validate(_read(built[key]))


def test_sheet_has_no_solution_and_key_has_every_one(built):
    markdown, code = _solutions()
    assert len(markdown) == 2 and len(code) == 2  # computation: text and code; coding: code; proof: text
    sheet, key = (_unlinked(_text(_read(built[which]))) for which in ("sheet", "key"))
    assert "Solution to" not in sheet and "<details" not in sheet
    for text in map(_unlinked, markdown + code):
        assert text not in sheet
        assert text in key


def test_key_solutions_cite_the_problem_number_and_label_not_the_books_number(built):
    key = _text(_read(built["key"]))
    assert not re.search(r"Solution to Exercise \d", key)  # the book's number shifts
    headings = re.findall(r"<summary><b>Solution to (.*?)</b></summary>", key)
    titles = {label: EXERCISES[label].title for label in LABELS}
    expected = [f"problem {i}: {titles[label]} ({label})" for i, label in enumerate(LABELS, 1)
                if EXERCISES[label].kind != "coding"]  # a coding exercise's solution is code
    assert headings == expected


def test_the_worked_example_a_statement_links_to_is_in_the_sheet(built):
    """ex-meta-compute says "Return to the worked example": the sheet quotes that section under the
    statement (its text and math, from the chapter); the statement no longer links there."""
    it = problem_set.item(EXERCISES["ex-meta-compute"])
    sheet = problem_set.problem_notebook([it], "meta", key=False)
    cells = [c.source for c in sheet.cells]
    statement = next(i for i, c in enumerate(cells) if "<a id='ex-meta-compute'></a>" in c)
    assert "worked example (below)" in cells[statement]
    assert "#sec-meta-worked" not in cells[statement]
    section = cells[statement + 1]
    source = (ROOT / "chapters" / "01_meta_learning.md").read_text(encoding="utf-8")
    title = re.search(r"^\(sec-meta-worked\)=\n## (.*)$", source, re.M).group(1)
    assert f"### {title}" in section  # under the problem's heading
    for phrase in ("Three residuals appear below", r"\theta_t = \begin{bmatrix}2\\1\end{bmatrix}"):
        assert phrase in source and phrase in section, phrase


def test_plain_jupyter_markdown_macros_first_links_work(built):
    for which in ("sheet", "key", "nbgrader"):
        nb = _read(built[which])
        assert nb.cells[0].source.startswith("$$\n\\newcommand{\\R}"), which
        text = _text(nb)
        for target in re.findall(r"\]\(([^)]*)\)", text):  # into this notebook, or a chapter notebook
            page, _, anchor = target.partition("#")
            assert (not page and f"<a id='{anchor}'></a>" in text) or re.fullmatch(r"\d\d_\w+\.ipynb", page), \
                (which, target)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                for what, pattern in LEFTOVERS.items():
                    assert not re.search(pattern, cell.source, re.M), (which, what, cell.source[:200])


def test_exercises_in_the_order_given_with_chapter_kind_minutes_and_total_time(built):
    nb = _read(built["sheet"])
    text = _text(nb)
    starts = [text.index(f"<a id='{label}'></a>") for label in LABELS]
    assert starts == sorted(starts)
    for index, label in enumerate(LABELS, 1):
        e = EXERCISES[label]
        chapter = int(Path(e.chapter).name[:2])
        assert re.search(rf"^## Problem {index}: {re.escape(e.title)}\n\n\*Exercise `{label}` of chapter {chapter}, "
                         rf"\[[^]]+\]\({Path(e.chapter).name}\.ipynb#{label}\) · {e.kind} · "
                         rf"about {e.minutes} minutes · {e.minutes} points\*$", text, re.M), label
    total = sum(EXERCISES[label].minutes for label in LABELS)  # from read_chapter, i.e. the metadata lines
    assert re.search(rf"\*\*Total time: about {total} minutes\*\* for 3 exercises .*; \*\*{total} points\*\*",
                     nb.cells[1].source)


def test_each_problem_has_its_setup_cell_collapsed_without_solutions(built):
    """Code cells: per problem a setup cell (its chapter's code above it, collapsed, output hidden), then the
    exercise's own (stub and check; the key adds solutions)."""
    for which, allowed in (("sheet", {"setup", "exercise", "check", "answer-code"}),
                           ("key", {"setup", "exercise", "check", "solution"})):
        cells = _read(built[which]).cells
        code = [c for c in cells if c.cell_type == "code"]
        assert all(set(c.metadata.get("tags", [])) & allowed for c in code), which
        setups = [c for c in code if "setup-chapter" in c.metadata.get("tags", [])]
        assert len(setups) == len(LABELS), which
        for cell in setups:
            assert cell.source.startswith("%%capture\n# Setup for problem ") and cell.metadata["jupyter"] == \
                {"source_hidden": True}, which
    earlier = [c.source.strip() for label in LABELS for c in problem_set.item(EXERCISES[label]).before
               if "solution" in c.metadata.get("tags", [])]  # solutions of the exercises above them
    for which in ("sheet", "key", "nbgrader"):
        setup = "\n".join(c.source for c in _read(built[which]).cells if "setup" in c.metadata.get("tags", []))
        assert earlier and not [s for s in earlier if s in setup], which


def _execute(nb, folder):
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    checks = ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells
              if "check" in c.metadata.get("tags", [])]
    return errors, checks


def test_key_runs_clean_and_the_sheet_runs_to_the_end(built, tmp_path):
    errors, checks = _execute(_read(built["key"]), tmp_path)
    assert errors == [] and len(checks) == 1
    assert checks[0].startswith("Correct — Exercise (subspace_distance)")
    errors, checks = _execute(_read(built["sheet"]), tmp_path)
    assert errors == [] and len(checks) == 1
    assert checks[0].startswith("Not yet — Exercise (subspace_distance) is not written yet")


def test_nbgrader_source_metadata(built):
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in _read(built["nbgrader"]).cells
             if "nbgrader" in c.metadata}
    answer, check, test = cells[f"{CODING}-answer"], cells[f"{CODING}-check"], cells[f"{CODING}-test"]
    assert answer.metadata["nbgrader"]["solution"] and not answer.metadata["nbgrader"]["grade"]
    assert re.search(r"### BEGIN SOLUTION\n(.+\n)+    ### END SOLUTION$", answer.source)
    assert check.source == ("check_result = exercises.check_subspace_distance(my_subspace_distance)\n"
                            "assert check_result, check_result.message")
    assert re.search(r"^### BEGIN HIDDEN TESTS\n(.+\n)+grading\.points\('check_subspace_distance', "
                     r"my_subspace_distance, points=10, seed=\d+, n_cases=10\)\n### END HIDDEN TESTS$",
                     test.source, re.M)
    for cell, points in ((check, 0), (test, 10)):  # the visible check is for Validate; the hidden test scores
        assert cell.metadata["nbgrader"] == {"grade": True, "grade_id": cell.metadata["nbgrader"]["grade_id"],
                                             "locked": True, "schema_version": 3, "solution": False,
                                             "task": False, "points": points}
    for label in ("ex-td-compute", "ex-avg-minimisers"):  # graded by hand
        cell = cells[f"{label}-answer"]
        assert cell.cell_type == "markdown" and cell.source.startswith("### BEGIN SOLUTION\n")
        meta = cell.metadata["nbgrader"]
        assert meta["solution"] and meta["grade"] and meta["points"] == EXERCISES[label].minutes


# -- nbgrader's command line: generate the assignment, autograde three submissions -------------------------

def _nbgrader(course, *args):
    run = subprocess.run([str(VENV_BIN / "nbgrader"), *args], cwd=course, capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"))
    assert run.returncode == 0, run.stderr[-3000:]
    return run


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    """Scores by student and grade cell after ``nbgrader autograde``, and the release and autograded notebooks."""
    from nbgrader.api import Gradebook

    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(course)!r}\nc.CourseDirectory.course_id = 'pset'\n")
    shutil.copytree(built["nbgrader"].parents[2] / "source", course / "source")
    _nbgrader(course, "generate_assignment", "hw1")
    release = course / "release" / "hw1" / "hw1.ipynb"
    referencing = _read(release)
    for cell in referencing.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == f"{CODING}-answer":
            cell.source = REFERENCE_ANSWER
    for student in ("key", "untouched", "reference"):  # autograde adds the students to the gradebook
        (course / "submitted" / student / "hw1").mkdir(parents=True)
    shutil.copy(course / "source" / "hw1" / "hw1.ipynb", course / "submitted" / "key" / "hw1")  # the solutions
    shutil.copy(release, course / "submitted" / "untouched" / "hw1")
    nbformat.write(referencing, course / "submitted" / "reference" / "hw1" / "hw1.ipynb")
    _nbgrader(course, "autograde", "hw1")
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in ("key", "untouched", "reference"):
            sub = gb.find_submission("hw1", student)
            scores[student] = {"code": (sub.code_score, sub.max_code_score),
                               **{g.name: g.auto_score for g in sub.notebooks[0].grades}}
    print(f"\nnbgrader autograde: {json.dumps(scores)}")
    return scores, _read(release), {s: _read(course / "autograded" / s / "hw1" / "hw1.ipynb")
                                    for s in ("key", "untouched", "reference")}


def test_release_has_stubs_no_solution(built, graded):
    release = _unlinked(_text(graded[1]))
    markdown, code = _solutions()
    assert "BEGIN SOLUTION" not in release and "HIDDEN TESTS" not in release and "YOUR ANSWER HERE" in release
    assert "def my_subspace_distance(B, B_star):\n    # Your code here" in release
    assert "raise NotImplementedError()" in release
    for text in map(_unlinked, markdown + code):
        assert text not in release


def test_submission_from_the_key_earns_full_marks(graded):
    scores = graded[0]["key"]
    assert scores["code"] == (10.0, 10.0) and scores[f"{CODING}-test"] == 10.0 and scores[f"{CODING}-check"] == 0
    assert scores["ex-td-compute-answer"] is None and scores["ex-avg-minimisers-answer"] is None  # by hand


def test_untouched_submission_earns_zero(graded):
    assert graded[0]["untouched"] == {"code": (0.0, 10.0), f"{CODING}-check": 0.0, f"{CODING}-test": 0.0,
                                      "ex-td-compute-answer": 0.0, "ex-avg-minimisers-answer": 0.0}


def test_answer_calling_the_reference_earns_zero(graded):
    assert graded[0]["reference"][f"{CODING}-test"] == 0.0
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in graded[2]["reference"].cells if "nbgrader" in c.metadata}
    for grade_id in (f"{CODING}-check", f"{CODING}-test"):  # the visible check and the hidden test
        said = "".join(o.get("text", "") for o in cells[grade_id].outputs)
        assert "your function calls gbml's reference gbml.subspace_distance" in said, grade_id
    # the visible check's assertion carries the hint, so nbgrader's Validate (which shows the error) shows it too
    (error,) = [o for o in cells[f"{CODING}-check"].outputs if o.output_type == "error"]
    assert error.ename == "AssertionError" and "calls gbml's reference gbml.subspace_distance" in error.evalue


# -- the PDFs ----------------------------------------------------------------------------------------------

def _pdf_pages(path):
    return [" ".join(page.extract_text().split()) for page in PdfReader(path).pages]


def test_pdfs_titles_chapters_page_numbers_no_raw_tex(built):
    for which, label in (("sheet_pdf", "Problem set hw1"), ("key_pdf", "Problem set hw1 — key")):
        pages = _pdf_pages(built[which])
        text = " ".join(pages)
        for index, name in enumerate(LABELS, 1):
            e = EXERCISES[name]
            chapter = int(Path(e.chapter).name[:2])
            assert f"Problem {index}: {e.title}" in text, (which, name)
            assert f"Exercise {name} of chapter {chapter}, " in text, (which, name)
        assert "\\frac" not in text and "$$" not in text and "\\lmax" not in text, which
        # the notebook's set-up cells print as one line each, not as a page of code
        assert "WHEEL_URL" not in text and "finds gbml, or installs it in Colab" in text, which
        for n, page in enumerate(pages, 1):
            assert f"{label} · page {n} of {len(pages)}" in page, (which, n)


def test_key_pdf_has_the_solutions_sheet_pdf_has_none(built):
    sheet, key = " ".join(_pdf_pages(built["sheet_pdf"])), " ".join(_pdf_pages(built["key_pdf"]))
    phrases = ["Solution to problem 1", "Ten times the largest eigenvalue",
               "Correct — Exercise (subspace_distance)", "Q, _ = np.linalg.qr(B)"]
    for phrase in phrases:
        assert phrase in key and phrase not in sheet, phrase
    assert sheet.count("Your answer.") == 2 and "Your answer." not in key  # space for the proof and computation


# -- bad input -------------------------------------------------------------------------------------------

def _refused(tmp_path, capsys, *args) -> str:
    """``make problem-set``'s command run in this process (``main``): it stops (exit status 2) before any
    work, and says why on stderr."""
    assert problem_set.main(["--out", str(tmp_path / "out"), *args]) == 2
    assert not (tmp_path / "out").exists()  # nothing done
    return capsys.readouterr().err


def test_unknown_label_names_it_and_the_labels_near_it(tmp_path, capsys):
    said = _refused(tmp_path, capsys, "--name", "hw1", "ex-lr-code", "ex-td-cod")
    assert "unknown exercise label 'ex-td-cod'" in said and "labels near it: ex-td-code" in said


def test_empty_list_and_bad_name_are_errors(tmp_path, capsys):
    said = _refused(tmp_path, capsys, "--name", "hw1")
    assert "EXERCISES is empty: give one or more exercise labels" in said
    assert "NAME='' cannot name a problem set" in _refused(tmp_path, capsys, "--name", "", "ex-lr-code")


def test_links_go_to_the_online_book_when_html_baseurl_is_set():
    items = [problem_set.item(EXERCISES[label]) for label in ("ex-td-compute", "ex-avg-minimisers")]
    text = _text(problem_set.problem_notebook(items, "hw1", key=True, baseurl="https://example.org/book/"))
    assert "(https://example.org/book/chapters/07_task_diversity.html#ex-td-compute)" in text
    assert "#equation-eq-td-step" not in text and "\\tag{7." in text  # the equation is in the statement
    assert "(https://example.org/book/chapters/03_average_loss.html#prop-avg-mean-head)" in text  # a solution's
    assert ".ipynb" not in text and "](#" not in text and "the links lead to the online book" in text
