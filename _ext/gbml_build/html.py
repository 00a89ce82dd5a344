"""What the HTML book adds to Sphinx: explorers run in their static mode (no kernel needed), the notebook
edition served (a download button per page, the ``{course-packs}`` directive; the student book,
``GBML_EDITION=student``, serves the student edition), the stylesheets and MathJax 2 shim of
``_ext/static/``, sphinx-thebe switched off (no live kernel; it would declare a script twice per page),
two accessibility fixes, and for publishing (``make site``) the licence footer, ``html_baseurl`` and a
Colab button opening the page's notebook on the branch ``COLAB_BRANCH``.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

from . import notebooks
from .booktoc import baseurl


def _edition() -> str:
    """The edition this book serves: "full" or "student"."""
    edition = os.environ.get("GBML_EDITION", "full")
    if edition not in ("full", "student"):
        raise ValueError(f"GBML_EDITION must be 'full' or 'student', got {edition!r}")
    return edition


_PACK_TEXT = {"course-pack.zip": "full edition: every solution folded under its exercise",
              "course-pack-student.zip": "student edition: exercises without solutions"}


def _add_notebook_download(app, pagename, templatename, context, doctree):
    if doctree is None or app.builder.format != "html" or pagename not in notebooks.pages():
        return
    url = context["pathto"](f"_notebooks/{pagename}.ipynb", 1)
    context["gbml_notebook_url"] = url
    buttons = context.setdefault("header_buttons", [])
    buttons.insert(0, {"type": "link", "url": url, "icon": "fas fa-download", "text": "",
                       "label": "download-notebook-button",
                       "tooltip": "Download this page as a Jupyter notebook (.ipynb)"})


class CoursePacks(SphinxDirective):
    """``{course-packs}``: a list linking the course packs this edition serves (``packs/``)."""

    def run(self):
        up = "../" * self.env.docname.count("/")
        links = [(name, f"{up}packs/{name}", _PACK_TEXT[name]) for name in notebooks.PACKS[_edition()]]
        online = baseurl()
        if online:  # the published site (make site) also serves the PDF edition, under pdf/
            pdfs = {"book.pdf": "the PDF of this book, with the solutions"} if _edition() == "full" else {}
            pdfs["book-student.pdf"] = "the PDF of the student edition"
            links += [(name, f"{online}/pdf/{name}", what) for name, what in pdfs.items()]
        items = nodes.bullet_list()
        for name, url, what in links:
            link = nodes.reference("", name, refuri=url, internal=False)
            items += nodes.list_item("", nodes.paragraph("", "", link, nodes.Text(f": {what}.")))
        return [items]


_EXT = Path(__file__).resolve().parents[1]  # _ext/: static/ and templates/
_FOLD_SUMMARY = '<summary aria-label="Toggle hidden content">'
_BIBLIOENTRY = re.compile(r'(<div class="citation" id="[^"]*") role="doc-biblioentry">')


def _accessible_markup(app, pagename, templatename, context, doctree):
    """Two fixes axe-core asks for that no option gives: a code fold's name is its visible text (myst-nb's
    aria-label differs), and bibliography entries are list items (not the deprecated doc-biblioentry)."""
    body = context.get("body")
    if body:
        body = body.replace(_FOLD_SUMMARY, "<summary>")
        context["body"] = _BIBLIOENTRY.sub(r'\1 role="listitem">', body)


def _configure(app, config):
    """Explorers in their static mode, ``_ext/static`` and ``_ext/templates`` served, sphinx-thebe off."""
    os.environ["GBML_EXPLORER"] = "static"
    os.environ["GBML_BOOK_BUILD"] = "1"  # gbml.book.glue records values only in this build
    config.html_static_path.append(str(_EXT / "static"))  # book.css, a11y.css, the shim, the favicon
    config.templates_path.insert(0, str(_EXT / "templates"))  # the theme's buttons
    for listeners in app.events.listeners.values():
        for listener in list(listeners):
            if getattr(listener.handler, "__module__", "").startswith("sphinx_thebe"):
                app.disconnect(listener.id)
    app.registry.css_files = [c for c in app.registry.css_files if c[0] != "sphinx-thebe.css"]


#: The branch where .github/workflows/pages.yml publishes the notebook edition ({full,student}/*.ipynb).
COLAB_BRANCH = "notebooks"

FOOTER = ('<p class="gbml-licence">Text and figures: <a href="https://creativecommons.org/licenses/by/4.0/">'
          'CC BY 4.0</a>. Code (the <code>gbml</code> package and the code cells): '
          '<a href="https://opensource.org/license/mit">MIT</a>. '
          'Built with <code>gbml</code> {version}.</p>')


def _publishing(app, config):
    import gbml

    options = config.html_theme_options
    options["extra_footer"] = FOOTER.format(version=gbml.__version__)
    online = baseurl()
    if online:
        config.html_baseurl = online + ("/student/" if _edition() == "student" else "/")
    launch = options.get("launch_buttons") or {}
    if launch.get("colab_url") and not options.get("repository_url"):
        options["launch_buttons"] = {**launch, "colab_url": ""}  # the theme needs a repository for it


def _colab_button(app, pagename, templatename, context, doctree):
    """Point the theme's Colab button at the page's notebook on ``COLAB_BRANCH`` (or drop it: a page
    outside the notebook edition has none)."""
    def walk(buttons):
        for button in list(buttons):
            if button.get("text") == "Colab":
                if pagename in notebooks.pages():
                    options = app.config.html_theme_options
                    owner_repo = "/".join(options["repository_url"].rstrip("/").split("/")[-2:])
                    colab = options["launch_buttons"]["colab_url"].rstrip("/")
                    button["url"] = (f"{colab}/github/{owner_repo}/blob/{COLAB_BRANCH}/"
                                     f"{_edition()}/{Path(pagename).name}.ipynb")
                else:
                    buttons.remove(button)
            walk(button.get("buttons", []))
        for button in list(buttons):  # a launch menu left empty
            if button.get("type") == "group" and "buttons" in button and not button["buttons"]:
                buttons.remove(button)

    walk(context.get("header_buttons", []))


def _drop_theme_sources(app, exception):
    """The theme's launch buttons copy each executed notebook to ``_sources/`` (for a download button the
    book does not show); the book publishes no page sources (``html_copy_source: false``)."""
    if exception is None and app.builder.format == "html" and not app.config.html_copy_source:
        shutil.rmtree(Path(app.outdir) / "_sources", ignore_errors=True)


def register(app):
    app.connect("config-inited", _publishing)
    app.connect("html-page-context", _colab_button, priority=600)  # after the theme's (501)
    app.connect("build-finished", _drop_theme_sources)
    app.connect("config-inited", _configure)
    app.add_css_file("book.css")
    app.add_js_file("mathjax2-shim.js")
    app.add_css_file("a11y.css")
    app.connect("html-page-context", _accessible_markup)
    app.connect("html-page-context", _add_notebook_download, priority=600)
    app.add_directive("course-packs", CoursePacks)
