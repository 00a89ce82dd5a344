"""The book's build code, one Sphinx extension (``_config.yml``: ``sphinx.local_extensions``).

* :mod:`.booktoc` reads ``_toc.yml``; :mod:`.chapters` reads a chapter's exercises with the MyST parser;
* :mod:`.exercise_index` writes ``chapters/exercises.md`` before Sphinx reads the sources;
* :mod:`.api` adds "Used in" to the autodoc entries of ``chapters/api.md``;
* :mod:`.student` builds the student edition (``make student``).
* :mod:`.problem_set` assembles a problem set from exercise labels (``make problem-set``).
* :mod:`.selfcheck` the ``{self-check}`` questions (HTML, notebook edition, answers at a chapter's end).

The tests import it through pytest's ``pythonpath``; the Makefile runs its commands with ``PYTHONPATH=_ext``.
"""
from __future__ import annotations


def setup(app):
    from . import api, exercise_index, selfcheck  # here, not above: `python -m gbml_build.X` runs X only once
    from .booktoc import API_PAGE

    app.setup_extension("sphinx.ext.autodoc")  # its event, below
    app.connect("builder-inited", exercise_index.on_builder_inited)
    app.add_role("exercise-minutes", exercise_index.exercise_minutes_role)
    app.connect("builder-inited", api.on_builder_inited)
    app.connect("autodoc-process-docstring", api.drop_type_docstring, priority=400)  # before napoleon (500)
    app.connect("autodoc-process-docstring", api.add_used_in, priority=600)          # after napoleon
    # "Used in" depends on every chapter: read the API page again at every build.
    selfcheck.setup(app)
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: [API_PAGE])
    return {"parallel_read_safe": True, "parallel_write_safe": True}
