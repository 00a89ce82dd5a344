"""Sphinx glue for this book (loaded through ``_config.yml``: ``sphinx.local_extensions``).

* Runs every explorer in its *static* mode during the build: ``gbml.widgets`` reads
  ``GBML_EXPLORER=static`` (kernels inherit this process's environment) and precomputes frames
  that JavaScript links to the controls, so the rendered page works without a kernel.
* Offers every notebook page as a download: the ``.ipynb`` is generated with jupytext from the
  page's own MyST source (no outputs, runs top to bottom) into ``_notebooks/`` of the output, and a
  header button links to it.  Page sources (``_sources``) are not copied (``html_copy_source: false``),
  so the notebook is the only source a reader can download.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import jupytext


def _is_notebook(path: Path) -> bool:
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head


def _add_notebook_download(app, pagename, templatename, context, doctree):
    if doctree is None or app.builder.format != "html":
        return
    source = Path(app.env.doc2path(pagename))
    if not _is_notebook(source):
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


def _accessibility_config(app, config):
    """a11y.css (contrast, visible focus) and template overrides of two theme buttons (_ext/templates)."""
    config.html_static_path.append(str(_HERE / "static"))
    config.templates_path.insert(0, str(_HERE / "templates"))


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


def setup(app):
    app.connect("config-inited", _static_explorers)
    app.connect("config-inited", _accessibility_config)
    app.add_css_file("a11y.css")
    app.connect("html-page-context", _accessible_markup)
    app.connect("html-page-context", _add_notebook_download, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
