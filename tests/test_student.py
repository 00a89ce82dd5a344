"""The student edition (make student): no solution text anywhere in it, and its notebooks run top to
bottom, each unanswered coding exercise's check saying plainly (no traceback) that it is not written yet."""
from __future__ import annotations

import html
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from booksupport import ROOT, built_book, built_student, execute, notebook_chapters, source

N = 8  # solution text is looked for as runs of N consecutive words (at least 4 of them real words)


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9_]+", text.lower())


def _grams(words, n=N) -> set:
    runs = (tuple(words[i:i + n]) for i in range(len(words) - n + 1))
    return {g for g in runs if sum(len(w) >= 3 and w.isalpha() for w in g) >= 4}


def _visible(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        text = html.unescape(re.sub(r"<[^>]+>", " ", text))
    return text


def _solution_grams() -> dict:
    """Per chapter: word runs that occur in solution cells and nowhere else in the chapter's source."""
    out = {}
    for name in notebook_chapters():
        nb = jupytext.read(source(name))
        sol = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        rest = [c.source for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
        grams = set().union(*(_grams(_words(s)) for s in sol)) if sol else set()
        out[name] = grams - set().union(*(_grams(_words(s)) for s in rest))
    return out


def _output_grams(root: Path) -> set:
    grams = set()
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in {".html", ".ipynb", ".js", ".md", ".txt", ".json", ".py"} \
                and "_static" not in path.parts:
            grams |= _grams(_words(_visible(path)))
    return grams


@pytest.fixture(scope="module")
def student():
    return built_student()


def test_solutions_exist_and_full_book_shows_them():
    grams = _solution_grams()
    assert any(grams.values()), "no cell tagged `solution` in any chapter"
    full = _output_grams(built_book())
    for name, g in grams.items():
        if g:  # control: the detector finds the solutions where they are meant to be
            assert g & full, f"{name}: solution text not found in the full book either; the leak test is blind"


def test_student_edition_leaks_no_solution(student):
    out = _output_grams(student)
    for name, g in _solution_grams().items():
        leaked = g & out
        assert not leaked, f"{name}: solution text in the student edition, e.g. {' '.join(sorted(leaked)[0])!r}"
    assert not list(student.rglob("_sources")), "page sources published in the student edition"
    for nb_path in (student / "notebooks").glob("*.ipynb"):
        nb = nbformat.read(nb_path, as_version=4)
        assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_student_notebook_runs_to_the_end_and_says_what_is_unwritten(student, chapter):
    """Run All on an untouched student notebook: no error at all; each unanswered coding exercise's check
    cell prints, without a traceback, that that exercise is not written yet."""
    path = student / "notebooks" / f"{Path(chapter).name}.ipynb"
    assert path.exists(), f"make student wrote no notebook for {chapter}"
    nb = nbformat.read(path, as_version=4)
    stubs = sum("raise NotImplementedError" in c.source for c in nb.cells
                if c.cell_type == "code" and "exercise" in c.metadata.get("tags", []))
    execute(nb, ROOT / Path(chapter).parent)  # raises on the first error output
    checks = [c for c in nb.cells if c.cell_type == "code" and "check" in c.metadata.get("tags", [])]
    said = ["".join(o.get("text", "") for o in c.outputs if o.get("output_type") == "stream") for c in checks]
    unwritten = [text for text in said if "is not written yet" in text]
    assert len(unwritten) == stubs, f"{chapter}: {len(unwritten)} 'not written yet' checks for {stubs} stubs"
    assert all(text.startswith("Not yet — Exercise") and "Traceback" not in text for text in unwritten)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code"), "not run top to bottom"


def test_student_book_download_is_the_stripped_notebook(student):
    for chapter in notebook_chapters():
        dl = student / "html" / "_notebooks" / f"{chapter}.ipynb"
        assert dl.exists()
        nb = nbformat.read(dl, as_version=4)
        assert not [c for c in nb.cells if "solution" in c.metadata.get("tags", [])]
