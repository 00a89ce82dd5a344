"""A problem set from exercises of the book: ``make problem-set EXERCISES="ex-… ex-…" NAME=hw1``.

The exercises are taken, in the order given, from the notebook edition (``_build/notebooks/full``, rebuilt
with the book (``gbml_build.build``) when missing or older than its sources); their kind and minutes come
from :func:`gbml_build.chapters.read_chapter`.  Written to ``_build/problem-sets/NAME/``:

* ``NAME.ipynb``, the student sheet: the book's macros cell, a title with the total time, then per exercise
  its chapter (with a link), kind and minutes, the statement, an answer cell (proofs and computations), its
  setup cell, the stub and the check cell;
* ``NAME-key.ipynb``, the same with every solution, executed: it must run clean (no error, every check
  "Correct") or the build fails;
* ``NAME.pdf`` and ``NAME-key.pdf``: nbconvert's HTML of the two notebooks, typeset by the vendored
  MathJax and printed by Chromium (offline);
* ``nbgrader/source/NAME/NAME.ipynb``, the nbgrader source: solution regions between ``### BEGIN
  SOLUTION`` and ``### END SOLUTION``; per coding exercise two autograded test cells, the visible check
  (``assert`` on its checker's result, 0 points: Validate shows its hint) and the hidden test (a fresh copy
  of the checker on new cases, :mod:`gbml.book._grading`; its value is the points, the share of cases
  passed); a manually graded answer cell per proof and computation; points = minutes.

Each problem's setup cell (collapsed, its output hidden) runs the code of the exercise's chapter above the
exercise, without solutions: the kernel then holds what the book's execution holds at the exercise (every
name, the same random state), so the sheet's numbers and the key's outputs are the book's.

Usage: ``PYTHONPATH=_ext python -m gbml_build.problem_set --name hw1 ex-lr-code ex-td-compute …``
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import difflib
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from . import build as book_build
from . import notebooks
from .booktoc import ROOT, read_config, source
from .browser import Server, chromium, wait_for_mathjax
from .pdf import MARGIN
from .chapters import Exercise, collect

OUT = ROOT / "_build" / "problem-sets"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_HEADING = re.compile(r"^#+ Exercise (\d+)\.(\d+) \((.*)\)[ \t]*$", re.M)
_SOLUTION_MD = re.compile(r"<details>\n<summary><b>Solution to (.*?)</b></summary>\n(.*)\n</details>\s*", re.S)


class ProblemSetError(ValueError):
    """Bad input to the problem-set builder (the message says what is accepted)."""


# -- input ----------------------------------------------------------------------------------------------

def select(labels: list[str], name: str) -> list[Exercise]:
    """The exercises named by ``labels``, in that order; a :class:`ProblemSetError` on bad input."""
    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise ProblemSetError(f"NAME={name!r} cannot name a problem set: use letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit (e.g. NAME=hw1)")
    if not labels:
        raise ProblemSetError("EXERCISES is empty: give one or more exercise labels, e.g. "
                              'EXERCISES="ex-lr-code ex-td-proof" (the exercise index lists every label)')
    known = {e.label: e for c in collect() for e in c.exercises}
    for label in labels:
        if label not in known:
            near = difflib.get_close_matches(label, known, n=5, cutoff=0.6)
            raise ProblemSetError(f"EXERCISES: unknown exercise label {label!r}; " +
                                  (f"labels near it: {', '.join(near)}" if near else
                                   f"no label is near it; the labels are: {', '.join(known)}"))
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ProblemSetError(f"EXERCISES: {', '.join(repeated)} given more than once; list each exercise once")
    return [known[label] for label in labels]


# -- an exercise's cells in the notebook edition ----------------------------------------------------------

@dataclass
class Item:
    """One exercise of the set and its cells in its chapter's notebook (full edition)."""

    exercise: Exercise
    number: str          # "7.3"
    title: str           # as the notebook prints it
    chapter_title: str
    before: list         # the chapter's code cells above the exercise (its setup runs them)
    cells: list          # the heading cell (with the statement), then the exercise's other cells

    @property
    def chapter(self) -> str:
        return self.number.split(".")[0]


def _tags(cell) -> list:
    return cell.metadata.get("tags", [])


def _is_solution(cell) -> bool:
    return "solution" in _tags(cell) or (cell.cell_type == "markdown" and bool(_SOLUTION_MD.match(cell.source)))


def _starts_exercise(cell) -> bool:
    return cell.cell_type == "markdown" and bool(_HEADING.search(cell.source))


def item(exercise: Exercise) -> Item:
    """The exercise's cells: from its heading (anchored by its label) to the next exercise or the references."""
    nb = nbformat.read(notebooks.OUT / "full" / f"{Path(exercise.chapter).name}.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells)
                 if _starts_exercise(c) and c.source.startswith(f"<a id='{exercise.label}'></a>"))
    end = next((i for i in range(start + 1, len(nb.cells))
                if _starts_exercise(nb.cells[i]) or nb.cells[i].source.startswith("## References")), len(nb.cells))
    chapter, number, title = _HEADING.search(nb.cells[start].source).groups()
    chapter_title = next(m.group(1) for c in nb.cells if c.cell_type == "markdown"
                         for m in [re.search(r"^# (.*)$", c.source, re.M)] if m)
    before = [c for c in nb.cells[:start] if c.cell_type == "code" and "setup" not in _tags(c)]
    return Item(exercise, f"{chapter}.{number}", title, chapter_title, before, nb.cells[start:end])


# -- the setup an exercise needs: its chapter's code above it --------------------------------------------

SETUP_HEADER = "%%capture\n# Setup for problem {index}: the code of chapter {chapter} above Exercise {number}, as the book runs it\n" \
    "# (solutions left out: none of them changes what later code uses); its output is hidden.\n"


def setup_code(item: Item) -> str:
    """The code of the exercise's chapter above it, in the book's order, without the solution cells: run
    first, it leaves the kernel as the book's execution leaves it at the exercise (the same names, the same
    random state), so the sheet's numbers and the key's outputs are the book's.  A solution cell never
    changes what code below it reads (``tests/test_problem_set.py`` compares every key with the book)."""
    cells = [c for c in item.before if not _is_solution(c)]
    code = "\n\n".join(c.source.strip() for c in cells if c.source.strip())
    if re.search(r"^%%", code, re.M):
        raise RuntimeError(f"exercise {item.exercise.label}: a cell magic (%%) in the code of "
                           f"{item.exercise.chapter} above it cannot run inside the setup cell")
    return code


def _setup_cell(item: Item, index: int):
    source = SETUP_HEADER.format(index=index, chapter=item.chapter, number=item.number) + setup_code(item)
    return _code(source, ["setup", "setup-chapter"], jupyter={"source_hidden": True})


# -- the notebooks ----------------------------------------------------------------------------------------

def _page(stem: str, baseurl: str) -> str:
    """Where a chapter is read: its page of the online book when ``html.baseurl`` is set, else its notebook."""
    return f"{baseurl}chapters/{stem}.html" if baseurl else f"{stem}.ipynb"


def _statement(item: Item, index: int, baseurl: str) -> str:
    """The heading cell as a problem: title, the exercise and chapter it comes from, kind and minutes."""
    e, stem = item.exercise, Path(item.exercise.chapter).name
    info = (f"*Exercise {item.number} of chapter {item.chapter}, [{item.chapter_title}]({_page(stem, baseurl)}"
            f"#{e.label}) · {e.kind} · about {e.minutes} minutes*")
    return _relink(_HEADING.sub(lambda m: f"## Problem {index}: {item.title}\n\n{info}\n", item.cells[0].source,
                                count=1), item, baseurl)


def _relink(text: str, item: Item, baseurl: str) -> str:
    """Links into the exercise's chapter (``#anchor``) or another chapter's notebook, made to work from the set."""
    text = re.sub(r"\]\(#", f"]({_page(Path(item.exercise.chapter).name, baseurl)}#", text)
    return re.sub(r"\]\((\d\d_\w+)\.ipynb#", lambda m: f"]({_page(m.group(1), baseurl)}#", text)


def _code(source: str, tags: list, **metadata):
    return nbformat.v4.new_code_cell(source, metadata={"tags": tags, **metadata})


def _front(items: list[Item], name: str, baseurl: str, *, key: bool) -> list:
    """Macros cell, title cell with the total time, the notebook edition's setup cell (is gbml installed?)."""
    first = nbformat.read(notebooks.OUT / "full" / f"{Path(items[0].exercise.chapter).name}.ipynb", as_version=4)
    macros = copy.deepcopy(first.cells[0])
    macros.metadata["tags"] = ["macros"]
    guard = copy.deepcopy(next(c for c in first.cells if "setup" in _tags(c)))
    book = read_config().get("title", "")
    minutes = [it.exercise.minutes for it in items]
    where = ("the online book" if baseurl else
             "the chapter notebooks of the notebook edition (`make notebooks`, or the course pack): keep this "
             "notebook in the same folder as them")
    title = (f"# Problem set {name}{' — key' if key else ''}\n\n*{book}*\n\n"
             f"**Total time: about {sum(minutes)} minutes** for {len(items)} exercises "
             f"({' + '.join(map(str, minutes))} min).\n\n"
             + ("Every solution follows its exercise; the key has run, its outputs are shown. " if key else
                "Run the cells in order: each problem starts with a setup cell (collapsed) that runs the code "
                "of its chapter above the exercise, so its names and numbers are the book's. A coding exercise "
                "is checked by the cell after it (\"Correct\", or a hint); write proofs and computations in the "
                "answer cell under them. ")
             + f"Each problem names the exercise of the book it comes from; the links lead to {where}.")
    return [macros, nbformat.v4.new_markdown_cell(title), guard]


def _needs_code_cell(item: Item) -> bool:
    """A computation whose key runs code but whose sheet has no code cell of its own gets an empty one."""
    code = [c for c in item.cells[1:] if c.cell_type == "code"]
    return item.exercise.kind == "computation" and bool(code) and all(_is_solution(c) for c in code)


def problem_notebook(items: list[Item], name: str, *, key: bool, baseurl: str = "") -> nbformat.NotebookNode:
    """The student sheet (``key=False``) or the key (every solution shown)."""
    cells = _front(items, name, baseurl, key=key)
    for index, it in enumerate(items, 1):
        cells.append(nbformat.v4.new_markdown_cell(_statement(it, index, baseurl)))
        if not key and it.exercise.kind != "coding":
            cells.append(nbformat.v4.new_markdown_cell("**Your answer.**", metadata={
                "tags": ["answer", f"answer-{it.exercise.kind}"]}))
        cells.append(_setup_cell(it, index))
        if not key and _needs_code_cell(it):
            cells.append(_code("# Your computation: the code the problem asks you to run.\n", ["answer-code"]))
        for cell in it.cells[1:]:
            if _is_solution(cell) and not key:
                continue
            cell = copy.deepcopy(cell)
            cell.metadata.pop("jupyter", None)  # solution code shown, not collapsed
            if cell.cell_type == "markdown":
                cell.source = _relink(cell.source.replace("<details>", "<details open>", 1), it, baseurl)
            cells.append(cell)
    return _notebook(cells, f"Problem set {name}" + (" (key)" if key else ""))


def _nbgrader(cell, grade_id: str, *, solution=False, grade=False, locked=False, points=None):
    cell.metadata["nbgrader"] = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
                                 "solution": solution, "task": False, **({"points": points} if grade else {})}
    return cell


def _answer_code(stub: str, solution: str) -> str:
    """The stub's signature and comments, then the solution's body as the solution region."""
    stub_lines, lines = stub.splitlines(), solution.splitlines()
    if stub_lines[0] == lines[0] and lines[0].startswith("def ") and len(lines) > 1:
        indent = re.match(r"\s*", lines[1]).group()
        hints = [line for line in stub_lines[1:] if line.strip().startswith("#")]
        return "\n".join([lines[0], *hints, f"{indent}### BEGIN SOLUTION", *lines[1:], f"{indent}### END SOLUTION"])
    return "\n".join(["### BEGIN SOLUTION", solution, "### END SOLUTION"])


def _assertion(check: str) -> str:
    """``exercises.check_x(fn);`` as an assertion that the checker's result is truthy, whose message is the
    checker's verdict (its hint): nbgrader's Validate and the feedback show it with the AssertionError."""
    body = ast.parse(check).body
    if len(body) != 1 or not isinstance(body[0], ast.Expr):
        raise RuntimeError(f"a check cell must be one call of a checker, got:\n{check}")
    return f"check_result = {ast.unparse(body[0].value)}\nassert check_result, check_result.message"


HIDDEN_TEST = """\
# Hidden test: when your notebook is graded, this cell checks your function again, on {n_cases} new cases;
# it scores {points} points times the share of those cases that your function gets right.
### BEGIN HIDDEN TESTS
# The checker comes from a fresh copy of gbml, loaded from its files: an answer cell cannot have replaced it.
import importlib.util
grading = importlib.util.module_from_spec(importlib.util.find_spec("gbml.book._grading"))
grading.__spec__.loader.exec_module(grading)
grading.points({checker!r}, {fn}, points={points}, seed={seed}, n_cases={n_cases})
### END HIDDEN TESTS"""


def _hidden_test(check: str, points: int, n_cases: int = 10) -> str:
    """The hidden test of the check cell ``exercises.check_x(fn);``: its value is the points (nbgrader's
    partial credit).  Its seed is drawn now, from the system's entropy: the book and gbml are public, so a
    seed derived from them would let a learner tabulate the hidden cases too."""
    call = ast.parse(check).body[0].value
    return HIDDEN_TEST.format(checker=call.func.attr, fn=call.args[0].id, points=points,
                              seed=secrets.randbelow(2**32), n_cases=n_cases)


def nbgrader_notebook(items: list[Item], name: str, baseurl: str = "") -> nbformat.NotebookNode:
    """The nbgrader source: solution regions, a visible check and a hidden test for coding, manually graded
    answers otherwise."""
    cells = _front(items, name, baseurl, key=False)
    for i, cell in enumerate(cells):
        _nbgrader(cell, f"front-{i}", locked=True)
    for index, it in enumerate(items, 1):
        label, points = it.exercise.label, it.exercise.minutes
        cells.append(_nbgrader(nbformat.v4.new_markdown_cell(_statement(it, index, baseurl)), f"{label}-statement",
                               locked=True))
        cells.append(_nbgrader(_setup_cell(it, index), f"{label}-setup", locked=True))
        by_tag = {tag: c for c in it.cells[1:] for tag in _tags(c)}
        if it.exercise.kind == "coding":
            cells.append(_nbgrader(_code(_answer_code(by_tag["exercise"].source, by_tag["solution"].source),
                                         ["exercise"]), f"{label}-answer", solution=True))
            cells.append(_nbgrader(_code(_assertion(by_tag["check"].source), ["check"]), f"{label}-check",
                                   grade=True, locked=True, points=0))  # Validate shows its hint
            cells.append(_nbgrader(_code(_hidden_test(by_tag["check"].source, points), ["hidden-test"]),
                                   f"{label}-test", grade=True, locked=True, points=points))
        else:
            written = [_relink(_SOLUTION_MD.match(c.source).group(2).strip(), it, baseurl) for c in it.cells[1:]
                       if c.cell_type == "markdown" and _SOLUTION_MD.match(c.source)]
            cells.append(_nbgrader(nbformat.v4.new_markdown_cell(
                "### BEGIN SOLUTION\n\n" + "\n\n".join(written) + "\n\n### END SOLUTION"),
                f"{label}-answer", solution=True, grade=True, points=points))
    return _notebook(cells, f"Problem set {name}")


def _notebook(cells, title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}, "title": title})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # unique, and the same at every build
    return nb


def run_key(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Execute the key in a kernel; raise unless it runs clean and every check says "Correct"."""
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    problems = [f"cell {i}: {o.ename}: {o.evalue}" for i, c in enumerate(nb.cells) if c.cell_type == "code"
                for o in c.outputs if o.output_type == "error"]
    problems += [f"cell {i}: the check does not pass" for i, c in enumerate(nb.cells) if "check" in _tags(c)
                 and not "".join(o.get("text", "") for o in c.outputs).startswith("Correct")]
    if problems:
        raise RuntimeError("the key does not run clean:\n  " + "\n  ".join(problems))
    return nb


# -- PDF ------------------------------------------------------------------------------------------------

# nbconvert's lab template, offline: the vendored MathJax 3 (served beside the page), no require.js or
# mermaid from a CDN, and print rules (writing space under proofs and computations, wrapped code).
TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'],
  ['\\[', '\\]']], processEscapes: true, processEnvironments: true}};</script>
<script src="mathjax/tex-mml-chtml.js"></script>
<style>
  body { font-size: 10.5pt; }
  .jp-InputPrompt, .jp-OutputPrompt { display: none; }
  .celltag_macros { height: 0; overflow: hidden; }
  .celltag_answer { display: block; box-sizing: border-box; border: 1px solid #999; border-radius: 3px;
                    padding: 4pt 8pt; margin-top: 6pt; }
  .jp-CodeCell pre, .jp-OutputArea pre { font-size: 8.5pt; }
  .celltag_answer-proof { min-height: 13cm; }
  .celltag_answer-computation { min-height: 8cm; }
  pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
  .jp-CodeCell, .jp-MarkdownCell { break-inside: avoid; }  /* an answer box stays whole on its page */
  h1, h2 { break-after: avoid; }
  h2 { margin-top: 18pt; padding-top: 6pt; border-top: 1px solid #ccc; }
  mjx-container[display="true"] { overflow: visible; }
  /* a problem's setup (its chapter's code above the exercise) is collapsed in the notebook: one line here */
  .celltag_setup-chapter .jp-InputArea, .celltag_setup-chapter .jp-OutputArea { display: none; }
  .celltag_setup-chapter::before { content: "Setup cell (in the notebook): runs the chapter's code above the exercise."; font-size: 8.5pt; color: #555; font-style: italic; }
</style>
{%- endblock html_head_js_mathjax -%}
"""

# Once MathJax has typeset the page (browser.wait_for_mathjax): scale wide equations, report errors.
READY_JS = """() => {
  document.querySelectorAll('mjx-container[display="true"]').forEach(m => {   // scale wide equations
    const box = m.parentElement.getBoundingClientRect().width, w = m.scrollWidth;
    if (box > 0 && w > box + 1) m.style.fontSize = (100 * box / w * 0.98).toFixed(1) + '%';
  });
  return {errors: document.querySelectorAll('mjx-merror').length,
          raw: /\\$\\$|\\\\frac/.test(document.body.innerText)};
}"""


def print_pdfs(jobs: list[tuple[nbformat.NotebookNode, Path, str]], browser=None) -> None:
    """Print each notebook to its PDF (A4, page numbers in the footer) with Chromium, offline.

    ``browser``: a Playwright Chromium already running (the tests' session browser); else one is started.
    """
    exporter = HTMLExporter(template_name="lab", template_file="problem_set.html.j2",
                            extra_loaders=[jinja2.DictLoader({"problem_set.html.j2": TEMPLATE})])
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        (site / "mathjax").symlink_to(ROOT / "_vendor" / "mathjax")
        for i, (nb, _, _) in enumerate(jobs):
            (site / f"{i}.html").write_text(exporter.from_notebook_node(nb)[0], encoding="utf-8")
        server = Server(site)
        try:
            with contextlib.ExitStack() as stack:
                if browser is None:
                    browser = stack.enter_context(chromium())
                page = browser.new_page()
                stack.callback(page.close)
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(server.origin)
                           else route.abort())  # offline: nothing from another origin
                for i, (_, out, label) in enumerate(jobs):
                    page.goto(f"{server.origin}/{i}.html", wait_until="load")
                    wait_for_mathjax(page)
                    state = page.evaluate(READY_JS)
                    if state["errors"] or state["raw"]:
                        raise RuntimeError(f"{out.name}: MathJax left {state['errors']} errors or raw TeX")
                    page.emulate_media(media="print")
                    footer = ("<div style='width:100%;font:7.5pt DejaVu Sans,sans-serif;color:#666;"
                              f"text-align:center'>{label} · page <span class='pageNumber'></span> of "
                              "<span class='totalPages'></span></div>")
                    page.pdf(path=str(out), format="A4", print_background=True, margin=MARGIN,
                             display_header_footer=True, header_template="<span></span>", footer_template=footer)
        finally:
            server.close()


# -- the command ------------------------------------------------------------------------------------------

def build(labels: list[str], name: str, out: Path = OUT, browser=None) -> dict[str, Path]:
    """Write the problem set ``name`` from the exercises ``labels`` (in that order); return the paths."""
    exercises = select(labels, name)  # every input error before any work
    subprocess.run([str(ROOT / "tools" / "fetch_assets.sh")], check=True)
    book_build.ensure_built()
    items = [item(e) for e in exercises]
    baseurl = notebooks.baseurl()  # BASEURL of `make site`/`make problem-set`, else html.baseurl
    baseurl += "/" if baseurl else ""
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    paths = {"sheet": folder / f"{name}.ipynb", "key": folder / f"{name}-key.ipynb",
             "sheet_pdf": folder / f"{name}.pdf", "key_pdf": folder / f"{name}-key.pdf",
             "nbgrader": folder / "nbgrader" / "source" / name / f"{name}.ipynb"}
    paths["nbgrader"].parent.mkdir(parents=True)
    sheet = problem_notebook(items, name, key=False, baseurl=baseurl)
    with tempfile.TemporaryDirectory() as tmp:
        key = run_key(problem_notebook(items, name, key=True, baseurl=baseurl), Path(tmp))
    nbformat.write(sheet, paths["sheet"])
    nbformat.write(key, paths["key"])
    nbformat.write(nbgrader_notebook(items, name, baseurl), paths["nbgrader"])
    print_pdfs([(sheet, paths["sheet_pdf"], f"Problem set {name}"),
                (key, paths["key_pdf"], f"Problem set {name} — key")], browser)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", required=True, help="the problem set's name (NAME=hw1): folder and file names")
    parser.add_argument("labels", nargs="*", help="exercise labels, in the order of the set (EXERCISES=...)")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the folder of problem sets (default {OUT})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        paths = build(args.labels, args.name, args.out)
    except ProblemSetError as err:
        print(f"make problem-set: error: {err}", file=sys.stderr)
        return 2
    folder = paths["sheet"].parent
    files = ", ".join(str(p.relative_to(folder)) for p in paths.values())
    print(f"make problem-set: wrote {folder} ({files}) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
