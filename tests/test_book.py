"""gbml.book: glue records only in the book's build (issue 9), in a real kernel; figures show computed alt text."""
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


@pytest.mark.build
def test_glue_is_silent_outside_the_build(tmp_path, monkeypatch):
    # myst-nb is installed in the test environment: the old rule (record whenever myst-nb imports) recorded here.
    assert _glue_outputs(tmp_path, monkeypatch, build=False) == []


@pytest.mark.build
def test_glue_records_in_the_build(tmp_path, monkeypatch):
    outputs = _glue_outputs(tmp_path, monkeypatch, build=True)
    assert len(outputs) == 1
    record = outputs[0]["data"]["application/papermill.record/text/plain"]
    assert record == "0.95"  # a plain float, not np.float64(0.95)


def test_glue_refuses_a_bad_name():
    from gbml.book import glue
    with pytest.raises(ValueError, match="name"):
        glue("", 1)


# -- alt text quoting numbers is computed (gbml.book.show_figure), static alt text quotes none ------------

def test_show_figure_displays_one_image_with_the_given_alt_text(monkeypatch):
    import IPython.display
    import matplotlib.pyplot as plt

    from gbml.book import show_figure

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0.27])
    show_figure(fig, 'a floor at 0.27 & "quotes"')
    assert len(shown) == 1
    html = shown[0].data
    assert html.startswith('<img src="data:image/png;base64,')
    assert 'alt="a floor at 0.27 &amp; &quot;quotes&quot;"' in html
    assert not plt.fignum_exists(fig.number)            # closed: the inline backend will not show it twice
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match="alt must be a non-empty"):
        show_figure(fig, "  ")
    plt.close(fig)


def test_static_alt_texts_quote_no_measured_numbers():
    """A figure's alt text in cell metadata is static; one quoting a measured value ("near 0.1", "1e-12",
    "85 degrees") must be built from the values with show_figure instead (issue 11: alt said 0.1, glue 0.27)."""
    import re
    from pathlib import Path

    measured = re.compile(r"\b(about|near|below|above|around|roughly)\s+(minus\s+)?\d"
                          r"|\d(\.\d+)?e-?\d+|\d+\s*(degrees|iterations)")
    chapters = sorted(p for p in (Path(__file__).parent.parent / "chapters").glob("[0-9i]*.md"))
    assert len(chapters) >= 11
    offenders = []
    for path in chapters:
        for block in re.finditer(r"\n  image:\n    alt: \|\n((?:      .*\n)+)", path.read_text()):
            text = " ".join(block.group(1).split())
            if measured.search(text):
                offenders.append(f"{path.name}: {text[:80]}")
    assert not offenders, offenders


# -- listings of gbml's own code (gbml.book.show_source) --------------------------------------------------

def test_show_source_lists_the_reference_not_its_guard(capsys, monkeypatch):
    """``inspect.getsource`` shows the guard's wrapper for a reference routine; the listing shows the code."""
    import inspect

    import IPython.display

    import gbml
    from gbml.book import show_source

    assert "def guarded(" in inspect.getsource(gbml.meta_gradient)  # why show_source exists
    shown = []
    monkeypatch.setattr(IPython.display, "display", shown.append)
    show_source(gbml.meta_gradient, gbml._kernels.inner_step)
    listing = shown[0].data
    assert listing.startswith("```python\ndef meta_gradient(method") and listing.endswith("```")
    assert "def inner_step(spec" in listing and "guarded" not in listing
    assert "@_guard" not in listing  # decorators left out
    with pytest.raises(ValueError, match="routines must be functions"):
        show_source(42)
