"""The student edition (make student): no solution text anywhere in it; it serves the student notebook
edition and pack.  (Its notebooks run top to bottom in JupyterLab: tests/test_notebook_edition.py.)"""
from __future__ import annotations

import html
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from booksupport import ROOT, built_book, built_student, notebook_chapters, source
from gbml_build import notebooks

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


def test_student_book_serves_the_student_notebook_edition_and_pack(student):
    """Its download buttons serve the student edition's notebooks (`make notebooks`), also copied to
    notebooks/ for handing out; the student course pack is the only pack it links and ships."""
    edition = ROOT / "_build" / "notebooks" / "student"
    names = [Path(n).name for n in notebooks.pages()]
    for name in notebooks.pages():
        served = (student / "html" / "_notebooks" / f"{name}.ipynb").read_bytes()
        assert served == (edition / f"{Path(name).name}.ipynb").read_bytes(), name
    assert sorted(p.stem for p in (student / "notebooks").glob("*.ipynb")) == sorted(names)
    for path in (student / "notebooks").glob("*.ipynb"):
        assert path.read_bytes() == (edition / path.name).read_bytes()
    assert [p.name for p in (student / "html" / "packs").iterdir()] == ["course-pack-student.zip"]
    landing = (student / "html" / "chapters" / "intro.html").read_text()
    assert re.findall(r'href="[^"]*?([\w-]+\.zip)"', landing) == ["course-pack-student.zip"]
