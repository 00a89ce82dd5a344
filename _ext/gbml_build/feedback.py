"""nbgrader's feedback HTML, offline: math typeset by a MathJax inlined in the page, and no dead links.

``make problem-set`` copies this file into its nbgrader course folder as ``gbml_feedback.py``, whose
``nbgrader_config.py`` runs :class:`OfflineFeedback` and uses ``FEEDBACK_TEMPLATE`` (nbgrader's, without
its CDN MathJax 2).  It needs nothing but nbconvert; :func:`unlink` also serves the problem set's PDFs.
"""
from __future__ import annotations

import re
from pathlib import Path

from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

_LINK = re.compile(r"(?<!!)\[([^\]\n]*)\]\(([^)\s]+)\)")
_ANCHOR = re.compile(r"<a id='([^']+)'>")


def unlink(text: str, anchors=(), book_url: str = "") -> str:
    """Markdown ``text`` with only links that work outside Jupyter: http(s), to one of ``anchors``, or to a
    chapter notebook made to lead to the online book at ``book_url``; any other link becomes its text."""
    def fix(m):
        label, target = m.groups()
        if target.startswith(("http://", "https://")) or (target.startswith("#") and target[1:] in anchors):
            return m.group(0)
        page, _, anchor = target.partition("#")
        if book_url and page.endswith(".ipynb"):
            return f"[{label}]({book_url.rstrip('/')}/chapters/{page[:-6]}.html{'#' * bool(anchor)}{anchor})"
        return label
    return _LINK.sub(fix, text)


def anchors(nb) -> set:
    """The anchors (``<a id='…'>``) of a notebook's markdown cells."""
    return {a for c in nb.cells if c.cell_type == "markdown" for a in _ANCHOR.findall(c.source)}


class OfflineFeedback(Preprocessor):
    """Links that work in the feedback folder, setup cells shortened to their header (the notebook shows
    them collapsed), and the MathJax the template inlines."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled; nbgrader names this one to run it
    mathjax = Unicode(help="MathJax 3's tex-svg.js, inlined in each feedback page").tag(config=True)
    book_url = Unicode("", help="the online book's address: chapter links lead there").tag(config=True)

    def preprocess(self, nb, resources):
        found = anchors(nb)
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = unlink(cell.source, found, self.book_url)
            elif "setup-chapter" in cell.metadata.get("tags", []):  # collapsed in the notebook: its header here
                cell.source = "\n".join(cell.source.splitlines()[:3]) + "\n# ... (the chapter's code)"
        resources["gbml_mathjax"] = Path(self.mathjax).read_text(encoding="utf-8").replace("</script", "<\\/script")
        return nb, resources


#: nbgrader's feedback page (``feedback/index.html.j2``) without its CDN MathJax, with MathJax 3 inlined.
FEEDBACK_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{%- block header -%}
{%- set cdn = 'https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe' -%}
{{ super() | replace('<script src="' ~ cdn ~ '"> </script>', '') }}
<script>window.MathJax = {tex: {inlineMath: [['$', '$'], ['\\(', '\\)']], displayMath: [['$$', '$$'],
  ['\\[', '\\]']], processEscapes: true, processEnvironments: true}, svg: {fontCache: 'global'}};</script>
<script>{{ resources.gbml_mathjax }}</script>
{%- endblock header -%}
"""
