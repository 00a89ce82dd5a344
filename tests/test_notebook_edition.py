"""The notebook edition (`make notebooks`, gbml_build.notebooks): plain Jupyter notebooks and course packs.

The notebooks are built once per session (a sphinx-tojupyter build of the book, which executes the
chapters).  Each notebook is then checked as a file (no MyST/Sphinx syntax left, macros defined,
solutions folded or absent) and run top to bottom, alone in an empty folder, by a kernel of a fresh
virtual environment holding only what the course pack's ``requirements.txt`` installs (the pinned
packages and the pack's ``gbml`` wheel).
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import venv
import zipfile
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from booksupport import built_notebooks
from test_notebooks import DRIVE
from gbml_build import notebooks
from gbml_build.booktoc import ROOT

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

OUT = ROOT / "_build" / "notebooks"
EDITIONS = ("full", "student")

# Book syntax that must not survive into a notebook's Markdown.
LEFTOVERS = {
    "colon fence": r"^\s*:::",
    "backtick directive": r"```\s*\{",
    "role": r"\{[a-z][\w:-]*\}`",
    "directive name": r"\{(admonition|note|tip|warning|dropdown|figure|code-cell|glue|glue:\w+|exercise|solution|"
                      r"prf:\w+|eq|cite|cite:\w+|numref|ref|doc|math|table)\}",
    "glue": r"\{glue",
    "MyST label": r"^\(\s*[\w-]+\s*\)=\s*$",
    "MyST comment or exercise metadata": r"^%\s",
    "cell break": r"^\+\+\+",
    "directive option": r"^:(label|class|name|tags|caption|alt):",
    "build marker": r"GBML(BLOCK|TITLE|END)",
    "inline markers moved out of a table": r"[`*]{4,}\|",
}


@pytest.fixture(scope="session")
def built():
    """The notebook edition, built once per session (shared with the book build, booksupport)."""
    start = time.monotonic()
    built_notebooks()
    paths = {ed: sorted((OUT / ed).glob("*.ipynb")) for ed in EDITIONS}
    print(f"\nnotebook edition: {time.monotonic() - start:.0f} s, {len(paths['full'])} + {len(paths['student'])} notebooks")
    return paths


def test_one_notebook_per_chapter_and_the_notation_page_in_each_edition(built):
    names = [Path(n).name + ".ipynb" for n in notebooks.pages()]
    assert len(notebooks.chapters()) == 10 and len(names) == 11 and "notation.ipynb" in names
    for edition in EDITIONS:
        assert [p.name for p in built[edition]] == sorted(names)
    cells = {edition: [{k: v for k, v in c.items() if k != "id"} for c in
                        nbformat.read(OUT / edition / "notation.ipynb", as_version=4).cells] for edition in EDITIONS}
    assert cells["full"] == cells["student"], "the notation page differs between the editions"


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_link_to_a_notebook_resolves_inside_the_edition(built, edition):
    """Cross-references point to a notebook of the same edition (the pack holds it) and to an anchor in it."""
    anchors = {p.name: set(re.findall(r"<a id='([\w-]+)'>", p.read_text())) for p in built[edition]}
    broken, count = [], 0
    for path in built[edition]:
        for text in _markdown(path)[1]:
            for target, anchor in re.findall(r"\]\(([\w-]*\.ipynb)?#([\w-]+)\)", text):
                count += 1
                if anchor not in anchors.get(target or path.name, ()):
                    broken.append(f"{path.name} -> {target or path.name}#{anchor}")
            broken += [f"{path.name} -> {t}" for t in re.findall(r"\]\(([\w-]+\.ipynb)\)", text) if t not in anchors]
    assert broken == [] and count > 50


def test_links_to_other_pages_go_online_when_baseurl_is_set():
    cells = [nbformat.v4.new_markdown_cell("# 4. ANIL"),
             nbformat.v4.new_markdown_cell("See [Notation](notation.ipynb#notation), [the index](exercises.ipynb#x) "
                                           "and [ANIL](04_anil.ipynb#ch-anil).")]
    online = [nbformat.from_dict(c) for c in cells]
    notebooks.link_pages(online, "chapters/04_anil", "https://example.org/book", edition=("chapters/04_anil",))
    assert online[1].source == ("See [Notation](https://example.org/book/chapters/notation.html#notation), "
                                "[the index](https://example.org/book/chapters/exercises.html#x) "
                                "and [ANIL](04_anil.ipynb#ch-anil).")
    assert "<https://example.org/book/chapters/04_anil.html>" in online[0].source
    offline = [nbformat.from_dict(c) for c in cells]
    notebooks.link_pages(offline, "chapters/04_anil", "", edition=("chapters/04_anil",))
    assert offline[1].source == "See Notation, the index and [ANIL](04_anil.ipynb#ch-anil)."
    assert offline[0].source == "# 4. ANIL"


def test_table_cells_keep_code_and_emphasis(built):
    text = "\n".join(_markdown(OUT / "full" / "notation.ipynb")[1])
    assert "|$ d $|dimension of the inputs $ x $|`Problem.d`|" in text
    assert "samples per task for the inner step (the *support* set)" in text


def test_table_caption_keeps_its_math_and_number(built):
    text = "\n".join(_markdown(OUT / "full" / "07_task_diversity.ipynb")[1])
    assert "**Table 7.1.** Contraction factor per round near the solution: predicted $ 1 - \\alpha\\beta\\lambda_{\\min}(\\hat\\Psi) $" in text
    assert "### Contraction factor" not in text


@pytest.mark.parametrize("edition", EDITIONS)
def test_text_after_a_table_is_not_read_as_its_rows(built, edition):
    """GitHub-flavoured Markdown (the table syntax of JupyterLab, Notebook, VS Code and Colab, here parsed by
    markdown-it-py's "gfm-like" preset) ends a table only at a blank line: every row it reads must be a line
    of the table (starting with "|"), not the paragraph under it."""
    from markdown_it import MarkdownIt

    parser, rows, swallowed = MarkdownIt("gfm-like"), 0, []
    for path in built[edition]:
        for text in _markdown(path)[1]:
            lines = text.split("\n")
            for token in parser.parse(text):
                if token.type == "tr_open":
                    rows += 1
                    if not lines[token.map[0]].lstrip().startswith("|"):
                        swallowed.append(f"{path.name}: {lines[token.map[0]][:80]!r}")
    assert swallowed == [] and rows > 100, (rows, swallowed)


def test_math_in_a_theorem_title_stays_math(built):
    """Every title of a proposition, lemma or theorem with math keeps its math in the notebook's header line
    ("**Proposition 2.3** (Random subspaces are far when $ k \\ll d $ …)"), not as plain text."""
    titles = 0
    for page in notebooks.chapters():
        text = "\n".join(_markdown(OUT / "full" / f"{Path(page).name}.ipynb")[1]).replace("\u2019", "'")
        for title in re.findall(r"^:::\{prf:\w+\} (.*\$.*)$", (ROOT / f"{page}.md").read_text(), re.M):
            titles += 1
            parts = re.split(r"\$[^$]+\$", title)  # the words around each formula, each formula as math
            pattern = r"\$[^$\n]+\$".join(re.escape(part) for part in parts)
            assert re.search(rf"^\*\*[A-Z][a-z]+ [\d.]+\*\* \({pattern}\)$", text, re.M), (page, title)
    assert titles >= 9


def _markdown(path):
    nb = nbformat.read(path, as_version=4)
    return nb, [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.mark.parametrize("edition", EDITIONS)
def test_markdown_is_plain_jupyter_markdown(built, edition):
    found = []
    for path in built[edition]:
        _, cells = _markdown(path)
        for text in cells:
            for what, pattern in LEFTOVERS.items():
                for m in re.finditer(pattern, text, re.M):
                    found.append(f"{path.name}: {what}: {m.group(0)!r}")
    assert found == []


@pytest.mark.parametrize("edition", EDITIONS)
def test_macros_defined_in_the_first_cell_and_setup_cell_after_the_title(built, edition):
    macros = __import__("yaml").safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"][
        "mathjax3_config"]["tex"]["macros"]
    for path in built[edition]:
        nb = nbformat.read(path, as_version=4)
        first = nb.cells[0]
        assert first.cell_type == "markdown" and first.source.startswith("$$"), path.name
        for name in macros:
            assert f"\\newcommand{{\\{name}}}" in first.source, (path.name, name)
        setup = next((c for c in nb.cells if c.cell_type == "code"), None)
        if setup is None:  # the notation page: no code, no setup cell
            assert path.name == "notation.ipynb"
            continue
        assert "import gbml" in setup.source and "pip install -r requirements.txt" in setup.source
        assert "pip install" not in setup.source.replace("    pip install -r requirements.txt", ""), \
            "the setup cell must not install anything"


@pytest.mark.parametrize("edition", EDITIONS)
def test_macros_are_expanded_outside_the_first_cell(built, edition):
    """A cell typeset on its own (Colab, VS Code, or before the first cell) needs no definition."""
    names = "|".join(notebooks.macros())
    for path in built[edition]:
        for text in _markdown(path)[1][1:]:
            assert not re.search(rf"\\({names})(?![A-Za-z])", text), (path.name, text[:200])
    text = "\n".join(_markdown(OUT / edition / "05_maml.ipynb")[1][1:])
    assert r"\left\lVert w \right\rVert" in text and "{B^{*}}^\\top" in text


def test_expand_macros_on_hand_written_cases():
    m = notebooks.macros()
    assert notebooks.expand_macros(r"$w = \norm{\bar\theta}e_1$", m) == r"$w = \left\lVert \bar\theta \right\rVert e_1$"
    assert notebooks.expand_macros(r"$\norm{(I - \Proj{B})\Bstar}_2$", m) == \
        r"$\left\lVert (I - P_{B}){B^{*}} \right\rVert_2$"
    assert notebooks.expand_macros(r"$\Theta^\T \tr C \lmin$, \Exercise", m) == \
        r"$\Theta^\top \operatorname{tr} C \lambda_{\min}$, \Exercise"


def test_admonitions_exercises_figures_references(built):
    nb, cells = _markdown(OUT / "full" / "01_meta_learning.ipynb")
    text = "\n\n".join(cells)
    assert "> **Learning objectives**" in text                       # admonition: quoted, bold title
    assert "# Learning objectives" not in text
    assert re.search(r"^## Exercise 1\.1 \(", text, re.M)            # number, then title
    assert re.search(r"\*\*Proposition 1\.1\*\*", text)
    assert re.search(r"^\*\*Figure 1\.1\.\*\* \S", text, re.M)      # caption under its figure
    assert cells[-1].startswith("## References") and "Collins" in cells[-1]
    assert "references.ipynb" not in text                            # citations point to the list at the end
    for path in built["full"]:                                       # links to exercises carry their number
        assert "[Exercise](" not in "\n".join(_markdown(path)[1]), path.name
    assert "[Exercise 5.1](#ex-maml-head-gap)" in "\n".join(_markdown(OUT / "full" / "05_maml.ipynb")[1])


def test_full_edition_folds_every_solution_student_edition_has_none(built):
    from gbml_build.booktoc import source
    import jupytext
    for name in notebooks.chapters():
        src = jupytext.read(source(name))
        solutions = [c for c in src.cells if "solution" in c.metadata.get("tags", [])]
        sol_code = [c.source.strip() for c in solutions if c.cell_type == "code"]
        n_md = sum(c.cell_type == "markdown" for c in solutions)
        full = nbformat.read(OUT / "full" / f"{Path(name).name}.ipynb", as_version=4)
        student = nbformat.read(OUT / "student" / f"{Path(name).name}.ipynb", as_version=4)
        folded = [c for c in full.cells if c.cell_type == "markdown" and c.source.startswith("<details>\n<summary><b>Solution")]
        assert len(folded) == n_md and n_md > 0, name
        book_folded = [c.source.strip() for c in src.cells if c.cell_type == "code" and
                       {"solution", "hide-input", "hide-cell"} & set(c.metadata.get("tags", []))]
        hidden = [c.source.strip() for c in full.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
        assert hidden == book_folded and set(sol_code) <= set(hidden), name  # code folded as in the book
        student_text = "\n".join(c.source for c in student.cells)
        assert "Solution to" not in student_text and "<summary><b>Solution" not in student_text, name
        for code in sol_code:
            assert code not in student_text, name
        # the start of every markdown solution is absent from the student notebook
        for c in folded:
            body = c.source.split("</summary>", 1)[1].strip()
            assert body[:200] not in student_text, name


def test_course_packs(built):
    pins = notebooks.pins()
    assert set(pins) == {"numpy", "matplotlib", "ipywidgets", "jupyterlab", "ipykernel"}
    for zname, edition in (("course-pack.zip", "full"), ("course-pack-student.zip", "student")):
        with zipfile.ZipFile(OUT / zname) as z:
            names = set(z.namelist())
            wheels = [n for n in names if n.endswith(".whl")]
            assert len(wheels) == 1 and wheels[0].startswith("maml_anil_book-")
            assert {p.name for p in built[edition]} <= names
            # requirements.txt: the kernel's requirements (a hub installs only those) plus JupyterLab.
            assert z.read("requirements.txt").decode().splitlines() == [
                "-r requirements-kernel.txt", f"jupyterlab=={pins['jupyterlab']}"]
            kernel = z.read("requirements-kernel.txt").decode().splitlines()
            assert kernel == [f"{n}=={pins[n]}" for n in ("numpy", "matplotlib", "ipywidgets", "ipykernel")] + \
                [f"./{wheels[0]}"]
            readme = z.read("README.md").decode()
            commands = re.findall(r"^    (\S.*)$", readme, re.M)
            assert commands == ["pip install -r requirements.txt", "jupyter lab"]


# -- a real client: JupyterLab from the course pack's environment, driven by the session's Chromium -----

@pytest.fixture(scope="session")
def pack_python(built, tmp_path_factory):
    """A fresh venv with the student course pack installed by its README's command (from its folder).
    Both packs hold the same wheel and requirements (test_course_packs), so it serves both editions."""
    folder = tmp_path_factory.mktemp("pack")
    with zipfile.ZipFile(OUT / "course-pack-student.zip") as z:
        z.extractall(folder)
    env_dir = folder / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", "requirements.txt"],
                             cwd=folder, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-3000:]
    return python


#: Every student notebook (what a learner runs from the pack: stubs, "not written yet" lines) in JupyterLab;
#: of the full edition, whose code is the chapters' own (executed by the build), the chapter with the most
#: solutions (and an explorer): the same renderer and setup cell, so running all of them again would add
#: nothing.  The page without code, the notation, is the same notebook in both editions (checked above).
FULL_IN_LAB = ("chapters/07_task_diversity",)
NOTEBOOKS = [(edition, f"{Path(n).name}.ipynb") for edition in EDITIONS for n in notebooks.pages()
             if edition == "student" or n in FULL_IN_LAB]
SHOTS = ROOT / "_build" / "screenshots" / "jupyterlab"


@pytest.fixture(scope="session")
def lab(built, pack_python, tmp_path_factory):
    """One JupyterLab server of the pack's venv; each notebook sits alone in an empty folder of its root."""
    import socket
    import urllib.request
    root = tmp_path_factory.mktemp("lab")
    for edition, name in NOTEBOOKS:
        folder = root / f"{edition}-{name[:-6]}"
        folder.mkdir()
        nb = nbformat.read(OUT / edition / name, as_version=4)
        if _expected(edition, name)["explorers"]:  # moves every control in the kernel and reports
            nb.cells.append(nbformat.v4.new_code_cell(DRIVE))
        nbformat.write(nb, folder / name)
    # Settings: every cell in the page (no windowing, so that what is checked below is in the DOM), no news.
    settings = tmp_path_factory.mktemp("lab-settings")
    for plugin, values in {"notebook-extension/tracker": {"windowingMode": "none"},
                           "apputils-extension/notification": {"fetchNews": "false"}}.items():
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [str(pack_python.parent / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", "--IdentityProvider.token=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={root}", f"--LabApp.user_settings_dir={settings}"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    yield url, root
    server.terminate()
    server.wait(10)


@pytest.fixture(scope="module")
def lab_page(lab, browser):
    """One JupyterLab page (a fresh workspace) for every notebook, as a learner opens chapter after chapter:
    each test opens its notebook in it and closes it at the end (loading the app once saves about 3 s a test)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{lab[0]}/lab?reset")
    page.wait_for_function("() => window.jupyterapp", timeout=120_000)
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    yield page
    context.close()


def test_the_kernel_is_the_course_packs_python(lab, pack_python):
    """JupyterLab's python3 kernel is the interpreter of the pack's venv (ipykernel's own spec names it
    "python", which jupyter_client resolves to the server's interpreter, the venv's)."""
    import urllib.request
    spec = json.load(urllib.request.urlopen(f"{lab[0]}/api/kernelspecs"))["kernelspecs"]["python3"]["spec"]
    assert spec["argv"][0] in (str(pack_python), "python"), spec["argv"]


# Open a notebook; once it is the current tab, resolve.
OPEN = """async (path) => { await window.jupyterapp.commands.execute('docmanager:open', {path});
    const w = window.jupyterapp.shell.currentWidget; await w.context.ready; await w.revealed; }"""
# Close the current notebook unsaved (no "save your changes?" dialog), its kernel shut down.
CLOSE = """async () => { const w = window.jupyterapp.shell.currentWidget;
    await window.jupyterapp.serviceManager.sessions.shutdownAll();
    if (w && w.context) { w.context.model.dirty = false; w.dispose(); } }"""
# Text of rendered Markdown (outside code and typeset math) that still holds TeX delimiters: math not typeset.
RAW_TEX = r"""() => [...document.querySelectorAll('.jp-RenderedMarkdown')].flatMap(md => {
    const found = [], walk = document.createTreeWalker(md, NodeFilter.SHOW_TEXT);
    for (let n; (n = walk.nextNode());) {
        if (!n.parentElement.closest('code, pre, mjx-container') && /\$|\\\(|\\\[/.test(n.textContent))
            found.push(n.textContent.slice(0, 80));
    }
    return found; })"""
LAB_STATE = """() => ({
    counts: [...window.jupyterapp.shell.currentWidget.content.widgets].filter(w => w.model.type === 'code')
        .map(w => w.model.executionCount),
    errors: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent),
    stderr: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent),
    stdout: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stdout"]')].map(e => e.textContent),
    math: document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length,
    math_errors: [...document.querySelectorAll('mjx-merror, [data-mjx-error]')].map(e =>
        (e.getAttribute('data-mjx-error') || e.textContent) + ' in ' +
        (e.closest('mjx-container') || e).parentElement.textContent.slice(0, 120)),
    undefined_macros: [...document.querySelectorAll('mjx-mtext[style*="color: red"]')].map(e => e.textContent),
    images: [...document.querySelectorAll('.jp-OutputArea img')].filter(i => i.complete && i.naturalWidth > 0).length,
    sliders: document.querySelectorAll('.jp-OutputArea .widget-slider').length,
    table_rows: document.querySelectorAll('.jp-RenderedMarkdown tr').length,
    markdown: [...document.querySelectorAll('.jp-RenderedMarkdown')].map(e => e.textContent).join('\\n'),
    raw_tex: (""" + RAW_TEX + """)(),
})"""

KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
    return k && k.status === 'idle'; }"""
RUN_ALL_DONE = """() => { const w = window.jupyterapp.shell.currentWidget;
    const cells = [...w.content.widgets].filter(c => c.model.type === 'code');
    return cells.length > 0 && cells.every(c => c.model.executionCount) &&
           w.sessionContext.session.kernel.status === 'idle'; }"""
FRAME = """(i) => { const ex = document.querySelectorAll('.jp-OutputArea .gbml-explorer')[i];
    const img = ex && ex.querySelector('img.gbml-frame'); return img ? img.src : null; }"""


def _expected(edition, name):
    nb = nbformat.read(OUT / edition / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    text = "\n".join(c.source for c in nb.cells)
    return {
        "code": len(code),
        "stubs": sum("exercise" in c.metadata.get("tags", []) and "raise NotImplementedError" in c.source for c in code),
        "checks": sum("check" in c.metadata.get("tags", []) for c in code),
        "figures": len(re.findall(r"^\*\*Figure [\d.]+\.\*\*", text, re.M)),
        "explorers": sum("widgets.explore(" in c.source for c in code),
        "math": "$" in text,
        # every line of a table (header and rows), not its delimiter line: what JupyterLab shows as rows
        "table_rows": len(re.findall(r"^\|", text, re.M)) - len(re.findall(r"^\|(?: *:?-+:? *\|)+ *$", text, re.M)),
    }


@pytest.mark.parametrize("edition,name", NOTEBOOKS, ids=[f"{e}-{n[:-6]}" for e, n in NOTEBOOKS])
def test_run_all_in_jupyterlab(lab_page, edition, name):
    """Open the notebook alone in its folder, Run All (with ``DRIVE`` at the end when it has an explorer), read
    what JupyterLab shows, move every slider."""
    want = _expected(edition, name)
    want["code"] += bool(want["explorers"])  # DRIVE
    page = lab_page
    page.evaluate(OPEN, f"{edition}-{name[:-6]}/{name}")
    try:
        state, moved = _run_all_and_read(page, want, f"{edition}-{name[:-6]}")
    finally:
        page.evaluate(CLOSE)
    _check_run(state, moved, want, edition)


def _run_all_and_read(page, want, shot):
    """Run All in the open notebook, wait for its math, read ``LAB_STATE``, move each explorer's first slider."""
    if want["code"]:
        page.wait_for_function(KERNEL_IDLE, timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function(RUN_ALL_DONE, timeout=300_000, polling=500)
    else:
        page.wait_for_selector(".jp-RenderedMarkdown mjx-container", timeout=60_000)
    if want["math"]:  # MathJax typesets the last Markdown cells after they are shown
        try:
            page.wait_for_function(f"() => ({RAW_TEX})().length === 0", timeout=30_000, polling=200)
        except PlaywrightTimeout:
            pass  # reported below
    state = page.evaluate(LAB_STATE)
    moved = []
    for i in range(min(state["sliders"], want["explorers"])):
        handle = page.locator(".jp-OutputArea .gbml-explorer").nth(i).locator(".noUi-handle").first
        before = page.evaluate(FRAME, i)
        handle.scroll_into_view_if_needed()
        handle.focus()
        page.keyboard.press("ArrowRight")
        try:
            page.wait_for_function(f"(b) => ({FRAME})({i}) !== b", arg=before, timeout=30_000)
            moved.append(True)
        except Exception:
            moved.append(False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{shot}.png"))
    return state, moved


def _check_run(state, moved, want, edition):
    assert len(state["counts"]) == want["code"] and all(state["counts"]), "Run All did not run every cell"
    assert state["errors"] == [], "a cell's output is an error"
    assert state["stderr"] == [], state["stderr"]
    said = [t for t in state["stdout"] if "is not written yet" in t]
    assert len(said) == (want["stubs"] if edition == "student" else 0), said
    for text in said:  # one plain line, no traceback
        assert re.fullmatch(r"Not yet — Exercise [^\n]* is not written yet: replace the "
                            r"`raise NotImplementedError\(\.\.\.\)` line [^\n]*\n?", text), text
    assert not any("Traceback" in t for t in state["stdout"])
    if want["math"]:
        assert state["math"] > 0, "no math was typeset"
    assert state["math_errors"] == [] and state["undefined_macros"] == []
    assert state["raw_tex"] == [], "math left untypeset"
    assert state["table_rows"] == want["table_rows"], "JupyterLab shows other table rows than the Markdown has"
    assert state["images"] >= want["figures"], "figures missing"
    assert state["sliders"] >= want["explorers"], "explorers show no live slider"
    assert all(moved), f"moving a slider did not redraw explorer(s) {[i for i, m in enumerate(moved) if not m]}"
    if want["explorers"]:  # DRIVE's report: every control of every explorer, in the kernel
        line = next(t for t in state["stdout"] if "EXPLORERS" in t)
        report = json.loads(line.split("EXPLORERS", 1)[1].strip().splitlines()[0])
        assert len({r["explorer"] for r in report}) == want["explorers"]
        for r in report:
            assert r["mode"] == "live"
            assert r["changed"], f"explorer {r['explorer']}: moving {r['control']} did not change the figure: {r}"
            assert r["as_fresh"], (f"explorer {r['explorer']}: a frame drawn on the last frame's axes ({r['to']}, "
                                   f"then back to {r['from']}) differs from the same frame on a new figure: {r}")
    for what, pattern in LEFTOVERS.items():
        assert not re.search(pattern, state["markdown"], re.M), what


def test_first_cell_explains_how_to_install_gbml_when_it_is_missing(built, tmp_path):
    """Without gbml the setup cell prints the install command and stops with a short error."""
    nb = nbformat.read(built["student"][0], as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    code = "import sys; sys.modules['gbml'] = None\n" + setup.source.split("\n\n\ndef _not_written")[0]
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode != 0
    assert "pip install -r requirements.txt" in run.stdout
    assert run.stderr.strip().splitlines()[-1] == \
        "ModuleNotFoundError: gbml is not installed: see the message above"


# -- nbconvert: one notebook as a plain HTML page, no book styling ---------------------------------------

MATHJAX2_CDN = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/"


def test_nbconvert_html_reads_cleanly(built, pack_python, browser, tmp_path):
    """nbconvert's own HTML export (executed, default template) of chapter 4, opened in Chromium with the
    MathJax 2 it loads from its CDN served from the test-only copy in _vendor/.mathjax2.  Chapter 4 has display
    math, self-check quotes, folded solutions and figures, and a kernel a third as long as chapter 7's (whose
    tables and longer run JupyterLab covers above)."""
    name = "04_anil.ipynb"
    shutil.copy(OUT / "full" / name, tmp_path / name)
    run = subprocess.run([str(pack_python.parent / "jupyter"), "nbconvert", "--to", "html", "--execute", name],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    mathjax = ROOT / "_vendor" / ".mathjax2"
    assert (mathjax / "MathJax.js").exists(), "run tools/fetch_assets.sh (MathJax 2 for this test)"
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    outside = []

    def route(r):
        if r.request.url.startswith(MATHJAX2_CDN):
            path = mathjax / r.request.url[len(MATHJAX2_CDN):].split("?")[0]
            return r.fulfill(path=str(path)) if path.is_file() else r.abort()
        if not r.request.url.startswith(("file:", "data:", "blob:")):
            outside.append(r.request.url)
            return r.abort()
        return r.continue_()
    page.route("**/*", route)
    page.goto((tmp_path / name.replace(".ipynb", ".html")).as_uri())
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0 && "
                           "document.querySelectorAll('.MathJax_CHTML, .mjx-chtml').length > 0", timeout=60_000)
    state = page.evaluate("""() => ({
        text: [...document.querySelectorAll('.jp-RenderedMarkdown')].map(e => e.innerText).join('\\n'),
        math: document.querySelectorAll('.mjx-chtml.MathJax_CHTML').length,
        errors: document.querySelectorAll('.mjx-merror, .MathJax_Error').length,
        undefined: [...document.querySelectorAll('.mjx-chtml [style*="color: red"]')].length,
        quotes: document.querySelectorAll('.jp-RenderedMarkdown blockquote').length,
        details: document.querySelectorAll('.jp-RenderedMarkdown details').length,
        h1: [...document.querySelectorAll('h1')].map(h => h.textContent),
        images: [...document.querySelectorAll('.jp-OutputArea img')].filter(i => i.naturalWidth > 0).length,
        errors_out: document.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"], .output_error').length,
    })""")
    page.screenshot(path=str(tmp_path / "nbconvert.png"))
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "nbconvert-04_anil.png"))
    context.close()
    # Besides MathJax (served above), the export asks the network only for the widget manager that would
    # draw the explorers' saved state; offline the explorers are absent and the rest must read cleanly.
    widget_manager = ("https://cdnjs.cloudflare.com/ajax/libs/require.js/", "https://unpkg.com/@jupyter-widgets/html-manager@")
    assert not [u for u in outside if not u.startswith(("https://api.cdnjs.com", *widget_manager))], outside
    assert state["math"] > 100 and state["errors"] == 0 and state["undefined"] == 0
    assert "$" not in state["text"], "unrendered TeX in the Markdown"
    assert state["h1"] and state["h1"][0].startswith("ANIL: adapting the head"), state["h1"]
    source = nbformat.read(OUT / "full" / name, as_version=4)
    # Folded blocks: solutions (a cell each) and the self-checks' answers (inside the question's cell).
    folded = sum(c.source.count("<details>") for c in source.cells if c.cell_type == "markdown")
    assert state["quotes"] >= 3 and state["details"] == folded >= 2 and state["images"] >= 3
    assert state["errors_out"] == 0
    for what, pattern in LEFTOVERS.items():
        assert not re.search(pattern, state["text"], re.M), what
