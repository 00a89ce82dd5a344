"""Write the student edition under _build/student/: the book and the chapter notebooks without solutions.

From the same sources as the full book: a throw-away copy of the book (``_build/student/src``) without
the instructor-only pages (:data:`gbml_build.booktoc.INSTRUCTOR_PAGES`: they hold solutions and ways around
the checkers; its ``_toc.yml`` is :func:`gbml_build.booktoc.read_toc` with ``student=True``), from which every
cell tagged ``solution`` (code or markdown) is removed with jupytext; that copy is built like ``make book``.  An unanswered coding exercise's check cell prints that the exercise is not written yet
(the checkers never raise on the placeholder), so the build, and Run All, go on.  Output:

* ``_build/student/html/``       the student book: its download buttons serve the student notebook edition
  (:mod:`gbml_build.notebooks`, from the book's build, :func:`gbml_build.build.ensure_built`, run after the
  student book's own build when missing or stale) and it links the student course pack only;
* ``_build/student/notebooks/``  the student edition's notebooks, to hand out.

Usage: ``make student`` (``PYTHONPATH=_ext python -m gbml_build.student``); ``ensure_built()`` (``make pdf``)
builds it only when older than its sources or the book.
"""
from __future__ import annotations

import os
import shutil
import sys

import jupytext
import yaml

from . import build, notebooks
from .booktoc import (GENERATED, ROOT, STAMPS, is_fresh, is_notebook, lock, read_toc, source, toc_files,
                      write_stamp)

OUT = ROOT / "_build" / "student"
HTML = OUT / "html"
STAMP = STAMPS / "student"
COPY = ["_config.yml", "references.bib", "_ext", "_vendor"]  # and _toc.yml without the instructor pages


def strip(nb):
    """Remove solution cells in place; return how many were removed."""
    before = len(nb.cells)
    nb.cells = [c for c in nb.cells if "solution" not in c.get("metadata", {}).get("tags", [])]
    return before - len(nb.cells)


def main() -> int:
    with lock("student"):
        return _build()


def _build() -> int:
    STAMP.unlink(missing_ok=True)
    src = OUT / "src"
    shutil.rmtree(OUT, ignore_errors=True)
    src.mkdir(parents=True)
    build.fetch_assets()
    for name in COPY:
        path = ROOT / name
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, src / name)
    (src / "_toc.yml").write_text("# The student edition's table of contents (gbml_build.student): no instructor pages.\n"
                                  + yaml.safe_dump(read_toc(student=True), sort_keys=False), encoding="utf-8")
    (OUT / "notebooks").mkdir()
    removed = 0
    for name in toc_files(student=True):
        if name in GENERATED:  # written in the copy during its build
            continue
        path = source(name)
        target = src / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not is_notebook(path):
            shutil.copy2(path, target)
            continue
        nb = jupytext.read(path)
        removed += strip(nb)
        jupytext.write(nb, target, fmt="md:myst" if path.suffix == ".md" else "ipynb")
    print(f"make_student: removed {removed} solution cells")

    # The book's execution cache (booktoc.execution_cache), not the throw-away copy's.
    cache = os.environ.get("GBML_EXECUTION_CACHE") or str(ROOT / "_build" / ".jupyter_cache")
    result = build.html(src, env=dict(os.environ, GBML_EDITION="student", GBML_EXECUTION_CACHE=cache))
    if result.returncode != 0:
        print("make_student: the student book failed to build", file=sys.stderr)
        return result.returncode
    shutil.move(str(src / "_build" / "html"), str(HTML))
    shutil.rmtree(src / "_build", ignore_errors=True)
    # The student notebooks and pack come from the book's build (the notebook edition): it may be building
    # at the same time (another command, a test worker), and it is needed only now.
    build.ensure_built()
    for nb in sorted((notebooks.OUT / "student").glob("*.ipynb")):
        shutil.copy2(nb, OUT / "notebooks" / nb.name)
    notebooks.install(HTML, "student")
    write_stamp(STAMP)
    print(f"make_student: book in {HTML}, notebooks in {OUT / 'notebooks'}")
    return 0


def ensure_built() -> None:
    """Build the student edition unless it is newer than its sources and than the book's build."""
    build.ensure_built()
    with lock("student"):
        if not is_fresh(STAMP, build.STAMP) and _build() != 0:
            raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main())
