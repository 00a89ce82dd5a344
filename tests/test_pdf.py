"""The PDF edition (make pdf, gbml_build.pdf): the PDFs of the published site (``make site``, which prints them
from the book and the student edition it builds for its address; booksupport.published_site).

Checked on the PDFs themselves with poppler's ``pdftotext`` and pypdf: every page of ``_toc.yml`` is there
in order with its title, reachable from the outline and the contents page; no raw TeX or MyST syntax
outside code listings; every figure and explorer frame is printed; solutions are printed in the book and
absent from the student edition.
"""
from __future__ import annotations

import html
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml
from booksupport import ROOT, published_site
from gbml_build.booktoc import INSTRUCTOR_PAGES
from pypdf import PdfReader
from test_student import _grams, _solution_grams, _words

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser


RAW = [r"\frac", r"\mathbb", "$$", "{eq}", ":::", "{glue", "{prf:", "{math}", "{ref}", "{cite", "{numref}"]


def _toc_pages(html_dir: Path | None = None) -> list[str]:
    """Docnames of _toc.yml in reading order, read here independently of gbml_build; for the student
    edition's ``html_dir`` without the instructor-only pages."""
    data = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    out = [data["root"]]
    for part in data.get("parts", []):
        out += [c["file"] for c in part["chapters"]]
    student = html_dir is not None and Path(html_dir).parent.name == "student"  # _build/student/html
    return [name for name in out if not (student and name in INSTRUCTOR_PAGES)]


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split())


def _flat(text: str) -> str:
    """Text without spaces or hyphens (pdftotext joins a word hyphenated at a line end)."""
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text))


def _title(page: Path) -> str:
    """The page's title as the built site shows it (its h1 with the heading link)."""
    heads = [h for h in re.findall(r"<h1>(.*?)</h1>", page.read_text(encoding="utf-8"), re.S) if "headerlink" in h]
    assert heads, f"no title in {page}"
    return _norm(html.unescape(re.sub(r"<[^>]+>", "", heads[0].split('<a class="headerlink"')[0])))


def _text(pdf: Path, first: int | None = None, last: int | None = None, layout: bool = False) -> str:
    pages = ["-f", str(first), "-l", str(last)] if first else []
    pages += ["-layout"] if layout else []
    return subprocess.run(["pdftotext", *pages, str(pdf), "-"], capture_output=True, text=True, check=True).stdout


@pytest.fixture(scope="module")
def pdfs():
    """Both PDFs of the published site (``make site``, which runs ``make pdf``: booksupport.published_site),
    with the built editions they were printed from, and the site's address."""
    if not shutil.which("pdftotext"):  # never skipped: these tests fail without it
        pytest.fail("pdftotext is missing: install Debian's poppler-utils (.ci/run does)")
    copy, base = published_site()
    built = copy / "_build"
    return {"book": (built / "html", built / "pdf" / "book.pdf"),
            "student": (built / "student" / "html", built / "pdf" / "book-student.pdf"), "base": base}


@pytest.fixture
def book(pdfs):
    return pdfs["book"]


@pytest.fixture
def student(pdfs):
    return pdfs["student"]


@pytest.fixture(params=["book", "student"])
def edition(request):
    return request.getfixturevalue(request.param)


def _outline(reader) -> list[tuple[str, int]]:
    out = []

    def walk(items, depth):
        for item in items:
            if isinstance(item, list):
                if depth < 1:
                    walk(item, depth + 1)
            else:
                out.append((_norm(item.title), reader.get_destination_page_number(item)))

    walk(reader.outline, 0)
    return out


def test_every_page_in_order_with_outline_and_contents_links(edition):
    html_dir, pdf = edition
    titles = [_title(html_dir / f"{name}.html") for name in _toc_pages(html_dir)]
    reader = PdfReader(pdf)
    text = _norm(_text(pdf))
    for title in titles:
        assert title in text, f"chapter title {title!r} not in the PDF text"
    # Outline: one bookmark per page of _toc.yml, in order, each on a page that starts with that title.
    marks = dict(_outline(reader))
    starts = []
    for title in titles:
        assert title in marks, f"no bookmark for {title!r}; bookmarks: {list(marks)}"
        starts.append(marks[title])
        assert _flat(title) in _flat(_text(pdf, marks[title] + 1, marks[title] + 1)), \
            f"bookmark {title!r} points at page {marks[title] + 1}, which does not show the title"
    assert starts == sorted(starts) and len(set(starts)) == len(starts), f"pages out of order: {starts}"
    # The printed contents (page 2) lists every page with its number, each entry a link to that page.
    contents = _flat(_text(pdf, 2, 2, layout=True))
    for i, (title, start) in enumerate(zip(titles, starts)):
        # The page number ends where a non-digit starts, or where the next entry's own number does
        # ("... chapter 8" then "2. The multi-task ..." flatten to "chapter82.The").
        following = re.escape(_flat(titles[i + 1])) + "|" if i + 1 < len(titles) else ""
        assert re.search(re.escape(_flat(title)) + str(start + 1) + rf"(?={following}\D|$)", contents), \
            f"contents entry of {title!r} lacks page {start + 1}"
    page_of = {p.indirect_reference.idnum: i for i, p in enumerate(reader.pages)}
    targets = [page_of[a.get_object()["/Dest"][0].idnum] for a in reader.pages[1].get("/Annots", [])
               if "/Dest" in a.get_object()]
    assert targets == starts, f"contents links go to {targets}, chapters start at {starts}"


def _in_code(html_dir: Path, pattern: str) -> int:
    """How often ``pattern`` occurs inside code listings (<pre>, <code>) of the built pages."""
    n = 0
    for name in _toc_pages(html_dir):
        page = (html_dir / f"{name}.html").read_text(encoding="utf-8")
        for block in re.findall(r"<(pre|code)[^>]*>(.*?)</\1>", page, re.S):
            n += html.unescape(re.sub(r"<[^>]+>", "", block[1])).count(pattern)
    return n


def test_the_result_sheet_prints_on_one_or_two_pages(book):
    html_dir, pdf = book
    reader = PdfReader(pdf)
    marks = [start for _, start in _outline(reader)]
    start = dict(_outline(reader))[_title(html_dir / "chapters/result_sheet.html")]
    following = min(m for m in marks if m > start)
    assert 1 <= following - start <= 2, f"the result sheet takes {following - start} A4 pages"
    text = _flat(_text(pdf, start + 1, following))
    for heading in ("Themodel", "Thefivemethods", "Thelocalrate", "Theglobaltheorem"):
        assert heading in text, f"{heading!r} missing from the printed result sheet"


def test_no_raw_tex_or_myst_outside_code_listings(edition):
    html_dir, pdf = edition
    text = _text(pdf)
    for pattern in RAW:
        found, listed = text.count(pattern), _in_code(html_dir, pattern)
        assert found <= listed, (f"{pattern!r} printed {found} times, but only {listed} occurrences are in "
                                 f"code listings: raw TeX or MyST syntax in the text")


def _image_objects(page) -> int:
    """Image XObjects a PDF page (or a form it draws) uses.  Chromium prints every image as one; pypdf's
    ``page.images`` would also parse the content streams for inline images, 50 times slower here."""
    resources = page.get("/Resources")
    xobjects = resources.get_object().get("/XObject") if resources else None
    n = 0
    for ref in (xobjects.get_object().values() if xobjects else ()):
        x = ref.get_object()
        n += 1 if x.get("/Subtype") == "/Image" else _image_objects(x) if x.get("/Subtype") == "/Form" else 0
    return n


def _expected_figures(html_dir: Path) -> int:
    """Images the pages' articles show: <img> elements (not the no-JavaScript copies) plus one frame per
    explorer; not the header's (the Colab button's logo is not printed)."""
    n = 0
    for name in _toc_pages(html_dir):
        page = (html_dir / f"{name}.html").read_text(encoding="utf-8")
        page = page[page.index('<article class="bd-article">'):page.index("</article>")]
        n += page.count('class="gbml-explorer-caption"')
        n += len(re.findall(r'<img\s[^>]*\bsrc="', re.sub(r"<noscript>.*?</noscript>", "", page, flags=re.S)))
    return n


def test_page_and_figure_counts(book, student):
    counts = {}
    for name, (html_dir, pdf) in {"book": book, "student": student}.items():
        n_toc = len(_toc_pages(html_dir))
        reader = PdfReader(pdf)
        pages = len(reader.pages)
        assert n_toc + 2 <= pages <= 40 * n_toc, f"{name}: {pages} pages for {n_toc} pages of _toc.yml"
        images = sum(map(_image_objects, reader.pages))
        expected = _expected_figures(html_dir)
        assert expected >= 10, f"{name}: only {expected} figures in the built pages"
        assert images == expected, f"{name}: {images} images printed, the pages show {expected}"
        counts[name] = pages
    assert counts["student"] < counts["book"], f"the student edition is not shorter: {counts}"


def test_explorers_print_a_frame_caption_and_live_link(edition, pdfs):
    html_dir, pdf = edition
    text = _norm(_text(pdf))
    online = pdfs["base"] + ("student/" if "student" in html_dir.parts else "")
    for name in _toc_pages(html_dir):
        page = (html_dir / f"{name}.html").read_text(encoding="utf-8")
        for caption in re.findall(r'class="gbml-explorer-caption"><strong>Explorer\.</strong> (.*?)</p>', page):
            caption = _norm(html.unescape(caption))
            live = f"Interactive version: {online}{name}.html"
            assert f"{caption} {live}" in text, f"{name}: explorer caption or its live-version line missing"


def test_solutions_in_the_book_and_not_in_the_student_pdf(book, student):
    grams = _solution_grams()
    book_words, student_words = _words(_text(book[1])), _words(_text(student[1]))
    for chapter, g in grams.items():
        if not g:
            continue
        n = len(next(iter(g)))  # an instructor-only page is compared in longer runs (test_student.PAGE_N)
        # Folded solutions are printed opened (an instructor-only page, a solution as a whole, prints too).
        assert g & _grams(book_words, n), f"{chapter}: no solution text in book.pdf"
        leaked = g & _grams(student_words, n)
        assert not leaked, f"{chapter}: solution text in book-student.pdf, e.g. {' '.join(sorted(leaked)[0])!r}"
