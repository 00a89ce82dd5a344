"""Helpers for chapters that must also run as plain notebooks outside the book build."""
from __future__ import annotations

import base64
import html
import os

__all__ = ["glue", "show_figure", "show_source"]


def glue(name: str, value, display: bool = False):
    """Record ``value`` (a number; numpy scalars are converted) under ``name`` for ``{glue:text}`name```,
    in the book's build only (``GBML_BOOK_BUILD=1``): a chapter run as a notebook shows no stray outputs."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if os.environ.get("GBML_BOOK_BUILD") != "1":
        return
    from myst_nb import glue as _glue

    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars print as np.float64(...), which {glue:text} cannot format
    _glue(name, value, display=display)


def show_figure(fig, alt: str):
    """Show a matplotlib figure as a PNG image whose alt text is ``alt`` (formatted from the figure's values:
    myst-nb reads alt text only from cell metadata, where numbers would drift), and close it."""
    import matplotlib.pyplot as plt

    if not isinstance(alt, str) or not alt.strip():
        raise ValueError(f"alt must be a non-empty description of the figure, got {alt!r}")
    try:
        from IPython.core.pylabtools import print_figure
        from IPython.display import HTML, display
    except ImportError:  # plain Python: nothing to show
        plt.close(fig)
        return
    png = print_figure(fig, fmt="png", bbox_inches="tight")
    plt.close(fig)
    display(HTML(img_html(png, alt)))


def img_html(png: bytes, alt: str, css_class: str | None = None) -> str:
    """An ``<img>`` of PNG bytes with alt text, at most as wide as its container."""
    data = base64.b64encode(png).decode("ascii")
    attrs = f'class="{css_class}" ' if css_class else ""
    return (f'<img {attrs}src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
            'style="max-width:100%;height:auto">')


def show_source(*routines):
    """Show the source of ``routines`` (functions of ``gbml``) as one Python listing, each from its ``def``
    (decorators left out), read from its module's file: ``inspect.getsource`` would show the guard of a
    reference routine (``gbml._guard``)."""
    import ast
    import importlib
    import inspect

    parts = []
    for routine in routines:
        name, module = getattr(routine, "__name__", None), getattr(routine, "__module__", None)
        if not (callable(routine) and name and module):
            raise ValueError(f"routines must be functions of gbml, got {routine!r}")
        text = inspect.getsource(importlib.import_module(module))
        found = [node for node in ast.parse(text).body if isinstance(node, ast.FunctionDef) and node.name == name]
        if not found:
            raise ValueError(f"{module} defines no top-level function {name!r}")
        lines = text.splitlines()
        parts.append("\n".join(lines[found[0].lineno - 1:found[0].end_lineno]))
    listing = "```python\n" + "\n\n".join(parts) + "\n```"
    try:
        from IPython.display import Markdown, display
    except ImportError:  # plain Python: print it
        print(listing)
        return
    display(Markdown(listing))
