"""Every page of the built book in a real browser (Debian chromium driven by playwright).

The session builds the book once, exactly as ``make book`` does (clean ``_build/html``), serves it on
127.0.0.1 and checks, per page: math typeset, images loaded, no request leaving the local server, no
console error outside a short exact-text allow-list, every explorer answering a keyboard-moved slider,
and a figure for every explorer with JavaScript disabled.  Screenshots go to ``_build/screenshots/``.
Chromium missing is a failure, never a skip.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from booksupport import ROOT, toc_files

SHOTS = ROOT / "_build" / "screenshots"
BUDGET = 1.5e6  # bytes a precomputed explorer may add to its page

# Known harmless messages with these versions (stack-notes): exact texts only.
ALLOWED_CONSOLE = {
    "SyntaxError: Identifier 'THEBE_JS_URL' has already been declared",  # sphinx-thebe loads its script twice
    "Got invalid theme mode: . Resetting to auto.",  # pydata theme before the mode is stored
    "TypeError: Cannot read properties of undefined (reading 'Queue')",  # html-manager calls the MathJax 2 API
}


# The `site` (built book, served once per session) and `browser` fixtures are in conftest.py.

PAGES = toc_files()


NOT_FOUND = "Failed to load resource: the server responded with a status of 404 (File not found)"


def _favicon(message) -> bool:
    """The browser's own request for /favicon.ico (the book has none): the only 404 we accept."""
    return message.text == NOT_FOUND and message.location.get("url", "").endswith("/favicon.ico")


def _console_ok(text: str) -> bool:
    return text in ALLOWED_CONSOLE


def _visible_frame_src(explorer) -> str:
    return explorer.evaluate(
        """el => { const imgs = [...el.querySelectorAll('img')].filter(i => i.offsetParent !== null
                 && i.getBoundingClientRect().width > 0);
                 return imgs.map(i => i.src.slice(-200) + '|' + i.alt).join('\\n'); }""")


@pytest.mark.parametrize("page_name", PAGES)
def test_page_in_browser(site, browser, page_name):
    server, html = site
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requests, errors, not_found = [], [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not _favicon(m) else None)
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

    page.screenshot(path=str(SHOTS / f"{page_name.replace('/', '_')}.png"), full_page=True)

    # Every explorer: a keyboard-moved slider changes the displayed figure.
    for i in range(explorers.count()):
        ex = explorers.nth(i)
        ex.scroll_into_view_if_needed()
        handles = ex.locator(".noUi-handle")
        assert handles.count() >= 1, "explorer has no slider"
        for j in range(handles.count()):
            before = _visible_frame_src(ex)
            assert before, "explorer shows no figure"
            handle = handles.nth(j)
            handle.focus()
            at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
            page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
            page.wait_for_timeout(300)
            after = _visible_frame_src(ex)
            assert after and after != before, f"explorer {i}, slider {j}: the figure did not change"
        ex.screenshot(path=str(SHOTS / f"{page_name.replace('/', '_')}_explorer{i}_moved.png"))

    # Budget: the widget state of the page (all its explorers) within 1.5 MB per explorer.
    if n_captions:
        state = page.evaluate("() => [...document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-state+json\"]')]"
                              ".map(s => s.textContent.length).reduce((a, b) => a + b, 0)")
        assert state <= BUDGET * n_captions, f"explorers add {state / 1e6:.2f} MB to {page_name}"

    # Notebook download offered and valid (notebook pages only).
    link = page.locator("a[href*='_notebooks/']")
    if (html / "_notebooks" / f"{page_name}.ipynb").exists():
        assert link.count() >= 1, "no notebook download button"
        href = link.first.get_attribute("href")
        body = page.request.get(f"{server.origin}/{page_name}.html".rsplit("/", 1)[0] + "/" + href).text()
        assert json.loads(body)["nbformat"] == 4

    outside = [u for u in requests if not (u.startswith(server.origin) or u.startswith("data:") or u.startswith("blob:"))]
    assert not outside, f"requests left the local server: {outside}"
    bad_404 = [u for u in not_found if not u.endswith("favicon.ico")]
    assert not bad_404, f"missing resources: {bad_404}"
    unexpected = [e for e in errors if not _console_ok(e)]
    assert not unexpected, f"console errors: {unexpected}"
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
