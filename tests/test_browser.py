"""Every page of the built book in a real browser (Debian chromium driven by playwright).

The session builds the book once, exactly as ``make book`` does (clean ``_build/html``), serves it on
127.0.0.1 and checks, per page: math typeset, images loaded, no request leaving the local server, no
console error outside a short exact-text allow-list, every explorer answering a keyboard-moved slider,
every code solution folded until opened, no code block scrolling sideways, the layout at a phone's width
(390 px: the same load, resized; two pages are also loaded at that width), no critical or serious axe-core
finding in light and dark mode (``test_accessibility.axe_findings``), and a figure for every explorer with
JavaScript disabled.
Screenshots go to ``_build/screenshots/``.
Chromium missing is a failure, never a skip.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import jupytext
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from booksupport import ROOT, notebook_pages, source, toc_files
from gbml_build import notebooks
from test_accessibility import axe_findings, open_page

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

SHOTS = ROOT / "_build" / "screenshots"
BUDGET = 1.5e6  # bytes a precomputed explorer may add to its page

# Known harmless messages with these versions: exact texts only (none left).  Anything else fails, in
# particular sphinx-thebe's "THEBE_JS_URL has already been declared" (the extension is switched off by
# _ext/gbml_build/html.py), embed.js's call of the MathJax 2 API (_ext/static/mathjax2-shim.js answers it), a
# missing favicon (html.favicon in _config.yml) and the theme's "Got invalid theme mode: ." in a fresh
# browser (html_theme_options.default_mode).
ALLOWED_CONSOLE: set[str] = set()
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


# The `site` (built book, served once per session) and `browser` fixtures are in conftest.py.

PAGES = toc_files()


def _console_ok(text: str) -> bool:
    return text in ALLOWED_CONSOLE


VISIBLE_FRAME = """el => { const imgs = [...el.querySelectorAll('img')].filter(i => i.offsetParent !== null
                 && i.getBoundingClientRect().width > 0);
                 return imgs.map(i => i.src.slice(-200) + '|' + i.alt).join('\\n'); }"""


def _visible_frame_src(explorer) -> str:
    return explorer.evaluate(VISIBLE_FRAME)


@pytest.mark.parametrize("page_name", PAGES)
def test_page_in_browser(site, browser, page_name):
    server, html = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    requests, errors, not_found = [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{e.name}: {e.message}"))
    page.on("response", lambda r: not_found.append(r.url) if r.status >= 400 else None)
    page.goto(f"{server.origin}/{page_name}.html", wait_until="load")
    page.wait_for_load_state("networkidle")

    # Math: every .math node typeset by the local MathJax.
    n_math = page.locator(".math").count()
    if n_math:
        page.wait_for_function("() => document.querySelectorAll('.math mjx-container, mjx-container.MathJax').length"
                               " >= document.querySelectorAll('.math').length", timeout=30000)
        untyped = page.evaluate("() => [...document.querySelectorAll('.math')]"
                                ".filter(m => !m.querySelector('mjx-container')).length")
        assert untyped == 0, f"{untyped} of {n_math} math nodes not typeset"
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"

    # Explorers render (widget state loaded by the local embed.js).
    n_captions = page.locator(".gbml-explorer-caption").count()
    if n_captions:
        page.wait_for_selector(".gbml-explorer img", timeout=30000)
    explorers = page.locator(".gbml-explorer")
    assert explorers.count() == n_captions, "every explorer caption needs a rendered explorer"

    # Images: every <img> loaded with a real size.
    broken = page.evaluate("() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src.slice(0, 80))")
    assert not broken, f"images not loaded: {broken}"
    assert page.evaluate("() => [...document.images].every(i => i.alt !== undefined)")
    missing_alt = page.evaluate("() => [...document.querySelectorAll('img.gbml-frame, .cell_output img')]"
                                ".filter(i => !i.alt || !i.alt.trim()).length")
    assert missing_alt == 0, "every figure needs alt text"

    # The page's first screen (the whole page with GBML_FULL_PAGE_SHOTS=1: 2-5 s more per chapter).
    page.screenshot(path=str(SHOTS / f"{page_name.replace('/', '_')}.png"),
                    full_page=os.environ.get("GBML_FULL_PAGE_SHOTS") == "1")

    # Every explorer: a keyboard-moved slider changes the displayed figure.
    for i in range(explorers.count()):
        ex = explorers.nth(i)
        ex.scroll_into_view_if_needed()
        handles = ex.locator(".noUi-handle")
        assert handles.count() >= 1, "explorer has no slider"
        ex.screenshot(path=str(SHOTS / f"{page_name.replace('/', '_')}_explorer{i}_default.png"))
        for j in range(handles.count()):
            before = _visible_frame_src(ex)
            assert before, "explorer shows no figure"
            handle = handles.nth(j)
            # issue 19: every slider has at least 7 positions (a static slider's value is a frame index)
            positions = int(float(handle.get_attribute("aria-valuemax"))) - int(float(handle.get_attribute("aria-valuemin"))) + 1
            assert positions >= 7, f"explorer {i}, slider {j}: {positions} positions"
            handle.focus()
            at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
            try:
                page.wait_for_function(f"([i, b]) => ({VISIBLE_FRAME})(document.querySelectorAll("
                                       "'.gbml-explorer')[i]) !== b", arg=[i, before], timeout=5000)
            except PlaywrightTimeout:
                pass
            after = _visible_frame_src(ex)
            assert after and after != before, f"explorer {i}, slider {j}: the figure did not change"
        ex.screenshot(path=str(SHOTS / f"{page_name.replace('/', '_')}_explorer{i}_moved.png"))

    # Budget: the widget state of the page (all its explorers) within 1.5 MB per explorer.
    if n_captions:
        state = page.evaluate("() => [...document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-state+json\"]')]"
                              ".map(s => s.textContent.length).reduce((a, b) => a + b, 0)")
        assert state <= BUDGET * n_captions, f"explorers add {state / 1e6:.2f} MB to {page_name}"

    # Notebook download: the notebook edition's notebook on its pages (chapters, notation), none elsewhere.
    link = page.locator("a[href*='_notebooks/']")
    if page_name in notebooks.pages():
        assert link.count() >= 1, "no notebook download button"
        href = link.first.get_attribute("href")
        body = page.request.get(f"{server.origin}/{page_name}.html".rsplit("/", 1)[0] + "/" + href).body()
        edition = ROOT / "_build" / "notebooks" / "full" / f"{page_name.rsplit('/', 1)[-1]}.ipynb"
        assert body == edition.read_bytes(), "the download is not the full edition's notebook"
    else:
        assert link.count() == 0, "a notebook download on a page outside the notebook edition"

    outside = [u for u in requests if not (u.startswith(server.origin) or u.startswith("data:") or u.startswith("blob:"))]
    assert not outside, f"requests left the local server: {outside}"
    assert not not_found, f"missing resources: {not_found}"
    assert page.evaluate("() => !!document.querySelector('link[rel=icon]')"), "no favicon"
    assert _visible_search_entries(page) == 1, "one search entry per page"
    unexpected = [e for e in errors if not _console_ok(e)]
    assert not unexpected, f"console errors: {unexpected}"
    # The same page at a phone's width (390 px), then back to the desktop's for axe-core.
    page.set_viewport_size(PHONE)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    _fits_a_phone(page)
    page.set_viewport_size(DESKTOP)
    bad = axe_findings(page)  # it leaves the page in dark mode
    assert not bad, "axe-core, critical or serious:\n" + "\n".join(bad)
    if page_name in SOLUTION_PAGES:  # it opens the solutions' folds
        _solutions_stay_folded_until_opened(page, page_name)
    _code_fits_the_column(page, page_name)  # last: it opens every fold
    context.close()


def _code_fits_the_column(page, page_name):
    """At 1280 px no code block scrolls sideways, folds opened: a line of test_reading.MAX_LINE (88)
    characters fits the text column at the book's font size for code cells."""
    page.evaluate("() => document.querySelectorAll('details').forEach(d => d.open = true)")
    wide = page.evaluate("""() => [...document.querySelectorAll('.cell_input pre')]
        .filter(e => e.clientWidth > 0 && e.scrollWidth > e.clientWidth + 1)
        .map(e => e.textContent.split('\\n').reduce((a, b) => a.length > b.length ? a : b))""")
    assert not wide, f"{page_name}: code blocks that scroll sideways (longest line of each): {wide}"


def _solution_code_cells(page_name) -> int:
    nb = jupytext.read(source(page_name))
    return sum(c.cell_type == "code" and "solution" in c.metadata.get("tags", []) for c in nb.cells)


SOLUTION_PAGES = [name for name in notebook_pages() if _solution_code_cells(name)]


def test_some_pages_have_code_solutions():
    assert len(SOLUTION_PAGES) >= 8, SOLUTION_PAGES


def _shown(locator) -> list[bool]:
    """Visibility of each element as Chromium renders it (content of a closed <details> is not)."""
    return [locator.nth(i).is_visible() and locator.nth(i).evaluate("e => e.checkVisibility()")
            for i in range(locator.count())]


def _solutions_stay_folded_until_opened(page, page_name):
    """Every code solution is a cell whose code and output show only once its toggles are opened."""
    cells = page.locator(".cell.tag_solution")
    assert cells.count() == _solution_code_cells(page_name), "every code solution is rendered as a cell"
    outputs_seen = 0
    for i in range(cells.count()):
        cell = cells.nth(i)
        inputs, outputs = cell.locator(".cell_input"), cell.locator(".cell_output")
        assert inputs.count() == 1
        assert not any(_shown(inputs)), f"solution {i}: its code shows before it is opened"
        assert not any(_shown(outputs)), f"solution {i}: its output shows before it is opened"
        toggles = cell.locator("details > summary")
        assert toggles.count() >= 1, f"solution {i}: no toggle to open it"
        for j in range(toggles.count()):
            toggles.nth(j).click()
        assert all(_shown(inputs)), f"solution {i}: opening the toggle does not show the code"
        assert all(_shown(outputs)), f"solution {i}: opening the toggle does not show the output"
        outputs_seen += outputs.count()
    if page_name.endswith("04_anil"):
        assert outputs_seen >= 1, "chapter 4's computed answer (rounds to 1e-6) is a folded output"


def _visible_search_entries(page) -> int:
    """Search buttons and fields a reader can see (the closed search dialog does not count)."""
    return page.evaluate("""() => [...document.querySelectorAll('.search-button__button, form.bd-search')]
        .filter(e => !e.closest('dialog:not([open])') && e.getClientRects().length > 0
                     && getComputedStyle(e).visibility !== 'hidden').length""")


def test_search_page_has_one_search_field(site, browser):
    server, _ = site
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server.origin}/search.html", wait_until="load")
    page.wait_for_load_state("networkidle")
    assert _visible_search_entries(page) == 1
    assert page.locator(".bd-search-container form.bd-search input").is_visible()
    assert not [e for e in errors if not _console_ok(e)], errors
    context.close()


def _fits_a_phone(page):
    """At 390 px: nothing wider than the screen, explorer sliders one per line and long enough to use,
    explorer frames inside the column, display equations inside the column (scrolling if wider)."""
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"], "page scrolls sideways"
    for i in range(page.locator(".gbml-explorer").count()):
        ex = page.locator(".gbml-explorer").nth(i)
        width = ex.evaluate("e => e.getBoundingClientRect().width")
        tracks = ex.evaluate("e => [...e.querySelectorAll('.noUi-target')].map(t => t.getBoundingClientRect().width)")
        assert tracks and min(tracks) >= 0.5 * width, f"explorer {i}: slider tracks {tracks} px in {width:.0f} px"
        tops = ex.evaluate("e => [...e.querySelectorAll('.widget-slider')].map(s => s.getBoundingClientRect().top)")
        assert len(set(round(t) for t in tops)) == len(tops), f"explorer {i}: sliders share a line"
        frames = ex.evaluate("e => [...e.querySelectorAll('img')].filter(i => i.offsetParent)"
                             ".map(i => i.getBoundingClientRect().right)")
        assert frames and max(frames) <= PHONE["width"], f"explorer {i}: frame wider than the screen"
    cut = page.evaluate("""() => [...document.querySelectorAll('mjx-container[display="true"]')].filter(m => {
        const right = m.firstElementChild.getBoundingClientRect().right;
        const scrolls = ['auto', 'scroll'].includes(getComputedStyle(m).overflowX);
        return m.getBoundingClientRect().right > innerWidth || (right > innerWidth && !scrolls); }).length""")
    assert cut == 0, f"{cut} display equations run past the screen"
    # Inline formulas too (MathJax 3 cannot break them): none may be clipped at its box's right edge.
    clipped = page.evaluate("""() => [...document.querySelectorAll('mjx-container:not([display="true"])')]
        .filter(m => m.offsetParent && m.getBoundingClientRect().right > m.parentElement.getBoundingClientRect().right + 1
                     && !['auto', 'scroll'].includes(getComputedStyle(m).overflowX)).length""")
    assert clipped == 0, f"{clipped} inline formulas run past their column"


# Each page's phone layout is checked on its desktop load, resized (test_page_in_browser); these pages are
# also loaded at phone width from the start, in case a script lays out a narrow screen differently.
PHONE_LOADS = ["chapters/intro", "chapters/02_linear_representation"]


@pytest.mark.parametrize("page_name", PHONE_LOADS)
def test_page_loaded_at_phone_width(site, browser, page_name):
    context, page = open_page(browser, site[0], page_name, viewport=PHONE)
    _fits_a_phone(page)
    context.close()


@pytest.mark.parametrize("page_name", PAGES)
def test_page_without_javascript(site, browser, page_name):
    server, html = site
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.origin}/{page_name}.html", wait_until="load")
    captions = page.locator(".gbml-explorer-caption").count()
    fallbacks = page.locator("figure.gbml-explorer-fallback img")
    assert fallbacks.count() == captions, "every explorer needs a <noscript> figure"
    for i in range(captions):
        img = fallbacks.nth(i)
        assert img.is_visible()
        assert img.evaluate("i => i.complete && i.naturalWidth > 0")
        assert (img.get_attribute("alt") or "").strip()
    if captions:
        page.locator("figure.gbml-explorer-fallback").first.screenshot(
            path=str(SHOTS / f"{page_name.replace('/', '_')}_nojs_explorer.png"))
    context.close()


def test_no_page_sources_published(site):
    _, html = site
    assert not (html / "_sources").exists(), "page sources are published (html_copy_source must be false)"
    for name in toc_files():
        text = (html / f"{name}.html").read_text(encoding="utf-8")
        assert "_sources/" not in text


def test_headings_form_a_clean_outline(site):
    """Accessibility: every page has one h1 and its headings never skip a level (h2 -> h4)."""
    import re

    _, html = site
    for name in toc_files():
        text = (html / f"{name}.html").read_text(encoding="utf-8")
        article = text[text.find("<article"):text.find("</article>")]
        levels = [int(m) for m in re.findall(r"<h([1-6])\b", article)]
        assert levels.count(1) == 1, f"{name}: {levels.count(1)} h1 headings"
        skips = [(a, b) for a, b in zip(levels, levels[1:]) if b > a + 1]
        assert not skips, f"{name}: heading levels skip {skips}"


def _chapters() -> list[str]:
    """The numbered chapters: the notebook pages named NN_*, in table-of-contents order."""
    return [name for name in toc_files() if re.fullmatch(r"chapters/\d\d_\w+", name)]


def _article_hrefs(html, name) -> set[str]:
    text = (html / f"{name}.html").read_text(encoding="utf-8")
    article = text[text.find("<article"):text.find("</article>")]
    return {href.split("#")[0] for href in re.findall(r'href="([^"]+)"', article)}


@pytest.mark.parametrize("page_name", ["chapters/intro", "chapters/instructors"])
def test_chapter_guides_link_every_chapter(site, page_name):
    """The landing page's reading guide and the instructors' chapter table link every chapter."""
    _, html = site
    chapters = _chapters()
    assert len(chapters) == 10
    hrefs = _article_hrefs(html, page_name)
    missing = [c for c in chapters if f"{c.split('/')[-1]}.html" not in hrefs]
    assert not missing, f"{page_name} does not link {missing}"


def test_numbering_is_per_chapter(site):
    """Chapter N numbers its equations (N.1), (N.2), ..., and its figures, propositions and exercises
    'Fig. N.1', 'Proposition N.1', ..., each counting from 1; pages outside the chapters have no
    chapter number in their headings."""
    _, html = site
    for number, name in enumerate(_chapters(), 1):
        text = (html / f"{name}.html").read_text(encoding="utf-8")
        h1 = re.search(r"<h1>(.*?)</h1>", text[text.find("<article"):], re.S).group(1)
        assert f'<span class="section-number">{number}. </span>' in h1, f"{name}: heading not numbered {number}"
        equations = re.findall(r'class="eqno">\(([\d.]+)\)', text)
        assert equations == [f"{number}.{i}" for i in range(1, len(equations) + 1)], f"{name}: {equations}"
        captions = re.findall(r'class="caption-number">(\w+)\.? ([\d.]+) ', text)
        kinds: dict[str, list[str]] = {}
        for kind, value in captions:
            kinds.setdefault(kind, []).append(value)
        for kind, values in kinds.items():
            expected = [f"{number}.{i}" for i in range(1, len(values) + 1)]
            assert values == expected, f"{name}: {kind} numbered {values}"
        assert "Proposition" in kinds or "Definition" in kinds or "Fig" in kinds, f"{name}: nothing numbered?"
    for name in [n for n in toc_files() if n not in _chapters()]:
        text = (html / f"{name}.html").read_text(encoding="utf-8")
        article = text[text.find("<article"):text.find("</article>")]
        assert 'class="section-number"' not in article, f"{name} carries a chapter number"


def test_landing_page_links_both_course_packs(site, browser):
    """The packs linked from the landing page download, and each is the zip ``make notebooks`` wrote."""
    server, html = site
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{server.origin}/chapters/intro.html")
    hrefs = page.eval_on_selector_all("a[href$='.zip']", "as => as.map(a => a.getAttribute('href'))")
    assert [h.rsplit("/", 1)[-1] for h in hrefs] == ["course-pack.zip", "course-pack-student.zip"]
    for href in hrefs:
        body = page.request.get(f"{server.origin}/chapters/{href}").body()
        assert body == (ROOT / "_build" / "notebooks" / href.rsplit("/", 1)[-1]).read_bytes()
    context.close()
