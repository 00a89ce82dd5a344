"""What a reader sees: code lines that fit the column, and the reading path (what each chapter builds on,
the landing page's map, the notation page).  That no code block scrolls sideways at desktop width and that
solutions stay folded until opened are checked on each page's load in ``test_browser.py``.
"""
from __future__ import annotations

import re

import jupytext
import pytest
import yaml
from booksupport import ROOT, notebook_pages, source

MAX_LINE = 88  # characters: a code block this wide fits the book's text column without scrolling


@pytest.mark.parametrize("page_name", notebook_pages())
def test_code_cell_lines_fit_the_column(page_name):
    nb = jupytext.read(source(page_name))
    long = [(i, len(line), line) for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            for line in cell.source.splitlines() if len(line) > MAX_LINE]
    assert not long, f"{page_name}: code lines longer than {MAX_LINE} characters: {long}"


def _numbered_chapters() -> list[str]:
    """The chapters of the numbered parts of _toc.yml (chapters 1-10 and any added there)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    return [entry["file"] for part in toc["parts"] if part.get("numbered")
            for entry in part["chapters"]]


def test_the_numbered_chapters_are_found():
    assert len(_numbered_chapters()) >= 10


@pytest.mark.parametrize("chapter", _numbered_chapters())
def test_every_chapter_says_what_it_builds_on(chapter):
    """A reader who skips chapters knows what to read first: the line after the title says it."""
    text = source(chapter).read_text(encoding="utf-8")
    title = re.search(r"^# .+\n\n(.*)", text, re.M)
    assert title, f"{chapter}: no title"
    assert title.group(1).startswith("**Builds on:** "), f"{chapter}: no Builds-on line under the title"


def test_the_landing_page_maps_every_chapter():
    """The landing page's map of what each chapter needs has a row for every numbered chapter of _toc.yml."""
    text = source("chapters/intro").read_text(encoding="utf-8")
    section = text.split("### What each chapter needs", 1)
    assert len(section) == 2, "the landing page has no 'What each chapter needs' map"
    rows = re.findall(r"^\| \d+ \| \{doc\}`([\w-]+)` \|", section[1], re.M)
    assert rows == [name.split("/")[-1] for name in _numbered_chapters()], rows
    numbers = [int(n) for n in re.findall(r"^\| (\d+) \| \{doc\}", section[1], re.M)]
    assert numbers == list(range(1, len(rows) + 1)), numbers


def test_the_notation_page_gives_each_symbol_its_chapter():
    """Every row of the notation tables names the chapter (1-10) that introduces the symbol."""
    text = source("chapters/notation").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| $")]
    assert len(rows) > 50
    for row in rows:
        assert re.search(r"\| (10|[1-9]) \|$", row), f"notation row without its chapter: {row}"


# One meaning per symbol: the spellings the book gave up must not come back.
RETIRED = {
    r"\\theta_[jk12]\b|\\(cos|sin|tan)(\^2)?\\theta\b": "a principal angle is zeta_j; theta_t is a regressor",
    r"\\sigma_(\{\\min\}|\{\\max\}|[ij]\b)": "sigma is the noise level; write singular values through eigenvalues",
    r"\\mu_\*": "the diversity is lambda_min(Psi); mu is the simulations' parameter",
    r"\[\\ell, u\]|\\eta u\b|ZZ\^\\T|MWM": "chapter 7's global argument writes its upper bound h, its "
    "whitened inside part tilde A and its factor Gamma: u, Z and M mean other things",
    r"(?<![\\a-zA-Z])a(_t)?\^\{\(|Ba\^\{\(": "the adjoints of a backward pass (chapters 4 and 9) are xi; "
    "a_t is chapter 6's part of a regressor",
    r"\\eta H\b|H_?t? = \\tilde A|\\lmin\(H_t\)|H_?t? = \\alpha A_?t?\^\\T\\Psi": "H_t is task t's Hessian "
    "(chapters 6 and 9); chapter 7's alpha A^T Psi A is tilde W",
}


@pytest.mark.parametrize("chapter", _numbered_chapters() + ["chapters/notation", "chapters/intro"])
def test_retired_symbols_stay_retired(chapter):
    text = source(chapter).read_text(encoding="utf-8")
    for pattern, why in RETIRED.items():
        hits = [m.group(0) for m in re.finditer(pattern, text)]
        assert not hits, f"{chapter}: {hits[:3]}: {why}"


def test_the_papers_theorem_is_stated_once():
    """The paper's informal theorem is stated in one place (chapter 1, thm-meta-informal) and referred to
    elsewhere; the statement says its conditions are recalled, not quoted."""
    stated = {}
    for chapter in _numbered_chapters():
        text = source(chapter).read_text(encoding="utf-8")
        for title in re.findall(r"^:::\{prf:theorem\}(.*)$", text, re.M):
            if "Collins et al. 2022" in title and "book's reading" not in title:
                stated.setdefault(chapter, []).append(title)
    assert list(stated) == ["chapters/01_meta_learning"] and len(stated["chapters/01_meta_learning"]) == 1, stated
    ch1 = source("chapters/01_meta_learning").read_text(encoding="utf-8")
    assert ":label: thm-meta-informal" in ch1 and "recalled, not quoted" in ch1
