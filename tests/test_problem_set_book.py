"""A problem set of every exercise of the book (``gbml_build.problem_set``) against the book's execution.

The key of a set must print what the book prints: each solution cell's outputs are compared with the same
cell's outputs in the book's executed chapter (``_build/jupyter_execute``, written by the build of the
notebook edition).  Each problem of the sheet must run, after its setup, just the code the student edition of
its chapter runs down to the end of the exercise: JupyterLab runs every student notebook to the end, each
stub's check saying "not written yet" (``test_notebook_edition``), so the sheet of every exercise needs no run
of its own (``test_problem_set`` runs a sheet of three).  One set of all the exercises, in book order, built
once for the module (about 1 min to run the key).
"""
from __future__ import annotations

import re
import symtable
from pathlib import Path

import jupytext
import nbformat
import pytest
from booksupport import ROOT, built_notebooks, notebook_chapters, source
from test_problem_set import images

from gbml_build import problem_set
from gbml_build.chapters import collect

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

EXERCISES = [e for c in collect() for e in c.exercises]
EXECUTED = ROOT / "_build" / "jupyter_execute"


def _tags(cell) -> list:
    return cell.metadata.get("tags", [])


@pytest.fixture(scope="module")
def every(tmp_path_factory):
    built_notebooks()  # also executes the book's chapters into _build/jupyter_execute
    items = [problem_set.item(e) for e in EXERCISES]
    folder = tmp_path_factory.mktemp("every")
    key = problem_set.run_key(problem_set.problem_notebook(items, "every", key=True), folder)
    return items, key, problem_set.problem_notebook(items, "every", key=False)


def _shown(outputs, *, book: bool) -> list:
    """What a cell shows: the text of each stream, then each rich output (its types; its text unless an image).

    The book's build merges a cell's streams (``nb_merge_streams``): myst-nb appends the later streams' text to
    the first stream of each name in place and leaves the later ones in the executed notebook, so there the
    first stream of a name holds the whole text; in the key, the streams of a name are joined.
    """
    streams, rich = {}, []
    for out in outputs:
        if out.output_type == "stream":
            text = out.text.rstrip() + "\n"
            if not book:
                streams[out.name] = streams.get(out.name, "") + text
            else:
                streams.setdefault(out.name, text)
        elif out.output_type in ("display_data", "execute_result"):
            types = tuple(sorted(out.data))
            image = any(t.startswith("image/") for t in types)
            rich.append((types, None if image else out.data.get("text/plain")))
        else:
            rich.append((out.output_type, out.get("ename"), out.get("evalue")))
    return [sorted(streams.items()), rich]


def _book_cells() -> dict[str, tuple[str, object]]:
    """Source of every code cell of the book's executed chapters -> (chapter, executed cell)."""
    cells = {}
    for name in notebook_chapters():
        nb = nbformat.read(EXECUTED / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cells[cell.source.strip()] = (name, cell)
    return cells


def test_every_key_prints_what_the_book_prints(every):
    _, key, _ = every
    book = _book_cells()
    solutions = [c for c in key.cells if c.cell_type == "code" and "solution" in _tags(c)]
    in_sources = sum("solution" in _tags(c) for name in notebook_chapters() for c in jupytext.read(source(name)).cells
                     if c.cell_type == "code")
    assert len(solutions) == in_sources > 20  # every solution cell of the book is in the set
    differ = []
    for cell in solutions:
        name, executed = book[cell.source.strip()]
        if _shown(cell.outputs, book=False) != _shown(executed.outputs, book=True):
            differ.append(f"{name}: {cell.source.splitlines()[0]}\n  key:  {_shown(cell.outputs, book=False)}\n"
                          f"  book: {_shown(executed.outputs, book=True)}")
    printing = sum(bool(c.outputs) for c in solutions)  # the others define a function (coding exercises)
    assert printing >= 10
    print(f"\n{len(solutions) - len(differ)} of {len(solutions)} solution cells of the key ({printing} of them "
          "printing) show what the book shows")
    assert not differ, "\n".join(differ)


def test_a_figure_a_statement_cites_is_drawn_as_the_book_draws_it(every):
    """ex-fs-compute cites Fig. 8.2: the key draws it again after the setup, the book's image."""
    _, key, _ = every
    book = _book_cells()
    figures = [c for c in key.cells if "cited-figure" in _tags(c)]
    assert figures
    for cell in figures:
        drawn, shown = (images(outputs) for outputs in (cell.outputs, book[cell.source.strip()][1].outputs))
        assert drawn == shown and len(drawn) == 1


def test_the_fs_compute_key_gives_the_books_numbers(every):
    """Issue 22's example: the floor and the predicted m and n the statement and written solution quote."""
    _, key, _ = every
    cell = next(c for c in key.cells if "solution" in _tags(c) and "floor_20 = floor()" in c.source)
    text = "".join(o.get("text", "") for o in cell.outputs)
    book = _book_cells()[cell.source.strip()][1]
    assert text.strip() and text == "".join(o.get("text", "") for o in book.outputs[:1])
    statement = next(c.source for c in key.cells if c.cell_type == "markdown" and "<a id='ex-fs-compute'>" in c.source)
    floor = re.search(r"floor at m = 20: (\d\.\d+)", text).group(1)
    assert f"floor {float(floor):.3f} at" in statement  # the statement quotes the floor the key computes
    title = next(e.title for e in EXERCISES if e.label == "ex-fs-compute")
    written = next(c.source for c in key.cells if c.cell_type == "markdown" and "Solution to" in c.source
                   and title in c.source)
    for printed in (r"predicted m for a floor of 0.01: (\d+)", r"tasks per round n: (\d+)"):
        number = re.search(printed, text).group(1)
        assert re.search(rf"\\approx \$\s+{number}\b", written), (number, written)  # and the m, n it gives


CLOSE = '__import__("matplotlib.pyplot").pyplot.close("all")'  # ends a setup: its figures are not rendered


def _student_code(label: str, stem: str) -> tuple[list[str], list[str]]:
    """The code cells (their setup cell left out) of a chapter's student notebook, what JupyterLab runs: those
    above the exercise ``label``, and those of the exercise (down to the next exercise or the references)."""
    nb = nbformat.read(built_notebooks() / "student" / f"{stem}.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells) if c.source.startswith(f"<a id='{label}'></a>"))
    end = next((i for i in range(start + 1, len(nb.cells)) if nb.cells[i].cell_type == "markdown" and (
        re.search(r"^#+ Exercise .*\)[ \t]*$", nb.cells[i].source, re.M)
        or nb.cells[i].source.startswith("## References"))), len(nb.cells))

    def code(cells):
        return [c.source.strip() for c in cells if c.cell_type == "code" and "setup" not in _tags(c)]
    return code(nb.cells[:start]), code(nb.cells[start:end])


def test_every_sheet_problem_runs_what_the_student_edition_runs(every):
    """Problem by problem, the sheet's setup and the exercise's own code cells are the student notebook's code
    down to the end of the exercise, in its order; besides them the sheet has only the cited figures (the
    chapter's cells drawn again, as the key does), an empty cell for a computation's answer and, in front, the
    notebook's setup (as every notebook of the book has)."""
    items, _, sheet = every
    problems = [[]]
    for cell in sheet.cells:
        if cell.cell_type == "markdown" and re.search(r"^## Problem \d+:", cell.source, re.M):
            problems.append([])
        elif cell.cell_type == "code" and not {"cited-figure", "answer-code"} & set(_tags(cell)):
            problems[-1].append(cell)
    assert len(problems) == len(items) + 1
    assert problems[0] and all(_tags(c) == ["setup"] for c in problems[0])  # the front: the notebook's setup
    checks = 0
    for index, (it, cells) in enumerate(zip(items, problems[1:]), 1):
        label = it.exercise.label
        above, exercise = _student_code(label, it.stem)
        setup, *own = cells
        header = problem_set.SETUP_HEADER.format(index=index, where=f"chapter {it.chapter}", label=label)
        ran = "\n\n".join(code for code in above if code)
        assert "setup-chapter" in _tags(setup) and setup.source.startswith(header + ran), label
        assert setup.source[len(header + ran):].strip().startswith(CLOSE), label
        assert [c.source.strip() for c in own] == exercise, label
        checks += sum("check" in _tags(c) for c in own)
    assert checks == sum(e.kind == "coding" for e in EXERCISES)


def _assigned(code: str) -> set:
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith("%"))
    return {s.get_name() for s in symtable.symtable(code, "<setup>", "exec").get_symbols()
            if s.is_assigned() or s.is_imported() or s.is_namespace()}


def test_names_a_statement_uses_are_defined_in_the_sheet():
    """A name in backticks in a statement that the chapter's code defines (e.g. ``batch`` and ``B0`` of
    ex-avg-two-steps) is defined by the problem's setup or its own cells."""
    built_notebooks()
    missing, checked = [], 0
    for e in EXERCISES:
        it = problem_set.item(e)
        chapter = _assigned("\n".join(c.source for c in it.before + it.cells if c.cell_type == "code"))
        sheet = _assigned(problem_set.setup_code(it) + "\n" + "\n".join(
            c.source for c in it.cells if c.cell_type == "code" and "solution" not in _tags(c)))
        for name in set(re.findall(r"`([A-Za-z_]\w*)`", it.cells[0].source)) & chapter:
            checked += 1
            if name not in sheet:
                missing.append(f"{e.label}: {name}")
    assert checked >= 2 and missing == []
