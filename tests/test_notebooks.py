"""Chapters as notebooks in a real kernel: the build's execution of every chapter of _toc.yml accepts the
reference solutions and shows no NaN; the chapter template runs.  ``DRIVE`` is the cell that the JupyterLab
run (test_notebook_edition.py) appends to each notebook with an explorer: in that live kernel it moves each
control and reports whether the figure changed, and whether each frame, drawn on the axes of the frame
before (as live explorers do), is byte for byte the frame drawn on a new figure."""
from __future__ import annotations

import nbformat
import pytest
from booksupport import built_book, execute, notebook_chapters, read_notebook, source

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

DRIVE = r'''
import json as _json
from gbml.book import widgets as _w
_report = []
for _i, _ex in enumerate(_w.EXPLORERS):
    for _name, _c in _ex.controls.items():
        _before, _old = _ex.png, _c.value
        if hasattr(_c, "min"):            # live slider: a value off the grid, inside the range
            _grid = _ex.params[_name].values
            _new = (_old + max(_grid)) / 2 if _old != max(_grid) else (_old + min(_grid)) / 2
            _new = type(_old)(round(_new)) if isinstance(_old, int) else _new
        else:
            _opts = [v for _, v in _c.options]
            _new = _opts[(_opts.index(_old) + 1) % len(_opts)]
        _c.value = _new
        _moved = _ex.png
        _kept, _ex._figure = _ex._figure, None  # the same frame drawn on a new figure
        _fresh = _ex.render(**_ex.values)
        _ex._figure = _kept
        _c.value = _old
        _report.append({"explorer": _i, "control": _name, "mode": _ex.mode, "from": str(_old), "to": str(_new),
                        "changed": _moved != _before, "png": len(_moved),
                        "as_fresh": _moved == _fresh and _ex.png == _before})
print("EXPLORERS" + _json.dumps(_report))
'''


def _stream_text(nb) -> str:
    return "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                     if o.get("output_type") == "stream")


def test_book_execution_accepts_every_reference_solution_and_shows_no_nan():
    """The build's execution of every chapter (``_build/jupyter_execute``, with the reference solutions):
    no checker says "Not yet" to a reference solution, and no output shows NaN.  (Each chapter's explorers
    are moved in a live kernel by test_notebook_edition.py's JupyterLab run, with ``DRIVE``.)"""
    executed = built_book().parent / "jupyter_execute"
    for chapter in notebook_chapters():
        nb = nbformat.read(executed / f"{chapter}.ipynb", as_version=4)
        text = _stream_text(nb)
        assert "Not yet" not in text, f"{chapter}: a checker rejected the reference solution:\n{text}"
        for cell in nb.cells:
            for out in cell.get("outputs", []):
                plain = str(out.get("data", {}).get("text/plain", "")) + out.get("text", "")
                assert "nan" not in plain.lower().split(), f"{chapter}: NaN in an output: {plain[:200]}"


def test_chapter_template_executes():
    """chapters/_template.md (copied by chapter authors; not in the book) stays runnable."""
    path = source("chapters/_template")
    nb = read_notebook(path)
    execute(nb, path.parent)
    assert "Not yet" not in _stream_text(nb)
