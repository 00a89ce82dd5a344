"""Sphinx glue for this book (loaded through ``_config.yml``: ``sphinx.local_extensions``).

* Runs every explorer in its *static* mode during the build: ``gbml.widgets`` reads
  ``GBML_EXPLORER=static`` (kernels inherit this process's environment) and precomputes frames
  that JavaScript links to the controls, so the rendered page works without a kernel.
* Offers every notebook page as a download: the ``.ipynb`` is generated with jupytext from the
  page's own MyST source (no outputs, runs top to bottom) into ``_notebooks/`` of the output, and a
  header button links to it.  Page sources (``_sources``) are not copied (``html_copy_source: false``),
  so the notebook is the only source a reader can download.
* Serves the book's stylesheet, favicon and a MathJax 2 shim from ``_ext/static/`` (not a root
  ``_static/``: Jupyter Book 1.x would inject every script found there into every page).
* Switches sphinx-thebe off: Jupyter Book loads it unconditionally, the book has no live kernel to
  offer, and its inline script declares ``THEBE_JS_URL`` twice per page (a console error).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext
from gbml_build.booktoc import is_notebook


def _add_notebook_download(app, pagename, templatename, context, doctree):
    if doctree is None or app.builder.format != "html":
        return
    source = Path(app.env.doc2path(pagename))
    if not is_notebook(source):
        return
    target = Path(app.outdir) / "_notebooks" / f"{pagename}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nb = jupytext.read(source)
    nb.metadata.pop("jupytext", None)
    jupytext.write(nb, target, fmt="ipynb")
    url = context["pathto"](f"_notebooks/{pagename}.ipynb", 1)
    context["gbml_notebook_url"] = url
    buttons = context.setdefault("header_buttons", [])
    buttons.insert(0, {
        "type": "link",
        "url": url,
        "tooltip": "Download this chapter as a Jupyter notebook (.ipynb)",
        "icon": "fas fa-download",
        "label": "download-notebook-button",
        "text": "",
    })


_HERE = Path(__file__).resolve().parent


_FOLD_SUMMARY = '<summary aria-label="Toggle hidden content">'
_BIBLIOENTRY = re.compile(r'(<div class="citation" id="[^"]*") role="doc-biblioentry">')


def _accessible_markup(app, pagename, templatename, context, doctree):
    """Two fixes of generated markup that axe-core reports and no option turns off:

    * myst-nb names every code fold "Toggle hidden content" while it shows "Show code cell source":
      drop the aria-label so the visible text is the name (label-content-name-mismatch);
    * docutils marks bibliography entries role="doc-biblioentry", a deprecated role not allowed in the
      role="list" around them (aria-required-children, critical): they are list items.
    """
    body = context.get("body")
    if body:
        body = body.replace(_FOLD_SUMMARY, "<summary>")
        context["body"] = _BIBLIOENTRY.sub(r'\1 role="listitem">', body)


def _static_explorers(app, config):
    os.environ["GBML_EXPLORER"] = "static"
    os.environ["GBML_BOOK_BUILD"] = "1"  # gbml.book.glue records values only in this build


STATIC = _HERE / "static"


def _static_files(app, config):
    """_ext/static (book.css, a11y.css, the shim, the favicon) and the theme-button templates (_ext/templates)."""
    config.html_static_path.append(str(STATIC))
    config.templates_path.insert(0, str(_HERE / "templates"))


def _drop_thebe(app, config):
    for listeners in app.events.listeners.values():
        for listener in list(listeners):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)
    app.registry.css_files = [c for c in app.registry.css_files if c[0] != "sphinx-thebe.css"]


def setup(app):
    app.connect("config-inited", _static_explorers)
    app.connect("config-inited", _static_files)
    app.connect("config-inited", _drop_thebe)
    app.add_css_file("book.css")
    app.add_js_file("mathjax2-shim.js")
    app.add_css_file("a11y.css")
    app.connect("html-page-context", _accessible_markup)
    app.connect("html-page-context", _add_notebook_download, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
