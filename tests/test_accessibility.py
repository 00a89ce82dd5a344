"""Accessibility of the built book, in Chromium, in light and dark mode.

* axe-core (pinned, fetched by ``tools/fetch_assets.sh`` into ``_vendor/.axe-core/``, injected into
  each page) finds no critical or serious violation on any page of the table of contents
  (:func:`axe_findings`, run by ``test_browser.test_page_in_browser`` on its load of each page);
* every explorer slider is named after what it controls and says its value with its meaning;
* a reader with the keyboard alone reaches every control of a chapter, sees where the focus is, moves
  a slider with the arrow keys, hears the new figure (live region) and opens a fold;
* every multi-series figure drawn by ``gbml.book.plotting`` tells its lines apart by line style or marker,
  not by colour alone.

The book is built once per session and served once (fixtures ``site`` and ``browser`` in conftest.py).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from booksupport import ROOT

import gbml
from gbml.book import plotting

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

AXE = ROOT / "_vendor" / ".axe-core" / "axe.min.js"
THEMES = ("light", "dark")
FAILING_IMPACTS = {"critical", "serious"}
#: axe-core's rules whose verdict depends on the colours (the others read the page's structure and text).
COLOUR_RULES = ("color-contrast", "link-in-text-block")
# Not enforced (moderate/minor), still reported by axe at the time of writing: "region" (the theme's
# primary sidebar puts the book title outside any landmark) and "empty-table-header" (chapter 7's
# tables: one empty corner cell, and header cells holding only math).

# Rules that are the theme's doing and cannot be fixed by configuration or a template override,
# one rule at a time with the reason.  (Empty: every critical or serious finding was fixed.)
ALLOWED_AXE: dict[str, str] = {}

# The chapter the keyboard test walks through: two explorer sliders, code folds, a solution dropdown.
KEYBOARD_PAGE = "chapters/02_linear_representation"


def open_page(browser, server, page_name, theme="light", viewport=None):
    """A new context and page at ``viewport`` (default 1280 x 900) in ``theme``, loaded with its math typeset
    and its explorers drawn."""
    context = browser.new_context(color_scheme=theme, viewport=viewport or {"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server.origin}/{page_name}.html", wait_until="load")
    if page.locator(".math").count():
        page.wait_for_function("() => document.querySelectorAll('.math mjx-container').length"
                               " >= document.querySelectorAll('.math').length", timeout=30000)
    if page.locator(".gbml-explorer-caption").count():
        page.wait_for_selector(".gbml-explorer img.gbml-frame", timeout=30000)
        try:  # the explorer script names the sliders once the widgets are drawn (checked by the tests)
            page.wait_for_function("() => [...document.querySelectorAll('.gbml-explorer .noUi-handle')]"
                                   ".every(h => h.getAttribute('aria-label'))", timeout=10000)
        except PlaywrightTimeout:
            pass
    assert page.evaluate("document.documentElement.dataset.theme") == theme, f"{theme} mode not applied"
    return context, page


def _axe(page, rules: tuple[str, ...] = ()) -> list[dict]:
    """axe-core's violations on the page: every rule, or only ``rules``."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    options = {"resultTypes": ["violations"]}
    if rules:
        options["runOnly"] = {"type": "rule", "values": list(rules)}
    return page.evaluate("""async (options) => (await axe.run(document, options)).violations
        .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ': '
                    + n.failureSummary.replace(/\\s+/g, ' ').slice(0, 200))}))""", options)


def _slider_names(page) -> list[dict]:
    return page.evaluate("""() => [...document.querySelectorAll('.gbml-explorer .widget-slider')].map(s => ({
        label: s.querySelector('.widget-label').textContent.trim(),
        readout: s.querySelector('.widget-readout').textContent.trim(),
        name: s.querySelector('.noUi-handle').getAttribute('aria-label'),
        valuetext: s.querySelector('.noUi-handle').getAttribute('aria-valuetext')}))""")


def test_axe_core_is_fetched_pinned(site):  # the session's build fetches the assets first
    assert AXE.exists(), "run tools/fetch_assets.sh (axe-core is fetched with MathJax)"
    pinned = re.search(r"^AXE=(\S+)$", (ROOT / "tools" / "fetch_assets.sh").read_text(), re.M).group(1)
    assert f"axe v{pinned}" in AXE.read_text(encoding="utf-8")[:300]


def axe_findings(page) -> list[str]:
    """The critical or serious axe-core violations of a loaded page (``test_browser.test_page_in_browser``
    calls it after its own checks, so that each page is loaded once): audited in light mode, then switched
    to dark by the reader's system setting (the theme's "auto" mode follows prefers-color-scheme) and
    audited again with the colour rules.  Every explorer slider is named in both."""
    bad = []
    for theme in THEMES:
        if theme != "light":
            # Audit the final colours, not a frame of the theme's colour transition.
            page.add_style_tag(content="*, *::before, *::after { transition: none !important; }")
            page.emulate_media(color_scheme=theme)
            page.wait_for_function("t => document.documentElement.dataset.theme === t", arg=theme)
        for s in _slider_names(page):  # what a screen reader says for each explorer slider
            assert s["label"] and s["name"] == s["label"], f"slider named {s['name']!r}, labelled {s['label']!r}"
            assert s["valuetext"] == f"{s['label']} = {s['readout']}"
        # The page is the same in both themes, only its colours change: dark mode runs the colour rules.
        bad += [f"{theme}: {v['id']} ({v['impact']}): {v['nodes'][:3]}"
                for v in _axe(page, () if theme == "light" else COLOUR_RULES)
                if v["impact"] in FAILING_IMPACTS and v["id"] not in ALLOWED_AXE]
    return bad


def _focus_info(page) -> dict:
    """The focused element and whether a focus indicator is drawn around it."""
    return page.evaluate("""() => {
        const el = document.activeElement, st = getComputedStyle(el);
        return {tag: el.tagName.toLowerCase(), role: el.getAttribute('role') || '',
                target: el.dataset ? el.dataset.kbdTarget : undefined,
                name: el.getAttribute('aria-label') || (el.textContent || '').trim().slice(0, 40),
                outline: st.outlineStyle !== 'none' && parseFloat(st.outlineWidth) >= 2,
                shadow: st.boxShadow !== 'none',
                visible: el.getClientRects().length > 0,
                inArticle: !!el.closest('article')}; }""")


def _visible_frame_alt(explorer) -> str:
    return explorer.evaluate("ex => ([...ex.querySelectorAll('img.gbml-frame')]"
                             ".find(i => i.getClientRects().length) || {}).alt || ''")


@pytest.mark.parametrize("theme", THEMES)
def test_keyboard_alone_reaches_and_operates_a_chapter(site, browser, theme):
    server, _ = site
    context, page = open_page(browser, server, KEYBOARD_PAGE, theme)
    try:
        # Every visible control of the chapter gets a number; Tab must reach each one.
        targets = page.evaluate("""() => [...document.querySelectorAll(
                'article summary, article button, article .noUi-handle, article a[href]')]
            .filter(e => e.checkVisibility({visibilityProperty: true}))  // not folded away or hover-only
            .map((e, i) => (e.dataset.kbdTarget = String(i)))""")
        stops, seen_handle = [], None
        page.locator("body").focus()
        for _ in range(800):
            page.keyboard.press("Tab")
            info = _focus_info(page)
            if info["tag"] == "body":
                break
            stops.append(info)
            if info["visible"]:
                assert info["outline"] or info["shadow"], f"{theme}: no visible focus on {info}"
            if seen_handle is None and info["role"] == "slider":
                seen_handle = len(stops)
                # Move the slider with the arrow keys: the frame, its value text and the live region change.
                handle = page.locator(".gbml-explorer .noUi-handle:focus")
                explorer = page.locator(".gbml-explorer", has=page.locator(".noUi-handle:focus"))
                before = (_visible_frame_alt(explorer), handle.get_attribute("aria-valuetext"))
                at_end = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
                page.keyboard.press("ArrowLeft" if at_end else "ArrowRight")
                page.wait_for_function("v => document.activeElement.getAttribute('aria-valuetext') !== v",
                                       arg=before[1], timeout=5000)
                page.wait_for_timeout(200)  # the live region follows on the next DOM mutation
                after = (_visible_frame_alt(explorer), handle.get_attribute("aria-valuetext"))
                assert after[0] and after[0] != before[0], "the arrow key did not change the figure"
                assert after[1] != before[1] and after[1].startswith(info["name"] + " = ")
                live = explorer.locator(".gbml-live")
                assert live.get_attribute("aria-live") == "polite"
                assert live.inner_text().strip() == after[0], "the live region does not announce the new figure"
                snapshot = explorer.aria_snapshot()
                assert f'slider "{info["name"]}"' in snapshot and after[0] in snapshot
        in_article = [s for s in stops if s["inArticle"]]
        assert seen_handle, "Tab never reached an explorer slider"
        missed = set(targets) - {s["target"] for s in in_article}
        assert not missed, f"Tab never reached {len(missed)} of {len(targets)} controls of the chapter"
        assert {s["tag"] for s in in_article} >= {"summary", "button", "a"}

        # A code fold (details/summary) opens with Enter.
        fold = page.locator("article details").first
        fold.locator("summary").focus()
        page.keyboard.press("Enter")
        assert fold.evaluate("d => d.open")
        # A solution dropdown (sphinx-togglebutton) opens with Enter.
        toggle = page.locator("article .toggle-button").first
        toggle.focus()
        expanded = toggle.get_attribute("aria-expanded")
        page.keyboard.press("Enter")
        page.wait_for_timeout(200)
        assert toggle.get_attribute("aria-expanded") != expanded
    finally:
        context.close()


def test_multi_series_figures_differ_in_line_style_or_marker():
    """Colour is never the only carrier of meaning: every pair of data lines on an axes differs in
    line style or marker (method curves, several runs of one method, principal angles)."""
    problem = gbml.Problem(10, 3, rng=0)
    runs = {m: gbml.train(m, problem, alpha=0.1, beta=0.05 if m == "avg-loss" else 0.5, T=30, n_tasks=5, rng=1)
            for m in gbml.METHODS}
    anil = runs["anil"]
    cases = {"methods": lambda ax: plotting.plot_distance(ax, runs, predicted_rate=0.95),
             "one method, several settings": lambda ax: plotting.plot_distance(
                 ax, {f"μ = {mu}": anil for mu in (0.25, 0.5, 0.75, 1.0)}),
             "principal angles": lambda ax: plotting.plot_angles(ax, anil)}
    for what, draw in cases.items():
        fig, ax = plotting.frame_figure()
        draw(ax)
        looks = [(str(line.get_linestyle()), str(line.get_marker())) for line in ax.lines
                 if len(line.get_xdata()) > 1]
        assert len(looks) >= 2, what
        assert len(set(looks)) == len(looks), f"{what}: two lines share line style and marker: {looks}"
