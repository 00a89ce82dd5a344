"""gbml.book: glue records only in the book's build (issue 9), in a real kernel."""
from __future__ import annotations

import nbformat
import pytest
from booksupport import execute


def _glue_outputs(tmp_path, monkeypatch, build: bool):
    if build:
        monkeypatch.setenv("GBML_BOOK_BUILD", "1")
    else:
        monkeypatch.delenv("GBML_BOOK_BUILD", raising=False)
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import numpy as np\nfrom gbml.book import glue\nglue('rate', np.float64(0.95))"),
    ])
    execute(nb, tmp_path)
    return nb.cells[0].outputs


def test_glue_is_silent_outside_the_build(tmp_path, monkeypatch):
    # myst-nb is installed in the test environment: the old rule (record whenever myst-nb imports) recorded here.
    assert _glue_outputs(tmp_path, monkeypatch, build=False) == []


def test_glue_records_in_the_build(tmp_path, monkeypatch):
    outputs = _glue_outputs(tmp_path, monkeypatch, build=True)
    assert len(outputs) == 1
    record = outputs[0]["data"]["application/papermill.record/text/plain"]
    assert record == "0.95"  # a plain float, not np.float64(0.95)


def test_glue_refuses_a_bad_name():
    from gbml.book import glue
    with pytest.raises(ValueError, match="name"):
        glue("", 1)
