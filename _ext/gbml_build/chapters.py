"""Read a chapter's exercises with the MyST parser: :func:`read_chapter` is the one way to do it.

myst-parser's markdown-it parser, with the book's extensions, keeps code and math opaque and gives MyST
comments with their lines.  Each exercise has the metadata line ``% exercise: kind=…; minutes=…;
objective=…`` directly above its directive (CONTRIBUTING.md); ``objective`` numbers an item of the
chapter's "Learning objectives" admonition.  A missing or malformed line is an
:class:`ExerciseMetadataError` naming the file, the line and the exercise.  A title starting with
``Challenge:`` makes the exercise's level ``challenge`` (else ``core``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from docutils.parsers.rst.directives.admonitions import Admonition
from docutils.parsers.rst.directives.misc import TestDirective
from docutils.parsers.rst.states import MarkupError
from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.directives import parse_directive_text
from myst_parser.parsers.mdit import create_md_parser
from sphinx_exercise.directive import ExerciseDirective, ExerciseStartDirective

from .booktoc import ROOT, chapter_sources, is_notebook

#: The values of ``kind=``.
KINDS = ("proof", "computation", "coding")
METADATA_EXAMPLE = "% exercise: kind=proof; minutes=15; objective=2"
HOW_TO = (f"Write the line directly above the directive as `{METADATA_EXAMPLE}` (kind: {', '.join(KINDS)}; "
          "see CONTRIBUTING.md).")
CHALLENGE_PREFIX = "Challenge:"  # a title starting with it marks a challenge exercise
#: The MyST extensions of ``_config.yml`` that change how blocks are read.
EXTENSIONS = {"amsmath", "colon_fence", "dollarmath", "deflist", "substitution"}
# Directive bodies that are not MyST (nothing inside them can open a directive).
LITERAL = {"code-cell", "code", "code-block", "sourcecode", "math", "literalinclude", "raw", "eval-rst",
           "glue:math"}
# The directives whose options are read, with their own option specifications; any other directive's
# body is read with docutils' TestDirective, which myst-parser lets take any option.
DIRECTIVES = {"exercise": ExerciseDirective, "exercise-start": ExerciseStartDirective, "admonition": Admonition}

_PARSER = create_md_parser(MdParserConfig(enable_extensions=EXTENSIONS), RendererHTML)


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
    level: str = "core"   # "challenge" when the title starts with CHALLENGE_PREFIX (see :func:`level_of`)


@dataclass
class Chapter:
    """What the index needs from one chapter file."""

    docname: str
    path: Path
    title: str
    objectives: list = field(default_factory=list)   # objective texts, objective n is objectives[n - 1]
    exercises: list = field(default_factory=list)


@dataclass
class _Directive:
    name: str
    argument: str
    options: dict
    body: list        # lines after the options
    body_line: int    # 0-based line of the body's first line in the file


def _directive(token, line):
    """The directive a fence token opens (``{name} argument``), options read by its parser; else None."""
    info = token.info.strip()
    if token.type not in ("fence", "colon_fence") or not info.startswith("{") or "}" not in info:
        return None
    name, argument = info[1:].split("}", 1)
    try:
        parsed = parse_directive_text(DIRECTIVES.get(name, TestDirective), argument.strip(), token.content)
    except MarkupError:  # e.g. an admonition without a title: Sphinx reports it, read it anyway
        parsed = parse_directive_text(TestDirective, argument.strip(), token.content)
    return _Directive(name, argument.strip(), parsed.options, parsed.body, line + 1 + parsed.body_offset)


def _blocks(text, offset=0):
    """``(token, line, directive)`` for every block token of MyST ``text`` and, recursively, of the MyST
    bodies of its directives; ``line`` is the token's 0-based line in the file, ``directive`` a
    :class:`_Directive` or None.  The bodies of code, math and raw directives are not read."""
    for token in _PARSER.parse(text):
        if token.map is None:
            continue
        line = offset + token.map[0]
        directive = _directive(token, line)
        yield token, line, directive
        if directive and directive.name not in LITERAL:
            yield from _blocks("\n".join(directive.body), directive.body_line)


def _objectives(body):
    """The items of the numbered lists of a "Learning objectives" admonition (first paragraph each)."""
    items = []
    for node in SyntaxTreeNode(_PARSER.parse("\n".join(body))).children:
        if node.type == "ordered_list":
            for item in node.children:
                first = item.children[0] if item.children else None
                text = first.children[0].content if first is not None and first.type == "paragraph" else ""
                items.append(" ".join(line.strip() for line in text.splitlines()).rstrip(" ;,."))
    return items


def _metadata_lines(token, line):
    """``{line: text}`` of the ``% exercise: ...`` lines of a MyST comment token (text after the colon)."""
    found = {}
    if token.type == "myst_line_comment":
        for j, comment in enumerate(token.content.splitlines()):
            key, sep, rest = comment.partition(":")
            if sep and key.strip() == "exercise":
                found[line + j] = rest
    return found


def level_of(title: str) -> str:
    """``"challenge"`` for a title starting with ``Challenge:`` (any case), ``"core"`` otherwise."""
    return "challenge" if title.strip().lower().startswith(CHALLENGE_PREFIX.lower()) else "core"


def _at(path, root, line):
    return f"{path.relative_to(root) if path.is_relative_to(root) else path}:{line}"


def _where(docname, path, root, line, label):
    return f"{_at(path, root, line)}: exercise '{label}' (chapter {docname})"


def _whole(text):
    return text.isascii() and text.isdigit()


def parse_metadata(text, *, where, n_objectives):
    """``kind=proof; minutes=15; objective=2`` -> (kind, minutes, objectives) or ExerciseMetadataError."""
    def fail(problem):
        raise ExerciseMetadataError(f"{where}: {problem}. {HOW_TO}")

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
    if not _whole(fields["minutes"]) or int(fields["minutes"]) < 1:
        fail(f"minutes must be a positive whole number, got '{fields['minutes']}'")
    numbers = [n.strip() for n in fields["objective"].split(",")]
    if not all(_whole(n) for n in numbers):
        fail(f"objective must be the number of a learning objective (e.g. 2, or 2,3), got '{fields['objective']}'")
    if n_objectives == 0:
        fail("the chapter has no numbered list in a 'Learning objectives' admonition for objective= to refer to")
    bad = [n for n in numbers if not 1 <= int(n) <= n_objectives]
    if bad:
        fail(f"objective {', '.join(bad)} does not exist: the chapter's learning objectives are numbered "
             f"1 to {n_objectives}")
    return kind, int(fields["minutes"]), tuple(int(n) for n in numbers)


def read_chapter(path: Path, docname: str, root: Path = ROOT) -> Chapter:
    """Parse one chapter: title, learning objectives and every exercise with validated metadata; an
    :class:`ExerciseMetadataError` on an exercise without a label or a (well-formed) metadata line directly
    above it, or on a metadata line not directly above an exercise."""
    path, root = Path(path), Path(root)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    blocks = list(_blocks(text))
    title, objectives, metadata, exercises = None, None, {}, []
    for i, (token, line, directive) in enumerate(blocks):
        metadata.update(_metadata_lines(token, line))
        if title is None and token.type == "heading_open" and token.tag == "h1":
            title = blocks[i + 1][0].content
        if directive is None:
            continue
        if directive.name == "admonition" and objectives is None \
                and directive.argument.lower().startswith("learning objectives"):
            objectives = _objectives(directive.body)
        elif directive.name in ("exercise", "exercise-start"):
            exercises.append((line, directive))
    chapter = Chapter(docname, path, title or docname, objectives or [])
    for line, directive in exercises:
        label = directive.options.get("label")
        if not label:
            raise ExerciseMetadataError(
                f"{_where(docname, path, root, line + 1, directive.argument or '(untitled)')}: the exercise has no "
                ":label:. Give it one (e.g. `:label: ex-lr-proof`) so the index can link to it.")
        where = _where(docname, path, root, line + 1, label)
        if line - 1 not in metadata:
            found = " (a blank line separates it from the metadata line above)" \
                if line - 2 in metadata and not lines[line - 1].strip() else ""
            raise ExerciseMetadataError(f"{where}: the metadata line is missing{found}. {HOW_TO}")
        kind, minutes, numbers = parse_metadata(metadata.pop(line - 1), where=where,
                                                n_objectives=len(chapter.objectives))
        chapter.exercises.append(Exercise(
            docname, label, directive.argument, kind, minutes, numbers,
            tuple(chapter.objectives[n - 1] for n in numbers), line + 1, level_of(directive.argument)))
    if metadata:
        line = min(metadata)
        raise ExerciseMetadataError(
            f"{_at(path, root, line + 1)}: an exercise metadata line (chapter {docname}) is not directly above "
            "an exercise directive; move it to the line just above `:::{exercise}`.")
    return chapter


def check_student_cells(chapter: Chapter, root: Path = ROOT) -> None:
    """Raise if an exercise statement sits in a markdown cell tagged ``solution`` (which lasts until the next
    ``+++`` or code cell): the student edition would delete it with the solution."""
    if not chapter.exercises or not is_notebook(chapter.path):
        return
    tokens = [t for t in _PARSER.parse(chapter.path.read_text(encoding="utf-8")) if t.map and t.level == 0]
    for e in chapter.exercises:
        tags = []
        for token in tokens:
            if token.map[0] >= e.line - 1:
                break
            if token.type == "myst_block_break":
                tags = json.loads(token.content or "{}").get("tags", [])
            elif token.type == "fence" and token.info.startswith(("{code-cell}", "{raw-cell}")):
                tags = []
        if "solution" in tags:
            raise ExerciseMetadataError(
                f"{_where(chapter.docname, chapter.path, Path(root), e.line, e.label)}: the exercise is in "
                "the same notebook cell as the solution above it (a markdown cell tagged `solution` lasts "
                "until the next `+++` line), so the student edition would delete the exercise with that "
                "solution. End the solution's cell: put a line `+++` (then a blank line) above the "
                "exercise's metadata line.")


def collect(root: Path = ROOT) -> list[Chapter]:
    """Every chapter of the table of contents (generated pages excluded), parsed, in reading order."""
    return [read_chapter(path, docname, root) for docname, path in chapter_sources(root)]
