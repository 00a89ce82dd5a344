"""The notebook edition (`make notebooks`, gbml_build.notebooks): plain Jupyter notebooks and course packs.

The notebooks are built once per session (a sphinx-tojupyter build of the book, which executes the
chapters).  Each notebook is then checked as a file (no MyST/Sphinx syntax left, macros defined,
solutions folded or absent) and run top to bottom, alone in an empty folder, by a kernel of a fresh
virtual environment holding only what the course pack's ``requirements.txt`` installs (the pinned
packages and the pack's ``gbml`` wheel).
"""
from __future__ import annotations

import json
import os
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

from gbml_build import notebooks
from gbml_build.booktoc import ROOT

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
}


@pytest.fixture(scope="session")
def built():
    """Run the notebook build once (GBML_REUSE_NOTEBOOKS=1 reuses _build/notebooks, for local iteration)."""
    start = time.monotonic()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "_ext"))
    if os.environ.get("GBML_REUSE_NOTEBOOKS") != "1":
        subprocess.run([sys.executable, "-m", "gbml_build.notebooks"], cwd=ROOT, check=True, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - start
    paths = {ed: sorted((OUT / ed).glob("*.ipynb")) for ed in EDITIONS}
    print(f"\nnotebook build: {seconds:.0f} s, {len(paths['full'])} + {len(paths['student'])} notebooks")
    return paths


def test_one_notebook_per_chapter_in_each_edition(built):
    names = [Path(n).name + ".ipynb" for n in notebooks.chapters()]
    assert len(names) == 10
    for edition in EDITIONS:
        assert [p.name for p in built[edition]] == names


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
        setup = next(c for c in nb.cells if c.cell_type == "code")
        assert "import gbml" in setup.source and "pip install -r requirements.txt" in setup.source
        assert "pip install" not in setup.source.replace("    pip install -r requirements.txt", ""), \
            "the setup cell must not install anything"


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
        hidden = [c.source.strip() for c in full.cells if c.metadata.get("jupyter", {}).get("source_hidden")]
        assert hidden == sol_code, name
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
            req = z.read("requirements.txt").decode().split()
            assert req == [f"{n}=={v}" for n, v in pins.items()] + [f"./{wheels[0]}"]
            readme = z.read("README.md").decode()
            commands = re.findall(r"^    (\S.*)$", readme, re.M)
            assert commands == ["pip install -r requirements.txt", "jupyter lab"]


# -- running the notebooks in the course pack's environment ---------------------------------------------

RUNNER = r'''
import json, sys, shutil, tempfile
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
result = {}
for path in map(Path, sys.argv[2:]):
    folder = Path(tempfile.mkdtemp(dir=sys.argv[1]))
    shutil.copy(path, folder / path.name)                 # the notebook alone in an empty folder
    nb = nbformat.read(folder / path.name, as_version=4)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
        finished = True
    except CellExecutionError as err:
        finished = False
    errors = [{"tags": c.metadata.get("tags", []), "ename": o.get("ename"), "evalue": o.get("evalue"),
               "traceback": o.get("traceback")}
              for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    checks = [[o.get("text", "") for o in c.get("outputs", []) if o.output_type == "stream"]
              for c in nb.cells if "check" in c.metadata.get("tags", [])]
    import gbml
    result[path.name] = {"finished": finished, "errors": errors, "checks": checks, "gbml": gbml.__file__}
print(json.dumps(result))
'''


@pytest.fixture(scope="session")
def pack_python(built, tmp_path_factory):
    """A fresh venv with the student course pack installed by its README's command (from its folder)."""
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


@pytest.fixture(scope="session")
def executed(built, pack_python, tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    runner = work / "runner.py"
    runner.write_text(RUNNER)
    out = {}
    for edition in EDITIONS:
        start = time.monotonic()
        run = subprocess.run([str(pack_python), str(runner), str(work), *map(str, built[edition])],
                             cwd=work, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr[-3000:]
        out[edition] = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"\n{edition}: {len(built[edition])} notebooks run in {time.monotonic() - start:.0f} s")
    return out


@pytest.mark.parametrize("edition", EDITIONS)
def test_run_all_in_the_course_pack_environment(executed, pack_python, edition):
    n_checks = 0
    for name, res in executed[edition].items():
        assert res["finished"], (name, res["errors"])
        assert res["errors"] == [], name                    # no cell output is an error
        assert str(pack_python.parent.parent) in res["gbml"], "gbml must come from the pack's wheel"
        assert res["checks"], name                          # every chapter has a checked exercise
        for streams in res["checks"]:
            text = "".join(streams)
            n_checks += 1
            if edition == "student":  # the untouched exercise: one plain line, no traceback
                assert re.fullmatch(r"Not yet — Exercise [^\n]* is not written yet: replace the "
                                    r"`raise NotImplementedError\(\.\.\.\)` line [^\n]*\n", text), (name, text)
            else:                     # the solution passes its check
                assert "not written yet" not in text and "Traceback" not in text, (name, text)
    assert n_checks >= 10


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


# -- a real client: JupyterLab (from the course pack's environment) driven by Chromium -------------------

LAB_STATE = """() => ({
    prompts: [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')].map(e => e.textContent.trim()),
    errors: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.error"]')].map(e => e.textContent),
    stderr: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stderr"]')].map(e => e.textContent),
    stdout: [...document.querySelectorAll('[data-mime-type="application/vnd.jupyter.stdout"]')].map(e => e.textContent),
    math: document.querySelectorAll('.jp-RenderedMarkdown mjx-container').length,
    math_errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    undefined_macros: [...document.querySelectorAll('mjx-mtext[style*="color: red"]')].length,
    images: [...document.querySelectorAll('.jp-OutputArea img')].filter(i => i.complete && i.naturalWidth > 0).length,
    sliders: document.querySelectorAll('.jp-OutputArea .widget-slider').length,
    markdown: [...document.querySelectorAll('.jp-RenderedMarkdown')].map(e => e.textContent).join('\\n'),
})"""


def test_run_all_in_jupyterlab(built, pack_python, tmp_path, browser):
    """The session's one Chromium (conftest.py) drives a real JupyterLab from the student pack's venv."""
    import socket
    import urllib.request
    name = "07_task_diversity.ipynb"          # has math, figures, an explorer and an unanswered exercise
    shutil.copy(OUT / "student" / name, tmp_path / name)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lab = subprocess.Popen(
        [str(pack_python.parent / "jupyter"), "lab", "--no-browser", "--allow-root", f"--port={port}",
         "--ip=127.0.0.1", "--IdentityProvider.token=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={tmp_path}"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{name}")
        page.wait_for_function("""() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
            const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
            return k && k.status === 'idle'; }""", timeout=120_000)
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        page.wait_for_function("""() => { const prompts = [...document.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt')];
            return prompts.every(e => /\\[\\d+\\]/.test(e.textContent)) &&
                   window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.status === 'idle'; }""",
                               timeout=300_000, polling=1000)
        state = page.evaluate(LAB_STATE)
        page.screenshot(path=str(tmp_path / "jupyterlab.png"))
        context.close()
    finally:
        lab.terminate()
        lab.wait(10)
    assert len(state["prompts"]) > 10 and all(re.fullmatch(r"\[\d+\]:", p) for p in state["prompts"])
    assert state["errors"] == []
    assert state["stderr"] == []
    assert sum("is not written yet" in text for text in state["stdout"]) == 1     # the unanswered exercise
    assert state["math"] > 100 and state["math_errors"] == 0 and state["undefined_macros"] == 0
    assert state["images"] >= 3 and state["sliders"] >= 1
    for what, pattern in LEFTOVERS.items():
        assert not re.search(pattern, state["markdown"], re.M), what
