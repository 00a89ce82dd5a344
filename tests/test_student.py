"""The student edition (make student): no solution text anywhere in it; it serves the student notebook
edition and pack.  (Its notebooks run top to bottom in JupyterLab: tests/test_notebook_edition.py.)"""
from __future__ import annotations

import functools
import html
import re
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest
from booksupport import ROOT, built_book, built_student, notebook_chapters, source, toc_files
from gbml_build import notebooks
from gbml_build.booktoc import INSTRUCTOR_PAGES

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

N = 8  # solution text is looked for as runs of N consecutive words (at least 4 of them real words)
PAGE_N = 12  # an instructor-only page's own text: runs of 12 (its table of chapters rewords their titles)


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


@functools.lru_cache(maxsize=None)  # the session's build is read once per worker
def _solution_grams() -> dict:
    """Per page: word runs of its solutions that no page of the student edition has elsewhere.

    A chapter's solutions are its cells tagged ``solution``; an instructor-only page is a solution as a
    whole, tagged or not (the instructors' page shows the full answer of its ``my_local_rate`` example and
    what the checkers do not catch)."""
    out = {}
    for name in notebook_chapters():
        nb = jupytext.read(source(name))
        sol = [c.source for c in nb.cells if "solution" in c.metadata.get("tags", [])]
        rest = [c.source for c in nb.cells if "solution" not in c.metadata.get("tags", [])]
        grams = set().union(*(_grams(_words(s)) for s in sol)) if sol else set()
        out[name] = grams - set().union(*(_grams(_words(s)) for s in rest))
    book = built_book()
    for name in INSTRUCTOR_PAGES:
        out[name] = _grams(_words(_visible(book / f"{name}.html")), PAGE_N) - _elsewhere(book, name)
    return out


def _elsewhere(book: Path, name: str) -> set:
    """Word runs of the full book's other pages and notebooks, and of the build's code (what the instructor
    page shares with them is not its own: a sentence of the landing page, a formula, a docstring)."""
    grams = set()
    for path in [*book.rglob("*"), *(ROOT / "_build" / "notebooks" / "full").glob("*.ipynb"),
                 *(ROOT / "_ext").rglob("*.py")]:  # the build's code, which the student edition copies to build
        if path.is_file() and path.suffix in TEXT and path.stem != Path(name).name \
                and path.name != "searchindex.js" and not {"_static", "_sources"} & set(path.parts):
            grams |= _grams(_words(_visible(path)), PAGE_N)
    return grams


TEXT = {".html", ".ipynb", ".js", ".md", ".txt", ".json", ".py", ".yml"}


@functools.lru_cache(maxsize=None)
def _output_grams(root: Path) -> dict[int, set]:
    """Word runs, of N and of PAGE_N words, of every text file under ``root`` but the third-party assets
    (``_static``, ``_vendor``), and of the text files inside its zip files (packs)."""
    grams = {N: set(), PAGE_N: set()}

    def add(text):
        words = _words(text)
        for n, found in grams.items():
            found |= _grams(words, n)

    for path in root.rglob("*"):
        if path.is_file() and path.suffix in TEXT and not {"_static", "_vendor"} & set(path.parts):
            add(_visible(path))
        elif path.is_file() and path.suffix == ".zip":
            with zipfile.ZipFile(path) as z:
                for member in z.namelist():
                    if Path(member).suffix in TEXT:
                        text = z.read(member).decode("utf-8", errors="replace")
                        add(html.unescape(re.sub(r"<[^>]+>", " ", text)))
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
            assert g & full[PAGE_N if name in INSTRUCTOR_PAGES else N], f"{name}: solution text not found in the full book either; the leak test is blind"


def test_student_edition_leaks_no_solution(student):
    out = _output_grams(student)
    for name, g in _solution_grams().items():
        leaked = g & out[PAGE_N if name in INSTRUCTOR_PAGES else N]
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


def test_student_edition_has_no_instructor_page(student):
    """The instructor-only pages are in the book and nowhere in the student edition: not in its table of
    contents, site, search index, notebooks or pack; the exercise index does not link them."""
    assert "chapters/instructors" in INSTRUCTOR_PAGES and set(INSTRUCTOR_PAGES) <= set(toc_files())
    book = built_book()
    for name in INSTRUCTOR_PAGES:
        assert (book / f"{name}.html").exists(), name  # control: the full book has it
        assert not (student / "html" / f"{name}.html").exists(), name
        assert not list(student.rglob(f"{Path(name).name}.*")), name
        assert name not in toc_files(student / "src"), name
        for page in (student / "html").rglob("*.html"):
            assert f'{Path(name).name}.html' not in page.read_text(encoding="utf-8"), (name, page)
    index = (student / "html" / "searchindex.js").read_text(encoding="utf-8")
    assert "Teaching with this book" in (book / "searchindex.js").read_text(encoding="utf-8")
    assert "Teaching with this book" not in index
    example = _solution_grams()["chapters/instructors"]  # e.g. the my_local_rate example's solution
    assert any("my_local_rate" in g for g in example) and not example & _output_grams(student)[PAGE_N]
