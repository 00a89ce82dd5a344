"""The API page's "Used in": which pages of the book use each documented name of ``gbml``.

``chapters/api.md`` is written by hand with ``automodule``; autodoc writes the entries and
:func:`add_used_in` (an ``autodoc-process-docstring`` handler) appends to each module-level name the pages
whose code uses it.  Usage is found by parsing the code cells (:func:`used_names` follows imports such as
``from gbml import beyond`` or ``from gbml.book import glue, plotting``) and explicit ``gbml.<name>`` mentions in
the prose.
"""
from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import jupytext

from .booktoc import ROOT, chapter_sources, is_notebook

#: autodoc's kinds of module-level names, the entries that get "Used in".
MODULE_LEVEL = ("function", "class", "exception", "data")


def _code_cells(path: Path):
    """Source of each code cell, and the text of the markdown cells, of a MyST notebook or markdown file."""
    text = path.read_text(encoding="utf-8")
    if not is_notebook(path):
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

    ``import gbml``, ``import gbml as g``, ``from gbml.book import plotting`` and ``from gbml.book import
    glue`` are all followed, so ``g.train(...)``, ``plotting.figure()`` and ``glue(...)`` give
    ``gbml.train``, ``gbml.book.plotting.figure`` and ``gbml.book.glue``.  Pass the same ``aliases`` dict for
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


def _key(dotted: str) -> str | None:
    """What a dotted name under ``gbml`` refers to, as the key of :func:`page_usage`: the name right after
    the last module in it (``gbml.Problem.init`` is ``gbml.Problem``).  A function or class is keyed by
    its defining module (``gbml.subspace_distance`` and ``gbml.geometry.subspace_distance`` are one
    object), anything else by the dotted name itself; None for a module or a name that does not exist."""
    parts = dotted.split(".")
    try:
        obj = importlib.import_module(parts[0])
    except ImportError:
        return None
    n = 1
    while n < len(parts) and inspect.ismodule(obj):
        n += 1
        try:
            obj = getattr(obj, parts[n - 1])
        except AttributeError:  # a submodule not imported yet, or no such name
            try:
                obj = importlib.import_module(".".join(parts[:n]))
            except ImportError:
                return None
    if inspect.ismodule(obj):
        return None
    if inspect.isroutine(obj) or inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    return ".".join(parts[:n])


def page_usage(root: Path = ROOT) -> dict[str, list[str]]:
    """Map each used name (keyed as :func:`_key`) to the docnames (reading order) of the pages using it."""
    usage = {}
    for docname, path in chapter_sources(root):
        code, prose = _code_cells(path)
        names = set(re.findall(r"\bgbml(?:\.\w+)+", prose))
        aliases = {}
        for cell in code:
            names |= used_names(cell, aliases)
        for key in {_key(dotted) for dotted in names} - {None}:
            usage.setdefault(key, []).append(docname)
    return usage


def used_in(usage: dict[str, list[str]], name: str) -> list[str]:
    """The pages that use the documented name ``name`` (e.g. ``gbml.train``, ``gbml.book.plotting.figure``)."""
    return usage.get(_key(name), [])


def drop_type_docstring(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``, before napoleon: a constant without a ``#:`` doc comment gets its
    type's docstring (``dict() -> new empty dictionary``...), which says nothing about it: drop it."""
    type_doc = getattr(type(obj), "__doc__", None) if what == "data" else None
    first = type_doc.strip().splitlines()[:1] if isinstance(type_doc, str) else []
    if first and lines[:1] == first:
        lines.clear()


def add_used_in(app, what, name, obj, options, lines):
    """``autodoc-process-docstring``: a module keeps the first paragraph of its docstring (the rest is
    written for developers); a module-level name gets "Used in", the pages whose code uses it."""
    if what == "module" and "" in lines:
        del lines[lines.index(""):]
    elif what in MODULE_LEVEL:
        pages = used_in(app.env.gbml_usage, name)
        if pages:
            lines += ["", "*Used in:* " + ", ".join(f":doc:`/{page}`" for page in pages)]


def on_builder_inited(app):
    """Find the usage once per build, from the pages in the source folder."""
    app.env.gbml_usage = page_usage(Path(app.srcdir))
