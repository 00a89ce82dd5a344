"""Every chapter of _toc.yml executes as a notebook in a real kernel (jupytext + nbclient), and every
explorer in it answers its controls: the test appends a cell that moves each control inside that
kernel and checks that the figure changed, and that each frame, drawn on the axes of the frame before
(as live explorers do), is byte for byte the frame drawn on a new figure.  New chapters are picked up
from _toc.yml automatically."""
from __future__ import annotations

import json

import nbformat
import pytest
from booksupport import execute, notebook_chapters, read_notebook, source

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


@pytest.mark.parametrize("chapter", notebook_chapters())
def test_chapter_executes_and_explorers_respond(chapter):
    path = source(chapter)
    nb = read_notebook(path)
    n_explorers = sum("widgets.explore(" in c.source for c in nb.cells if c.cell_type == "code")
    nb.cells.append(nbformat.v4.new_code_cell(DRIVE))
    execute(nb, path.parent)  # raises CellExecutionError on any error
    text = _stream_text(nb)
    assert "Not yet" not in text, f"a checker rejected the reference solution:\n{text}"
    report = json.loads(text.split("EXPLORERS", 1)[1].strip().splitlines()[0])
    assert len({r["explorer"] for r in report}) == n_explorers
    for r in report:
        assert r["mode"] == "live"
        assert r["changed"], f"explorer {r['explorer']}: moving {r['control']} did not change the figure: {r}"
        assert r["as_fresh"], (f"explorer {r['explorer']}: a frame drawn on the last frame's axes ({r['to']}, then "
                               f"back to {r['from']}) differs from the same frame on a new figure: {r}")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert "nan" not in str(out.get("data", {}).get("text/plain", "")).lower().split(), "NaN in output"


def test_chapter_template_executes():
    """chapters/_template.md (copied by chapter authors; not in the book) stays runnable."""
    path = source("chapters/_template")
    nb = read_notebook(path)
    execute(nb, path.parent)
    assert "Not yet" not in _stream_text(nb)
