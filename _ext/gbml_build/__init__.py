"""The book's build code: one package, and the one Sphinx extension of the book (``_config.yml``:
``sphinx.local_extensions``), whose ``setup`` registers everything the builds add to Sphinx.

* :mod:`.booktoc` reads ``_toc.yml`` and ``_config.yml`` and says when a build is stale; :mod:`.chapters`
  reads a chapter's exercises with the MyST parser;
* :mod:`.build` builds the book and the notebook edition from one execution (``make book``);
* :mod:`.html` what the HTML pages add (static explorers, notebook downloads, course packs, footer, Colab);
* :mod:`.exercise_index` writes ``chapters/exercises.md`` before Sphinx reads the sources;
* :mod:`.api` adds "Used in" to the autodoc entries of ``chapters/api.md``;
* :mod:`.selfcheck` the ``{self-check}`` questions (HTML, notebook edition, answers at a chapter's end);
* :mod:`.notebooks` the notebook edition and the course packs; :mod:`.student` the student edition
  (``make student``); :mod:`.problem_set` a problem set from exercise labels (``make problem-set``);
* :mod:`.browser` Chromium and a local server, for :mod:`.pdf` (``make pdf``), the problem sets and the
  tests; :mod:`.site` the folder to publish (``make site``).

The tests import it through pytest's ``pythonpath``; the Makefile runs its commands with ``PYTHONPATH=_ext``.
"""
from __future__ import annotations


def _execution_cache(app, config):
    from .booktoc import execution_cache
    config.nb_execution_cache_path = str(execution_cache(app.srcdir))


def _write_cached_outputs():
    """myst-nb 1.4 renders a chapter taken from the cache from a merged copy, but writes the notebook it read,
    without outputs, to ``_build/jupyter_execute`` (which the problem sets read): merge into that one."""
    from myst_nb.core.execute.cache import NotebookClientCache

    start = NotebookClientCache.start_client

    def start_client(self):
        read = self._notebook
        start(self)
        if self._notebook is not read:  # a cache hit
            read.cells, read.metadata = self._notebook.cells, self._notebook.metadata
            self._notebook = read
    NotebookClientCache.start_client = start_client


def setup(app):
    # here, not above: `python -m gbml_build.X` runs X only once
    from . import api, exercise_index, html, notebooks, selfcheck
    from .booktoc import API_PAGE

    app.setup_extension("sphinx.ext.autodoc")  # its event, below
    app.connect("builder-inited", exercise_index.on_builder_inited)
    app.add_role("exercise-minutes", exercise_index.exercise_minutes_role)
    app.connect("builder-inited", api.on_builder_inited)
    app.connect("autodoc-process-docstring", api.drop_type_docstring, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", api.add_used_in, priority=600)          # after napoleon
    # "Used in" depends on every chapter: read the API page again at every build.
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: [API_PAGE])
    # After html's (priority 500), which sets the kernels' GBML_EXPLORER: the key covers it.
    app.connect("config-inited", _execution_cache, priority=600)
    _write_cached_outputs()
    selfcheck.register(app)
    html.register(app)
    notebooks.register(app)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
