"""Generate two pages of the book from its sources: the exercise index and the API reference.

``chapters/exercises.md``
    Every ``exercise`` directive of every chapter in ``_toc.yml``, with its chapter, kind, estimated
    time and the learning objective it serves, linked to the exercise.  The data come from one MyST
    comment line directly above each directive (the convention is in ``CONTRIBUTING.md``)::

        % exercise: kind=proof; minutes=15; objective=2
        :::{exercise} Invariance of the distance
        :label: ex-lr-proof

    ``objective`` is the number of the item in the chapter's "Learning objectives" admonition (several
    numbers separated by commas are allowed).  A missing or malformed line is an error naming the
    chapter file and the exercise label.

``chapters/api.md``
    An autodoc page for every public name of ``gbml`` (``gbml.__all__``, plus the public names of the
    submodules that chapters use as namespaces, e.g. ``gbml.plotting``), each followed by the chapters
    whose code uses it ("Used in"), found by parsing the chapters' code cells.

Both pages are generated (git-ignored).  Run ``python tools/exercise_index.py`` (``--check`` only
validates), or load this file as a Sphinx extension / call :func:`on_builder_inited` from one, so every
build regenerates them before Sphinx reads the sources.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import pkgutil
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Pages this tool writes (docnames, as in ``_toc.yml``); they are never scanned themselves.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from booktoc import API_PAGE, EXERCISE_PAGE, GENERATED, toc_files  # noqa: E402

#: Allowed values of ``kind=`` and their plural labels in the index.
KINDS = {"proof": "proofs", "computation": "computations", "coding": "coding"}
METADATA_EXAMPLE = "% exercise: kind=proof; minutes=15; objective=2"

_FENCE = re.compile(r"^\s*(`{3,}|~{3,}|:{3,})\s*(.*?)\s*$")
_DIRECTIVE = re.compile(r"^\{([\w:.-]+)\}\s*(.*)$")
_METADATA = re.compile(r"^%\s*exercise\s*:(.*)$")
_OPTION = re.compile(r"^\s*:([\w-]+):\s*(.*?)\s*$")
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$")
_OBJECTIVE_ITEM = re.compile(r"^(\d+)[.)]\s+(.*)$")
# Directive bodies that are not MyST (nothing inside them can open a directive).
_LITERAL = {"code-cell", "code", "code-block", "sourcecode", "math", "literalinclude", "raw", "eval-rst",
            "glue:math"}


class ExerciseMetadataError(ValueError):
    """A chapter's exercise has a missing or malformed metadata line (the message says where and how to fix it)."""


@dataclass
class Exercise:
    """One exercise directive and its metadata."""

    chapter: str          # docname, e.g. "chapters/02_linear_representation"
    label: str
    title: str
    kind: str
    minutes: int
    objectives: tuple     # numbers of the chapter's learning objectives it serves
    objective_texts: tuple
    line: int             # 1-based line of the directive in the chapter file


@dataclass
class Chapter:
    """What the index needs from one chapter file."""

    docname: str
    path: Path
    title: str
    objectives: list = field(default_factory=list)   # objective texts, objective n is objectives[n - 1]
    exercises: list = field(default_factory=list)


# -- table of contents ---------------------------------------------------------------------------

def chapter_sources(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(docname, path) of every existing MyST-markdown file in the table of contents, generated pages excluded."""
    found = []
    for name in toc_files(root):
        path = Path(root) / f"{name}.md"
        if name not in GENERATED and path.exists():
            found.append((name, path))
    return found


# -- reading a chapter ---------------------------------------------------------------------------

def _scan(lines):
    """Find the directives of a MyST file: ``(blocks, literal)``.

    ``blocks`` holds ``(index, name, argument, body_start, fence)`` for every directive opened outside
    literal blocks (``body_start``: first line after the opening fence; ``fence``: (char, count)).
    ``literal`` is the set of line indices inside literal blocks (code cells, code blocks, math) or the
    front matter.  Backtick, tilde and colon fences are tracked: a fence closes the innermost open fence
    of the same character with at least as many marks, and nothing opens inside a literal block.
    """
    blocks, literal = [], set()
    stack = []  # (char, length, literal)
    start = 0
    if lines and lines[0].strip() == "---":  # jupytext front matter
        for j in range(1, len(lines)):
            if lines[j].strip() == "---":
                start = j + 1
                break
    literal.update(range(start))
    for i in range(start, len(lines)):
        if stack and stack[-1][2]:
            literal.add(i)
        m = _FENCE.match(lines[i])
        if not m:
            continue
        marks, info = m.group(1), m.group(2)
        char, n = marks[0], len(marks)
        if stack and stack[-1][0] == char and n >= stack[-1][1] and not info:
            stack.pop()
            continue
        if stack and stack[-1][2]:
            continue
        if char == ":" and not info:
            continue
        d = _DIRECTIVE.match(info)
        name = d.group(1) if d else None
        stack.append((char, n, name is None or name in _LITERAL))
        if name:
            blocks.append((i, name, d.group(2).strip(), i + 1, (char, n)))
    return blocks, literal


def _body(lines, body_start, fence):
    """The lines of a directive body up to its closing fence."""
    char, n = fence
    depth = 0
    out = []
    for line in lines[body_start:]:
        m = _FENCE.match(line)
        if m and m.group(1)[0] == char:
            if not m.group(2) and len(m.group(1)) >= n and depth == 0:
                break
            if m.group(2):
                depth += 1
            elif depth:
                depth -= 1
        out.append(line)
    return out


def _options(body):
    """Directive options given as ``:key: value`` lines or a ``---`` YAML block at the top of the body."""
    if body and body[0].strip() == "---":
        end = next((j for j in range(1, len(body)) if body[j].strip() == "---"), None)
        if end is not None:
            return {str(k): str(v) for k, v in (yaml.safe_load("\n".join(body[1:end])) or {}).items()}
    opts = {}
    for line in body:
        m = _OPTION.match(line)
        if not m:
            break
        opts[m.group(1)] = m.group(2)
    return opts


def _objectives(body):
    """The numbered items of a "Learning objectives" admonition, continuation lines joined."""
    items, current = [], None
    for line in body:
        if _OPTION.match(line) and current is None:
            continue
        m = _OBJECTIVE_ITEM.match(line.strip())
        if m and not line.startswith("    "):
            current = [m.group(2)]
            items.append(current)
        elif current is not None and line.strip() and line.startswith((" ", "\t")):
            current.append(line.strip())
        elif current is not None:
            current = None
    return [" ".join(parts).rstrip(" ;,.") for parts in items]


def _title(lines):
    """The first level-1 heading outside fenced blocks."""
    inside = None
    for line in lines:
        m = _FENCE.match(line)
        if m and m.group(1)[0] in "`~":
            if inside is None:
                inside = m.group(1)
            elif m.group(1)[0] == inside[0] and len(m.group(1)) >= len(inside) and not m.group(2):
                inside = None
            continue
        h = _HEADING.match(line)
        if h and inside is None:
            return h.group(1)
    return None


def _where(docname, path, root, line, label):
    rel = path.relative_to(root) if path.is_relative_to(root) else path
    return f"{rel}:{line}: exercise '{label}' (chapter {docname})"


def _parse_metadata(text, *, where, n_objectives):
    """``kind=proof; minutes=15; objective=2`` -> (kind, minutes, objectives) or ExerciseMetadataError."""
    def fail(problem):
        raise ExerciseMetadataError(f"{where}: {problem}. Write the line directly above the directive as "
                                    f"`{METADATA_EXAMPLE}` (kind: {', '.join(KINDS)}; see CONTRIBUTING.md).")

    fields = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            fail(f"'{part}' is not of the form key=value")
        if "=" in value:
            fail(f"'{part}' holds more than one key=value: separate the fields with ';'")
        if key in fields:
            fail(f"'{key}' is given twice")
        fields[key] = value
    unknown = sorted(set(fields) - {"kind", "minutes", "objective"})
    if unknown:
        fail(f"unknown field(s) {', '.join(unknown)}")
    missing = [key for key in ("kind", "minutes", "objective") if key not in fields]
    if missing:
        fail(f"the metadata line lacks {', '.join(missing)}")
    kind = fields["kind"]
    if kind not in KINDS:
        fail(f"kind '{kind}' is not one of {', '.join(KINDS)}")
    if not re.fullmatch(r"\d+", fields["minutes"]) or int(fields["minutes"]) < 1:
        fail(f"minutes must be a positive whole number, got '{fields['minutes']}'")
    numbers = [n.strip() for n in fields["objective"].split(",")]
    if not all(re.fullmatch(r"\d+", n) for n in numbers):
        fail(f"objective must be the number of a learning objective (e.g. 2, or 2,3), got '{fields['objective']}'")
    if n_objectives == 0:
        fail("the chapter has no numbered list in a 'Learning objectives' admonition for objective= to refer to")
    bad = [n for n in numbers if not 1 <= int(n) <= n_objectives]
    if bad:
        fail(f"objective {', '.join(bad)} does not exist: the chapter's learning objectives are numbered "
             f"1 to {n_objectives}")
    return kind, int(fields["minutes"]), tuple(int(n) for n in numbers)


def read_chapter(path: Path, docname: str, root: Path = ROOT) -> Chapter:
    """Parse one chapter: title, learning objectives and every exercise with validated metadata.

    Raises
    ------
    ExerciseMetadataError
        An exercise without a label, without the metadata line directly above it, or with a malformed
        one; or a metadata line that is not directly above an exercise.
    """
    path, root = Path(path), Path(root)
    lines = path.read_text(encoding="utf-8").splitlines()
    chapter = Chapter(docname, path, _title(lines) or docname)
    blocks, literal = _scan(lines)
    for i, name, arg, body_start, fence in blocks:
        if name == "admonition" and arg.lower().startswith("learning objectives") and not chapter.objectives:
            chapter.objectives = _objectives(_body(lines, body_start, fence))
    used_metadata = set()
    for i, name, arg, body_start, fence in blocks:
        if name not in ("exercise", "exercise-start"):
            continue
        label = _options(_body(lines, body_start, fence)).get("label")
        if not label:
            raise ExerciseMetadataError(
                f"{_where(docname, path, root, i + 1, arg or '(untitled)')}: the exercise has no :label:. Give "
                "it one (e.g. `:label: ex-lr-proof`) so the index can link to it.")
        where = _where(docname, path, root, i + 1, label)
        m = _METADATA.match(lines[i - 1].strip()) if i > 0 else None
        if not m:
            above = lines[i - 1].strip() if i > 0 else ""
            found = " (a blank line separates it from the metadata line above)" if not above and i > 1 \
                and _METADATA.match(lines[i - 2].strip()) else ""
            raise ExerciseMetadataError(
                f"{where}: the metadata line is missing{found}. Write the line directly above the directive as "
                f"`{METADATA_EXAMPLE}` (kind: {', '.join(KINDS)}; see CONTRIBUTING.md).")
        used_metadata.add(i - 1)
        kind, minutes, objectives = _parse_metadata(m.group(1), where=where, n_objectives=len(chapter.objectives))
        chapter.exercises.append(Exercise(
            docname, label, arg, kind, minutes, objectives,
            tuple(chapter.objectives[n - 1] for n in objectives), i + 1))
    for j, line in enumerate(lines):
        if _METADATA.match(line.strip()) and j not in used_metadata and j not in literal:
            raise ExerciseMetadataError(
                f"{path.relative_to(root) if path.is_relative_to(root) else path}:{j + 1}: an exercise "
                f"metadata line (chapter {docname}) is not directly above an exercise directive; move it to "
                "the line just above `:::{exercise}`.")
    return chapter


def check_student_cells(chapter: Chapter, root: Path = ROOT) -> None:
    """Raise if an exercise statement sits in a markdown cell tagged ``solution``.

    ``make student`` deletes every cell tagged ``solution``; a markdown solution cell runs until the next
    ``+++`` line or code cell, so an exercise written right after a folded solution, with no ``+++`` in
    between, would vanish from the student edition together with that solution.
    """
    import jupytext

    text = chapter.path.read_text(encoding="utf-8")
    if not chapter.exercises or not (text.startswith("---") and "jupytext:" in text[:2000]):
        return
    lines = text.splitlines()
    cells = [c for c in jupytext.reads(text, fmt="md:myst").cells if c.cell_type == "markdown"]
    for e in chapter.exercises:
        directive = lines[e.line - 1].strip()
        for cell in cells:
            if directive in cell.source and re.search(rf"^\s*:label:\s*{re.escape(e.label)}\s*$", cell.source, re.M):
                if "solution" in cell.metadata.get("tags", []):
                    raise ExerciseMetadataError(
                        f"{_where(chapter.docname, chapter.path, Path(root), e.line, e.label)}: the exercise is in "
                        "the same notebook cell as the solution above it (a markdown cell tagged `solution` lasts "
                        "until the next `+++` line), so the student edition would delete the exercise with that "
                        "solution. End the solution's cell: put a line `+++` (then a blank line) above the "
                        "exercise's metadata line.")
                break


def collect(root: Path = ROOT) -> list[Chapter]:
    """Every chapter of the table of contents (generated pages excluded), parsed, in reading order."""
    return [read_chapter(path, docname, root) for docname, path in chapter_sources(root)]


# -- the exercise index --------------------------------------------------------------------------

def _minutes(total):
    return f"{total}\u00a0min"  # no break inside a narrow table column


def render_exercises(chapters: list[Chapter]) -> str:
    """The markdown of ``chapters/exercises.md``."""
    with_ex = [c for c in chapters if c.exercises]
    everything = [e for c in with_ex for e in c.exercises]
    out = [
        "% Generated by tools/exercise_index.py from the chapters' exercise metadata: do not edit.",
        "",
        "(exercise-index)=",
        "# Exercise index",
        "",
        "Every exercise of the book, with its kind, an estimated working time and the chapter's learning "
        "objective it serves. Proofs are written on paper, computations are done by hand and checked in a "
        "code cell, coding exercises are checked by a function of `gbml.exercises` that gives hints. "
        "Solutions are folded directly after each exercise (the student edition has none); "
        "{doc}`instructors` explains how to combine exercises into homework.",
        "",
        "| Chapter | Exercises | Proofs | Computations | Coding | Time |",
        "|:---|---:|---:|---:|---:|---:|",
    ]
    for c in with_ex:
        counts = [sum(e.kind == kind for e in c.exercises) for kind in KINDS]
        out.append(f"| {{doc}}`/{c.docname}` | {len(c.exercises)} | " + " | ".join(map(str, counts))
                   + f" | {_minutes(sum(e.minutes for e in c.exercises))} |")
    counts = [sum(e.kind == kind for e in everything) for kind in KINDS]
    out.append(f"| **All chapters** | **{len(everything)}** | " + " | ".join(f"**{n}**" for n in counts)
               + f" | **{_minutes(sum(e.minutes for e in everything))}** |")
    out.append("")
    for c in with_ex:
        out += ["", f"## {c.title}", "", f"Chapter: {{doc}}`/{c.docname}`.", ""]
        for e in c.exercises:
            noun = "Objective" if len(e.objectives) == 1 else "Objectives"
            served = "; ".join(f"{n}. {text}" for n, text in zip(e.objectives, e.objective_texts))
            out.append(f"- {{ref}}`{e.label}` **{e.title or 'untitled'}** — {e.kind}, about {e.minutes} min.  ")
            out.append(f"  *{noun} served:* {served}")
        unserved = [str(n) for n in range(1, len(c.objectives) + 1)
                    if not any(n in e.objectives for e in c.exercises)]
        if unserved:
            out += ["", f"Learning objectives of this chapter without an exercise: {', '.join(unserved)}."]
        out.append("")
    if not everything:
        out.append("No chapter has exercises yet.")
    return "\n".join(out).rstrip() + "\n"


# -- the API reference ---------------------------------------------------------------------------

#: Section order and titles for the modules that define gbml's public names.
SECTIONS = {
    "gbml.problem": "Problems: the data model",
    "gbml.tasks": "Tasks: population and finite samples",
    "gbml.algorithms": "Algorithms: one core for five methods",
    "gbml.training": "Training runs",
    "gbml.geometry": "Subspace geometry",
    "gbml.theory": "Theory helpers",
    "gbml.experiments": "Parameter sweeps (gbml.experiments)",
    "gbml.beyond": "Beyond the theorem (gbml.beyond)",
    "gbml.reproduce": "Reproducing the paper (gbml.reproduce)",
    "gbml.plotting": "Plotting (gbml.plotting)",
    "gbml.widgets": "Explorers (gbml.widgets)",
    "gbml.exercises": "Exercise checkers (gbml.exercises)",
    "gbml.book": "Book helpers (gbml.book)",
}


@dataclass
class ApiEntry:
    """One documented public name."""

    qualname: str   # the name readers use, e.g. "gbml.train" or "gbml.plotting.figure"
    module: str     # the module that defines it, e.g. "gbml.training"
    kind: str       # autodoc directive: "function", "class", "exception" or "data"
    obj: object


def _kind(obj):
    if inspect.isclass(obj):
        return "exception" if issubclass(obj, BaseException) else "class"
    if callable(obj):
        return "function"
    return "data"


def _defining_module(pkg, name, obj):
    module = getattr(obj, "__module__", None) if (inspect.isclass(obj) or inspect.isroutine(obj)) else None
    if module and module.startswith(pkg.__name__ + "."):
        return module
    for info in pkgutil.iter_modules(pkg.__path__):  # data: the submodule that lists it
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        if name in getattr(mod, "__all__", ()) and getattr(mod, name, None) is obj:
            return mod.__name__
    return pkg.__name__


def _public_names(module):
    """``__all__`` plus public functions and classes defined in the module (checkers appended later)."""
    names = list(getattr(module, "__all__", []))
    for name, obj in vars(module).items():
        if (not name.startswith("_") and name not in names and (inspect.isroutine(obj) or inspect.isclass(obj))
                and getattr(obj, "__module__", None) == module.__name__):
            names.append(name)
    return names


def public_api(package: str = "gbml") -> list[ApiEntry]:
    """Every public name: the package's ``__all__`` (as ``gbml.name``) and the public names of each public
    submodule that ``__all__`` does not re-export (as ``gbml.sub.name``), e.g. ``gbml.plotting.figure``."""
    pkg = importlib.import_module(package)
    entries, seen = [], set()
    for name in pkg.__all__:
        if name.startswith("__"):
            continue
        obj = getattr(pkg, name)
        entries.append(ApiEntry(f"{package}.{name}", _defining_module(pkg, name, obj), _kind(obj), obj))
        seen.add(id(obj))
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{package}.{info.name}")
        names = [n for n in _public_names(mod) if id(getattr(mod, n)) not in seen]
        if names and all(n in pkg.__all__ for n in getattr(mod, "__all__", [])):
            continue  # a core module: everything it exports is documented at the top level
        for name in names:
            obj = getattr(mod, name)
            entries.append(ApiEntry(f"{mod.__name__}.{name}", mod.__name__, _kind(obj), obj))
            seen.add(id(obj))
    order = list(SECTIONS)
    entries.sort(key=lambda e: order.index(e.module) if e.module in order else len(order))
    return entries


def _code_cells(path: Path):
    """Source of each code cell, and the text of the markdown cells, of a MyST notebook or markdown file."""
    import jupytext

    text = path.read_text(encoding="utf-8")
    if not (text.startswith("---") and "jupytext:" in text[:2000]):
        return [], text
    nb = jupytext.reads(text, fmt="md:myst")
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return code, prose


def _dotted(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def used_names(source: str, aliases: dict | None = None, package: str = "gbml") -> set[str]:
    """Dotted names under ``package`` that a piece of Python code uses, with import aliases resolved.

    ``import gbml``, ``import gbml as g``, ``from gbml import plotting`` and ``from gbml.book import
    glue`` are all followed, so ``g.train(...)``, ``plotting.figure()`` and ``glue(...)`` give
    ``gbml.train``, ``gbml.plotting.figure`` and ``gbml.book.glue``.  Pass the same ``aliases`` dict for
    the cells of one notebook in order: imports of an earlier cell hold in later ones.  Cells that are
    not valid Python (magics) fall back to a text search for ``gbml.<name>``.
    """
    aliases = {package: package} if aliases is None else aliases
    aliases.setdefault(package, package)
    cleaned = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())
    try:
        tree = ast.parse(cleaned)
    except SyntaxError:
        return set(re.findall(rf"\b{package}(?:\.\w+)+", source))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == package or a.name.startswith(package + "."):
                    aliases[a.asname or package] = a.name if a.asname else package
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                (node.module == package or node.module.startswith(package + ".")):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                found.add(f"{node.module}.{a.name}")
    for node in ast.walk(tree):
        if isinstance(node, (ast.Attribute, ast.Name)):
            name = _dotted(node)
            if name:
                head, _, rest = name.partition(".")
                if head in aliases:
                    found.add(aliases[head] + ("." + rest if rest else ""))
    return found - {package}


def _resolve(dotted, by_name, by_id):
    """The documented qualname a dotted name refers to (longest documented prefix), or None."""
    parts = dotted.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in by_name:
            return prefix
    obj = None
    try:  # e.g. gbml.geometry.subspace_distance is documented as gbml.subspace_distance
        obj = importlib.import_module(parts[0])
        best = None
        for part in parts[1:]:
            obj = getattr(obj, part)
            if (inspect.isroutine(obj) or inspect.isclass(obj)) and id(obj) in by_id:
                best = by_id[id(obj)]
        return best
    except (ImportError, AttributeError):
        return None


def api_usage(root: Path = ROOT, entries: list[ApiEntry] | None = None) -> dict[str, list[str]]:
    """Map each documented qualname to the docnames (reading order) of the pages whose code uses it.

    Code cells are parsed (:func:`used_names`); in the prose, explicit ``gbml.<name>`` mentions count too.
    """
    entries = public_api() if entries is None else entries
    by_name = {e.qualname: e for e in entries}
    by_id = {id(e.obj): e.qualname for e in entries if inspect.isroutine(e.obj) or inspect.isclass(e.obj)}
    usage = {e.qualname: [] for e in entries}
    for docname, path in chapter_sources(root):
        code, prose = _code_cells(path)
        names = set(re.findall(r"\bgbml(?:\.\w+)+", prose))
        aliases = {}
        for cell in code:
            names |= used_names(cell, aliases)
        for dotted in names:
            qual = _resolve(dotted, by_name, by_id)
            if qual and docname not in usage[qual]:
                usage[qual].append(docname)
    return usage


def _summary(module):
    doc = inspect.getdoc(importlib.import_module(module)) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return re.sub(r":\w+:`~?([^`]+)`", r"`\1`", first).replace("``", "`")


def _attr_doc(module, name):
    """The ``#:`` doc comment of a module-level name (Sphinx's own parser), or an empty list."""
    from sphinx.pycode import ModuleAnalyzer

    try:
        return list(ModuleAnalyzer.for_module(module).find_attr_docs().get(("", name), []))
    except Exception:  # no source available: document the name without text
        return []


def render_api(entries: list[ApiEntry], usage: dict[str, list[str]], version: str) -> str:
    """The markdown of ``chapters/api.md``: autodoc directives and "Used in" links."""
    out = [
        "% Generated by tools/exercise_index.py from gbml's docstrings and the chapters' code: do not edit.",
        "",
        "(api-reference)=",
        "# API reference",
        "",
        f"Every public function and class of `gbml` (version {version}), the package behind every figure "
        "of this book, documented from its docstrings. Import it as `import gbml`; the distribution is "
        "installed with the book (`make book` or `pip install -e .` in the repository), never with "
        "`pip install gbml`, a name that belongs to an unrelated project. Array shapes are given in each "
        "docstring; every random draw takes an `rng` argument (an int seed or a `numpy.random.Generator`). "
        "*Used in* lists the pages whose code calls the name.",
        "",
    ]
    current = None
    for e in entries:
        if e.module != current:
            current = e.module
            out += [f"## {SECTIONS.get(current, current)}", "", f"*Module `{current}`.* {_summary(current)}", ""]
        # Docstrings are reStructuredText (numpydoc, read by napoleon): eval-rst keeps MyST from parsing them.
        # The directive's content ("Used in") is placed after the docstring, before a class's members.
        pages = usage.get(e.qualname, [])
        used = ["", "   *Used in:* " + ", ".join(f":doc:`/{p}`" for p in pages)] if pages else []
        if e.kind == "data":  # the ``#:`` comment above the assignment in the defining module, no value
            doc = _attr_doc(e.module, e.qualname.rsplit(".", 1)[1])
            out += ["```{eval-rst}", f".. py:data:: {e.qualname}", ""] + [f"   {line}" for line in doc] + used
        else:
            options = ["   :members:"] if e.kind == "class" else []
            out += ["```{eval-rst}", f".. auto{e.kind}:: {e.qualname}"] + options + used
        out += ["```", ""]
    return "\n".join(out).rstrip() + "\n"


# -- writing -------------------------------------------------------------------------------------

def _write(path: Path, text: str) -> bool:
    """Write only if the content changed (keeps Sphinx's incremental build quiet); True if written."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def generate(root: Path = ROOT, *, check: bool = False) -> list[Path]:
    """Validate every chapter and write ``chapters/exercises.md`` and ``chapters/api.md`` under ``root``.

    With ``check=True`` nothing is written.  Returns the paths written.  Raises
    :class:`ExerciseMetadataError` on a missing or malformed exercise metadata line, or on an exercise
    that the student edition would delete with the solution before it (:func:`check_student_cells`).
    """
    root = Path(root)
    chapters = collect(root)
    for chapter in chapters:
        check_student_cells(chapter, root)
    if check:
        return []
    import gbml

    entries = public_api()
    written = []
    pages = {EXERCISE_PAGE: render_exercises(chapters),
             API_PAGE: render_api(entries, api_usage(root, entries), gbml.__version__)}
    for docname, text in pages.items():
        path = root / f"{docname}.md"
        if _write(path, text):
            written.append(path)
    return written


def on_builder_inited(app):
    """Sphinx ``builder-inited`` handler: regenerate both pages in the source folder before reading."""
    from sphinx.errors import ExtensionError

    try:
        generate(Path(app.srcdir))
    except ExerciseMetadataError as err:
        raise ExtensionError(f"exercise index: {err}") from None


def setup(app):
    """Use this file as a Sphinx extension (``_config.yml``: ``sphinx.local_extensions``)."""
    app.connect("builder-inited", on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", nargs="?", default=str(ROOT), help="book folder (holds _toc.yml)")
    parser.add_argument("--check", action="store_true", help="only validate the exercise metadata")
    args = parser.parse_args(argv)
    try:
        written = generate(Path(args.root), check=args.check)
    except ExerciseMetadataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
