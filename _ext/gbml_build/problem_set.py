"""A problem set from exercises of the book: ``make problem-set EXERCISES="ex-… ex-…" NAME=hw1``.

The exercises, in the order given, come from the notebook edition (``_build/notebooks/full``, the book
rebuilt when stale).  Written to ``_build/problem-sets/NAME/``: the sheet ``NAME.ipynb``; the key
``NAME-key.ipynb``, executed (it must run clean, every check "Correct"); both as PDFs (nbconvert's HTML
printed offline by Chromium); ``nbgrader/``, a course folder (:mod:`.course`, :mod:`.feedback`) whose source
has solution regions, per coding exercise a visible check (0 points) and a hidden test (a fresh checker on
new cases, :mod:`gbml.book._grading`), per proof and computation a manually graded answer; points = minutes.

Each problem's setup cell runs the code of its chapter above the exercise (solutions left out): the kernel
then holds what the book's execution holds there, so the numbers are the book's.  The statement's cited
equations, sections and figures are shown under it.  An offering's settings come from ``SPEC=hw2.yml`` or
``TITLE``, ``DUE``, ``SEED``, ``LOCAL`` (:mod:`.course`).
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import difflib
import functools
import json
import re
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jinja2
import jupytext
import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

from . import build as book_build
from . import course, notebooks
from .booktoc import ROOT, is_notebook, read_config
from .browser import Server, chromium, wait_for_mathjax
from .chapters import Exercise, collect, read_chapter
from .feedback import anchors, unlink
from .pdf import MARGIN

OUT = ROOT / "_build" / "problem-sets"
NAME_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
_HEADING = re.compile(r"^#+ Exercise (?:(\d+)\.(\d+) )?\((.*)\)[ \t]*$", re.M)
_SOLUTION_MD = re.compile(r"<details>\n<summary><b>Solution to (.*?)</b></summary>\n(.*)\n</details>\s*", re.S)


class ProblemSetError(ValueError):
    """Bad input to the problem-set builder (the message says what is accepted)."""


# -- input ----------------------------------------------------------------------------------------------

def local_exercises(folders) -> dict[str, Exercise]:
    """label -> exercise of every course-local exercise: the MyST notebooks (``*.md``) of ``folders``, each
    written like a chapter (``chapters/_template.md``: a title, learning objectives, code, exercises)."""
    found = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise ProblemSetError(f"LOCAL={str(folder)!r} is not a folder: give the folder of your course's "
                                  "exercises (MyST notebooks written like a chapter of the book)")
        if folder.resolve().is_relative_to(ROOT):
            raise ProblemSetError(f"LOCAL={str(folder)!r} is inside the book's repository: keep course exercises "
                                  "in a folder of your own (the book's exercises need no LOCAL)")
        for path in sorted(folder.glob("*.md")):
            if is_notebook(path):
                for e in read_chapter(path, str(path.resolve().with_suffix("")), folder).exercises:
                    if e.label in found:
                        raise ProblemSetError(f"LOCAL: the label {e.label!r} is used twice ({path})")
                    found[e.label] = e
    return found


def is_local(exercise: Exercise) -> bool:
    return Path(exercise.chapter).is_absolute()


def select(labels: list[str], name: str, local=()) -> list[Exercise]:
    """The exercises named by ``labels``, in that order, from the book or from the course-local folders
    ``local``; a :class:`ProblemSetError` on bad input."""
    if not re.fullmatch(NAME_PATTERN, name or ""):
        raise ProblemSetError(f"NAME={name!r} cannot name a problem set: use letters, digits, '.', '_' or '-', "
                              "starting with a letter or digit (e.g. NAME=hw1)")
    if not labels:
        raise ProblemSetError("EXERCISES is empty: give one or more exercise labels, e.g. "
                              'EXERCISES="ex-lr-code ex-td-proof" (the exercise index lists every label)')
    known = {e.label: e for c in collect() for e in c.exercises}
    mine = local_exercises(local)
    if set(mine) & set(known):
        raise ProblemSetError(f"LOCAL: {', '.join(sorted(set(mine) & set(known)))} is a label of the book; give "
                              "your exercise another label (e.g. prefix it with your course's name)")
    known.update(mine)
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
    number: str          # "7.3" ("" for a course-local exercise)
    title: str           # as the notebook prints it
    chapter_title: str
    before: list         # the chapter's code cells above the exercise (its setup runs them)
    cells: list          # the heading cell (with the statement), then the exercise's other cells
    roles: list = ()     # (name, format) of the glued numbers of its statement and solution
    points: float = 0    # its points in the set (default: its minutes)
    figures: list = ()   # (code cell, caption cell): each figure its statement cites
    sections: list = ()  # (anchor, markdown): each section (worked example) it links to

    @property
    def chapter(self) -> str:
        return self.number.split(".")[0]

    @property
    def stem(self) -> str:
        return Path(self.exercise.chapter).name


def _tags(cell) -> list:
    return cell.metadata.get("tags", [])


def _is_solution(cell) -> bool:
    return "solution" in _tags(cell) or (cell.cell_type == "markdown" and bool(_SOLUTION_MD.match(cell.source)))


def _starts_exercise(cell) -> bool:
    return cell.cell_type == "markdown" and bool(_HEADING.search(cell.source))


def _region(exercise: Exercise) -> str:
    """The MyST source of an exercise: from its directive to the next exercise's metadata line."""
    lines = Path(f"{exercise.chapter}.md" if is_local(exercise) else ROOT / f"{exercise.chapter}.md") \
        .read_text(encoding="utf-8").splitlines()[exercise.line - 1:]
    return "\n".join(lines[:next((i for i, line in enumerate(lines) if line.startswith("% exercise:")), None)])


_DIRECTIVE = re.compile(r"^:::\{(exercise|solution)\}[ \t]*([^\n]*)\n((?::[\w-]+:[^\n]*\n)*)(.*?)^:::[ \t]*$",
                        re.M | re.S)


def _local_markdown(text: str, title: str) -> str:
    """A course-local exercise's MyST as the notebook edition writes it (heading, folded solution)."""
    text = re.sub(r"^(%.*|\([\w-]+\)=)\n?", "", text, flags=re.M)

    def convert(m):
        kind, argument, options, body = m.groups()
        if kind == "solution":
            return f"<details>\n<summary><b>Solution to {title}</b></summary>\n\n{body.strip()}\n</details>"
        label = re.search(r":label:\s*(\S+)", options).group(1)
        return f"<a id='{label}'></a>\n\n## Exercise ({argument.strip()})\n{body.strip()}"
    return _DIRECTIVE.sub(convert, text).strip()


def local_item(exercise: Exercise) -> Item:
    """A course-local exercise's cells, read with jupytext from its MyST notebook."""
    cells = jupytext.read(f"{exercise.chapter}.md").cells
    opens = [i for i, c in enumerate(cells) if c.cell_type == "markdown" and "{exercise}" in c.source]
    start = next(i for i in opens if re.search(rf"^:label:\s*{re.escape(exercise.label)}\s*$", cells[i].source, re.M))
    end = next((i for i in opens if i > start), len(cells))
    heading = copy.deepcopy(cells[start])
    heading.source = _local_markdown(heading.source[heading.source.index(":::{exercise}"):], exercise.title)
    rest = []
    for cell in map(copy.deepcopy, cells[start + 1:end]):
        if cell.cell_type == "markdown":
            cell.source = _local_markdown(cell.source, exercise.title)
        if cell.source.strip():
            rest.append(cell)
    title = read_chapter(Path(f"{exercise.chapter}.md"), exercise.chapter, Path(exercise.chapter).parent).title
    before = [c for c in cells[:start] if c.cell_type == "code" and "setup" not in _tags(c)]
    return Item(exercise, "", exercise.title, title, before, [heading, *rest], course.glue_roles(_region(exercise)))


def item(exercise: Exercise) -> Item:
    """The exercise's cells: from its heading (anchored by its label) to the next exercise or the references."""
    if is_local(exercise):
        return local_item(exercise)
    nb = nbformat.read(notebooks.OUT / "full" / f"{Path(exercise.chapter).name}.ipynb", as_version=4)
    start = next(i for i, c in enumerate(nb.cells)
                 if _starts_exercise(c) and c.source.startswith(f"<a id='{exercise.label}'></a>"))
    end = next((i for i in range(start + 1, len(nb.cells))
                if _starts_exercise(nb.cells[i]) or nb.cells[i].source.startswith("## References")), len(nb.cells))
    chapter, number, title = _HEADING.search(nb.cells[start].source).groups()
    chapter_title = next(m.group(1) for c in nb.cells if c.cell_type == "markdown"
                         for m in [re.search(r"^# (.*)$", c.source, re.M)] if m)
    before = [c for c in nb.cells[:start] if c.cell_type == "code" and "setup" not in _tags(c)]
    return Item(exercise, f"{chapter}.{number}", title, chapter_title, before, nb.cells[start:end],
                course.glue_roles(_region(exercise)), figures=_cited_figures(exercise, nb),
                sections=_cited_sections(nb.cells[start].source, exercise))


_FIG_REF = re.compile(r"\{numref\}`(?:[^`<]*<)?(fig-[\w-]+)>?`")
_SEC_LINK = re.compile(r"\[([^\]]*)\]\((?:(\d\d_\w+)\.ipynb)?#(sec-[\w-]+)\)")


def _cited_figures(exercise: Exercise, nb) -> list:
    """(code cell, caption cell) in ``nb`` of each figure the statement cites (``{numref}`fig-…```)."""
    statement = re.search(r"^:::\{exercise\}.*?^:::[ \t]*$", _region(exercise), re.M | re.S).group()
    found = []
    for name in dict.fromkeys(_FIG_REF.findall(statement)):
        code = next((src for src, meta in notebooks._source_cells(exercise.chapter).items()
                     if meta.get("mystnb", {}).get("figure", {}).get("name") == name), None)
        at = next((i for i, c in enumerate(nb.cells)
                   if c.cell_type == "code" and c.source.strip() == code), None)
        if at is None:
            raise RuntimeError(f"exercise {exercise.label}: its statement cites the figure {name}, "
                               f"which is not drawn in its chapter {exercise.chapter} (a problem "
                               "shows only its chapter's figures)")
        if re.search(r"\brng\b", code):  # run again in the sheet: it must leave the random state be
            raise RuntimeError(f"exercise {exercise.label}: the cell of the figure {name} uses rng")
        found.append((nb.cells[at], nb.cells[at + 1]))
    return found


def _cited_sections(statement: str, exercise: Exercise) -> list:
    """(anchor, markdown) of each section (``sec-…``) the statement links to, to its next heading."""
    found = []
    for _, stem, anchor in dict.fromkeys(_SEC_LINK.findall(statement)):
        page = notebooks.OUT / "full" / f"{stem or Path(exercise.chapter).name}.ipynb"
        cells = nbformat.read(page, as_version=4).cells
        start = next(i for i, c in enumerate(cells)
                     if c.source.startswith(f"<a id='{anchor}'></a>"))
        level = len(re.search(r"^(#+) ", cells[start].source, re.M).group(1))
        end = next((i for i in range(start + 1, len(cells)) if cells[i].cell_type == "markdown"
                    and re.search(rf"^#{{1,{level}}} ", cells[i].source, re.M)), len(cells))
        text = "\n\n".join(c.source.strip() for c in cells[start:end] if c.cell_type == "markdown")
        text = text.replace(f"<a id='{anchor}'></a>", "", 1)
        found.append((anchor, re.sub(r"^(#+) ", r"#\1 ", text, flags=re.M)))  # under the problem
    return found


# -- the setup an exercise needs: its chapter's code above it --------------------------------------------

SETUP_HEADER = "%%capture\n# Setup for problem {index}: the code of {where} above exercise {label}, as the book runs it\n" \
    "# (solutions left out: none of them changes what later code uses); its output is hidden.\n"


def setup_code(item: Item) -> str:
    """The code of the exercise's chapter above it, without the solution cells (none changes what later
    code reads: ``tests/test_problem_set_book.py``), so the kernel is left as the book's at the exercise."""
    cells = [c for c in item.before if not _is_solution(c)]
    code = "\n\n".join(c.source.strip() for c in cells if c.source.strip())
    if re.search(r"^%%", code, re.M):
        raise RuntimeError(f"exercise {item.exercise.label}: a cell magic (%%) in the code of "
                           f"{item.exercise.chapter} above it cannot run inside the setup cell")
    # Its output is hidden: the figures drawn above are closed before the cell ends, so none is rendered
    # (pyplot imported without binding a name, which would not be the book's kernel).
    return code + '\n\n__import__("matplotlib.pyplot").pyplot.close("all")  # hidden figures, not rendered'


# -- the notebooks ----------------------------------------------------------------------------------------

def _page(stem: str, baseurl: str) -> str:
    """Where a chapter is read: its page of the online book when ``html.baseurl`` is set, else its notebook."""
    return f"{baseurl}chapters/{stem}.html" if baseurl else f"{stem}.ipynb"


def _points(value) -> str:
    return f"{value:g}"


def _statement(item: Item, index: int, baseurl: str) -> str:
    """The heading cell as a problem: title, label and chapter (not the book's number, which an added
    exercise would shift), kind, minutes, points, and the equations it cites written out."""
    e = item.exercise
    where = (f"Course exercise `{e.label}` ({item.chapter_title})" if is_local(e) else
             f"Exercise `{e.label}` of chapter {item.chapter}, [{item.chapter_title}]({_page(item.stem, baseurl)}"
             f"#{e.label})")
    info = f"*{where} · {e.kind} · about {e.minutes} minutes · {_points(item.points or e.minutes)} points*"
    text = _HEADING.sub(lambda m: f"## Problem {index}: {item.title}\n\n{info}\n", item.cells[0].source, count=1)
    shown = dict(item.sections)  # a link to a section shown under the statement becomes text
    text = _SEC_LINK.sub(lambda m: f"{m.group(1)} (below)" if m.group(3) in shown else m.group(0),
                         text)
    return _relink(_with_equations(text, item.stem), item, baseurl)


_EQ_LINK = re.compile(r"\[(\(\d+\.\d+\))\]\((?:(\d\d_\w+)\.ipynb)?#(equation-[\w-]+)\)")


@functools.lru_cache(maxsize=None)
def _equations_of(stem: str) -> dict[str, str]:
    """anchor -> LaTeX (with its ``\\tag``) of every numbered equation of a chapter's notebook."""
    nb = nbformat.read(notebooks.OUT / "full" / f"{stem}.ipynb", as_version=4)
    found = {}
    for cell in nb.cells:
        blocks = re.finditer(r"^([ \t>]*)<a id='(equation-[\w-]+)'></a>\n\1\$\$\n(.*?)\n\1\$\$", cell.source, re.M | re.S)
        for m in blocks:
            found[m.group(2)] = "\n".join(line[len(m.group(1)):] for line in m.group(3).splitlines())
    return found


def _with_equations(text: str, stem: str) -> str:
    """Links to numbered equations, ``[(2.4)](#equation-…)``, as text, each equation shown under it."""
    cited = {}

    def plain(m):
        cited.setdefault(m.group(3), m.group(2) or stem)
        return m.group(1)
    text = _EQ_LINK.sub(plain, text)
    if not cited:
        return text
    split = re.search(r"(\s*<a id='[^']+'></a>)*\s*$", text).start()  # the anchors of the next block stay last
    shown = "".join(f"\n\n$$\n{_equations_of(page)[anchor]}\n$$" for anchor, page in cited.items())
    return text[:split].rstrip() + shown + ("\n\n" + text[split:].strip() if text[split:].strip() else "")


def _relink(text: str, item: Item, baseurl: str) -> str:
    """Links into the exercise's chapter (``#anchor``) or another chapter's notebook, made to work from the set."""
    text = re.sub(r"\]\(#", f"]({_page(item.stem, baseurl)}#", text)
    return re.sub(r"\]\((\d\d_\w+)\.ipynb#", lambda m: f"]({_page(m.group(1), baseurl)}#", text)


def _code(source: str, tags: list, **metadata):
    return nbformat.v4.new_code_cell(source, metadata={"tags": tags, **metadata})


def _front(items: list[Item], name: str, baseurl: str, *, key: bool, settings: course.Settings) -> list:
    """Macros cell, title cell (title, due date, total time and points), the edition's setup cell."""
    first = nbformat.read(min((notebooks.OUT / "full").glob("[0-9][0-9]_*.ipynb")), as_version=4)
    macros = copy.deepcopy(first.cells[0])
    macros.metadata["tags"] = ["macros"]
    guard = copy.deepcopy(next(c for c in first.cells if "setup" in _tags(c)))
    book = read_config().get("title", "")
    minutes = [it.exercise.minutes for it in items]
    where = ("the online book" if baseurl else
             "the chapter notebooks of the notebook edition (`make notebooks`, or the course pack): keep this "
             "notebook in the same folder as them")
    due = f"**Due: {settings.due}**\n\n" if settings.due else ""
    variant = f" Numbers of this offering: seed {settings.seed}." if settings.seed is not None else ""
    title = (f"# {settings.title or f'Problem set {name}'}{' — key' if key else ''}\n\n*{book}*\n\n{due}"
             f"**Total time: about {sum(minutes)} minutes** for {len(items)} exercises "
             f"({' + '.join(map(str, minutes))} min); "
             f"**{_points(sum(it.points or it.exercise.minutes for it in items))} points**.{variant}\n\n"
             + ("Every solution follows its exercise; the key has run, its outputs are shown. " if key else
                "Run the cells in order: each problem starts with a setup cell (collapsed) that runs the code "
                "of its chapter above the exercise, so its names and numbers are the book's. A coding exercise "
                "is checked by the cell after it (\"Correct\", or a hint); write proofs and computations in the "
                "answer cell under them. ")
             + f"Each problem names the exercise it comes from by its label; the links lead to {where}.")
    return [macros, nbformat.v4.new_markdown_cell(title), guard]


def _head(it: Item, index: int, baseurl: str, seed) -> list[tuple[str, nbformat.NotebookNode]]:
    """(grade id, cell) of a problem's statement, the sections it cites, its setup, then the figures it
    cites (each drawn again, its code folded, then its caption)."""
    sections = [nbformat.v4.new_markdown_cell(_relink(
        f"*The section the statement refers to, as the book gives it:*\n\n{text.strip()}", it, baseurl),
        metadata={"tags": ["cited-section"]}) for _, text in it.sections]
    figures = [cell for code, caption in it.figures for cell in (_code(
        course.seeded(code.source, seed), ["cited-figure", "hide-input"], jupyter={"source_hidden": True}),
        copy.deepcopy(caption))]
    label = it.exercise.label
    where = f"{it.stem}.md" if is_local(it.exercise) else f"chapter {it.chapter}"
    setup = SETUP_HEADER.format(index=index, where=where, label=label) + setup_code(it)
    return [(f"{label}-statement", nbformat.v4.new_markdown_cell(_statement(it, index, baseurl))),
            *((f"{label}-section-{i}", cell) for i, cell in enumerate(sections)),
            (f"{label}-setup", _code(course.seeded(setup, seed), ["setup", "setup-chapter"],
                                     jupyter={"source_hidden": True})),
            *((f"{label}-figure-{i}", cell) for i, cell in enumerate(figures))]  # before the answer


def problem_notebook(items: list[Item], name: str, *, key: bool, baseurl: str = "",
                     settings: course.Settings | None = None) -> nbformat.NotebookNode:
    """The student sheet (``key=False``) or the key (every solution shown)."""
    settings = settings or course.Settings()
    cells = _front(items, name, baseurl, key=key, settings=settings)
    for index, it in enumerate(items, 1):
        cells += [cell for _, cell in _head(it, index, baseurl, settings.seed)]
        if not key and it.exercise.kind != "coding":
            cells.append(nbformat.v4.new_markdown_cell("**Your answer.**", metadata={
                "tags": ["answer", f"answer-{it.exercise.kind}"]}))
        code = [c for c in it.cells[1:] if c.cell_type == "code"]
        if not key and it.exercise.kind == "computation" and code and all(map(_is_solution, code)):
            cells.append(_code("# Your computation: the code the problem asks you to run.\n", ["answer-code"]))
        for cell in it.cells[1:]:
            if _is_solution(cell) and not key:
                continue
            cell = copy.deepcopy(cell)
            cell.metadata.pop("jupyter", None)  # solution code shown, not collapsed
            if cell.cell_type == "markdown":
                cell.source = _relink(cell.source.replace("<details>", "<details open>", 1), it, baseurl)
                cell.source = re.sub(  # the problem's number and the label, not the book's number
                    r"(?<=<summary><b>)Solution to .*?(?=</b></summary>)", lambda m:
                    f"Solution to problem {index}: {it.title} ({it.exercise.label})", cell.source)
            else:
                cell.source = course.seeded(cell.source, settings.seed)
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
# The checker comes from fresh copies of gbml{and_module}, loaded from their files: an answer cell cannot
# have replaced them.
import importlib.util
grading = importlib.util.module_from_spec(importlib.util.find_spec("gbml.book._grading"))
grading.__spec__.loader.exec_module(grading)
{local}grading.points({checker!r}, {fn}, points={points}, seed={seed}, n_cases={n_cases})
### END HIDDEN TESTS"""

# A course-local checker: its module loaded afresh, importing the fresh gbml.book.exercises.
LOCAL_CHECKER = """\
import sys
shown = sys.modules.pop("gbml.book.exercises", None)
sys.modules["gbml.book.exercises"] = grading.fresh_exercises()  # what {module} imports compare from
spec = importlib.util.spec_from_file_location("_course_hidden_test", {module!r})
course_checks = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(course_checks)
finally:
    sys.modules["gbml.book.exercises"] = shown
grading.fresh_exercises = lambda: course_checks
"""


def _hidden_test(check: str, points, n_cases: int = 10, module: str = "") -> str:
    """The hidden test of the check cell ``exercises.check_x(fn);`` (of a course-local checker in the file
    ``module``), worth ``points``.  Its seed is drawn from the system's entropy: one derived from the public
    book and gbml would let a learner tabulate the hidden cases."""
    call = ast.parse(check).body[0].value
    return HIDDEN_TEST.format(
        checker=call.func.attr, fn=call.args[0].id, points=_points(points), seed=secrets.randbelow(2**32),
        n_cases=n_cases, and_module=f" and {module}" if module else "",
        local=LOCAL_CHECKER.format(module=module) if module else "")


def _checker_file(item: Item, check: str) -> str:
    """The ``.py`` of a course-local exercise's folder that defines its checker (beside the notebook)."""
    checker = ast.parse(check).body[0].value.func.attr
    folder = Path(item.exercise.chapter).parent
    found = [p.name for p in sorted(folder.glob("*.py")) if re.search(rf"^def {checker}\(", p.read_text(), re.M)]
    if not found:
        raise ProblemSetError(f"LOCAL={folder}: exercise {item.exercise.label}: no .py file of the folder defines "
                              f"its checker {checker} (write it with gbml.book.exercises.compare in a .py file there)")
    return found[0]


def nbgrader_notebook(items: list[Item], name: str, baseurl: str = "",
                      settings: course.Settings | None = None) -> nbformat.NotebookNode:
    """The nbgrader source: solution regions, a visible check and a hidden test per coding exercise, a
    manually graded answer otherwise."""
    settings = settings or course.Settings()
    cells = _front(items, name, baseurl, key=False, settings=settings)
    for i, cell in enumerate(cells):
        _nbgrader(cell, f"front-{i}", locked=True)
    for index, it in enumerate(items, 1):
        label, points = it.exercise.label, it.points or it.exercise.minutes
        cells += [_nbgrader(cell, grade_id, locked=True)
                  for grade_id, cell in _head(it, index, baseurl, settings.seed)]
        by_tag = {tag: course.seeded(c.source, settings.seed) for c in it.cells[1:] for tag in _tags(c)}
        if it.exercise.kind == "coding":
            check = by_tag["check"]
            module = _checker_file(it, check) if is_local(it.exercise) else ""
            cells.append(_nbgrader(_code(_answer_code(by_tag["exercise"], by_tag["solution"]),
                                         ["exercise"]), f"{label}-answer", solution=True))
            cells.append(_nbgrader(_code(_assertion(check), ["check"]), f"{label}-check",
                                   grade=True, locked=True, points=0))  # Validate shows its hint
            cells.append(_nbgrader(_code(_hidden_test(check, points, module=module), ["hidden-test"]),
                                   f"{label}-test", grade=True, locked=True, points=points))
        else:
            written = [_relink(_SOLUTION_MD.match(c.source).group(2).strip(), it, baseurl) for c in it.cells[1:]
                       if c.cell_type == "markdown" and _SOLUTION_MD.match(c.source)]
            cells.append(_nbgrader(nbformat.v4.new_markdown_cell(
                "### BEGIN SOLUTION\n\n" + "\n\n".join(written) + "\n\n### END SOLUTION"),
                f"{label}-answer", solution=True, grade=True, points=points))
    return _notebook(cells, f"Problem set {name}")


def _notebook(cells, title: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=cells, metadata={**notebooks.METADATA, "title": title})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i}"  # unique, and the same at every build
    return nb


def run_key(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """Execute the key in a kernel; raise unless it runs clean and every check says "Correct"."""
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    problem, problems = "the front", []
    for i, cell in enumerate(nb.cells):
        found = re.search(r"^## (Problem \d+: .*)", cell.source, re.M)
        problem = found.group(1) if found and cell.cell_type == "markdown" else problem
        where = f"cell {i} ({'setup of ' * ('setup-chapter' in _tags(cell))}{problem})"
        problems += [f"{where}: {o.ename}: {o.evalue}" for o in cell.get("outputs", []) if o.output_type == "error"]
        if "check" in _tags(cell) and not "".join(o.get("text", "") for o in cell.outputs).startswith("Correct"):
            problems.append(f"{where}: the check does not pass")
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
  .celltag_setup .jp-InputArea, .celltag_setup .jp-OutputArea { display: none; }
  .celltag_cited-figure .jp-InputArea { display: none; }  /* a cited figure: its code folded */
  .celltag_setup:not(.celltag_setup-chapter)::before { content: "Setup cell (in the notebook): finds gbml, or installs it in Colab."; font-size: 8.5pt; color: #555; font-style: italic; }
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
    """Print each (notebook, PDF path, footer label) with Chromium, offline; ``browser``: one already
    running (the tests'), else one is started."""
    exporter = HTMLExporter(template_name="lab", template_file="problem_set.html.j2",
                            extra_loaders=[jinja2.DictLoader({"problem_set.html.j2": TEMPLATE})])
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        (site / "mathjax").symlink_to(ROOT / "_vendor" / "mathjax")
        for i, (nb, _, _) in enumerate(jobs):
            nb = copy.deepcopy(nb)
            found = anchors(nb)
            for cell in nb.cells:  # no dead link in the PDF: a link to a chapter notebook becomes its text
                if cell.cell_type == "markdown":
                    cell.source = unlink(cell.source, found)
            (site / f"{i}.html").write_text(exporter.from_notebook_node(nb)[0], encoding="utf-8")
        with Server(site) as server, contextlib.ExitStack() as stack:
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


# -- the command ------------------------------------------------------------------------------------------

def _book_glue(stem: str) -> dict[str, str]:
    """name -> text/plain of what the book's execution of a chapter glued (``_build/jupyter_execute``)."""
    path = ROOT / "_build" / "jupyter_execute" / "chapters" / f"{stem}.glue.json"
    found = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    return {name: out["data"]["text/plain"] for name, out in found.items() if "text/plain" in out.get("data", {})}


def run_seeded_key(nb: nbformat.NotebookNode, folder: Path) -> dict[str, str]:
    """Run the key of a seeded set, recording what its chapters' code glues; return name -> text/plain."""
    nb.cells[3:3] = [_code(course.GLUE_PROBE, ["probe"])]
    nb.cells.append(_code(course.GLUE_DUMP, ["probe"]))
    run_key(nb, folder)
    now = json.loads(nb.cells.pop().outputs[0].text)
    del nb.cells[3]
    return now


def reglue(nb: nbformat.NotebookNode, items: list[Item], now: dict[str, str]) -> None:
    """The glued numbers of the problems' markdown (statements and written solutions) for a seeded set."""
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
                 and re.search(r"^## Problem \d", c.source, re.M))
    for cell in nb.cells[first:]:
        if cell.cell_type == "markdown":
            for it in items:
                cell.source = course.glued(cell.source, it.roles, _book_glue(it.stem), now)


def build(labels: list[str], name: str, out: Path = OUT, browser=None,
          settings: course.Settings | None = None) -> dict[str, Path]:
    """Write the problem set ``name`` from the exercises ``labels`` (in that order) with the offering's
    ``settings`` (title, due date, points, seed, course-local folders); return the paths."""
    settings = settings or course.Settings()
    exercises = select(labels, name, settings.local)  # every input error before any work
    unknown = sorted(set(settings.points) - set(labels))
    if unknown:
        raise ProblemSetError(f"points are given for {', '.join(unknown)}, which the set does not hold")
    book_build.fetch_assets()
    book_build.ensure_built()
    items = [item(e) for e in exercises]
    for it in items:
        it.points = settings.points.get(it.exercise.label, it.exercise.minutes)
    baseurl = notebooks.baseurl()  # BASEURL of `make site`/`make problem-set`, else html.baseurl
    baseurl += "/" if baseurl else ""
    folder = out / name
    shutil.rmtree(folder, ignore_errors=True)
    paths = {"sheet": folder / f"{name}.ipynb", "key": folder / f"{name}-key.ipynb",
             "sheet_pdf": folder / f"{name}.pdf", "key_pdf": folder / f"{name}-key.pdf",
             "nbgrader": folder / "nbgrader" / "source" / name / f"{name}.ipynb"}
    paths["nbgrader"].parent.mkdir(parents=True)
    # a course-local checker's module goes beside every notebook that imports it
    modules = [p for local in settings.local for p in sorted(Path(local).glob("*.py"))]
    sheet = problem_notebook(items, name, key=False, baseurl=baseurl, settings=settings)
    key = problem_notebook(items, name, key=True, baseurl=baseurl, settings=settings)
    grader = nbgrader_notebook(items, name, baseurl, settings)
    with tempfile.TemporaryDirectory() as tmp:
        for where in (Path(tmp), folder, paths["nbgrader"].parent):
            for module in modules:
                shutil.copy(module, where)
        if settings.seed is None:
            run_key(key, Path(tmp))
        else:
            try:
                now = run_seeded_key(key, Path(tmp))
            except RuntimeError as err:  # the chapters' code is written for the book's draws
                raise ProblemSetError(f"SEED={settings.seed}: with this seed {err}\nChoose another seed "
                                      "(the book's code does not hold for every draw).") from None
            for nb in (sheet, key, grader):
                reglue(nb, items, now)
    drawn = [c.outputs for c in key.cells if "cited-figure" in _tags(c)]  # the key's run drew them
    for nb in (sheet, grader):
        shown = [c for c in nb.cells if "cited-figure" in _tags(c)]
        for cell, outputs in zip(shown, drawn, strict=True):
            cell.outputs = copy.deepcopy(outputs)
    nbformat.write(sheet, paths["sheet"])
    nbformat.write(key, paths["key"])
    nbformat.write(grader, paths["nbgrader"])
    paths["course"] = course.write_course_template(folder / "nbgrader", name, baseurl) / "nbgrader_config.py"
    print_pdfs([(sheet, paths["sheet_pdf"], settings.title or f"Problem set {name}"),
                (key, paths["key_pdf"], f"{settings.title or f'Problem set {name}'} — key")], browser)
    return paths


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="", help="the problem set's name (NAME=hw1): folder and file names; "
                        "default the spec file's name")
    parser.add_argument("labels", nargs="*", help="exercise labels, in the order of the set (EXERCISES=...)")
    parser.add_argument("--spec", type=Path, help="a YAML file: title, due, seed, local, exercises (SPEC=...)")
    parser.add_argument("--seed", help="this offering's numbers (SEED=7); none: the book's")
    parser.add_argument("--title", help="the sheet's title (TITLE=...)")
    parser.add_argument("--due", help="the due date, shown under the title (DUE=...)")
    parser.add_argument("--local", action="append", type=Path, default=[],
                        help="a folder of course-local exercises (LOCAL=...; several: LOCAL=\"dir1 dir2\")")
    parser.add_argument("--out", type=Path, default=OUT, help=f"the folder of problem sets (default {OUT})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        labels, settings = course.read_spec(args.spec) if args.spec else ([], course.Settings())
        if labels and args.labels:
            raise ProblemSetError("give the exercises in SPEC or in EXERCISES, not in both")
        settings.title = args.title or settings.title
        settings.due = args.due or settings.due
        settings.local = (*settings.local, *(p.resolve() for p in args.local))
        if args.seed is not None:
            settings.seed = course.check_seed(args.seed)
        name = args.name or (args.spec.stem if args.spec else "")
        paths = build(labels or args.labels, name, args.out, settings=settings)
    except (ProblemSetError, course.SpecError) as err:
        print(f"make problem-set: error: {err}", file=sys.stderr)
        return 2
    folder = paths["sheet"].parent
    files = ", ".join(str(p.relative_to(folder)) for p in paths.values())
    print(f"make problem-set: wrote {folder} ({files}) in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
