"""The API page's "Used in": which pages of the book use each documented name of ``gbml``.

:func:`add_used_in` (``autodoc-process-docstring``) appends to each module-level entry of
``chapters/api.md`` the pages whose code cells use it (imports followed, :func:`used_names`) or whose
prose mentions ``gbml.<name>``.
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
    """The code cells' sources and the Markdown text of a MyST notebook (or Markdown file)."""
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
    """Dotted names under ``package`` that Python ``source`` uses, imports followed (``import gbml as g;
    g.train()`` gives ``gbml.train``); ``aliases``, shared by a notebook's cells in order, carries imports
    to later cells.  Code that does not parse is searched for ``gbml.<name>``."""
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
    """The object a dotted name under ``gbml`` names, up to the name after its last module
    (``gbml.Problem.init``: ``gbml.Problem``), keyed by its defining module for a function or class; None
    for a module or a name that does not exist."""
    parts = dotted.split(".")
    for n in range(len(parts) - 1, 0, -1):  # the longest prefix that is a module
        try:
            module = importlib.import_module(".".join(parts[:n]))
        except ImportError:
            continue
        obj = getattr(module, parts[n], module)  # no such name: the module, hence None
        if inspect.ismodule(obj):
            return None
        if inspect.isroutine(obj) or inspect.isclass(obj):
            return f"{obj.__module__}.{obj.__qualname__}"
        return ".".join(parts[:n + 1])
    return None


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
    """``autodoc-process-docstring``: drop the type's docstring a constant without a ``#:`` comment gets."""
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
