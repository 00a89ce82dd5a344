"""Every explorer of the book asks a question its sliders answer, says in its caption what to look for, and
gives every slider at least 7 positions (issue 19: "explorers that reveal").

Read from the chapters' sources (no execution): an explorer cell is a code cell calling
``widgets.explore(...)``; its grid values are evaluated from the literal lists or from the chapter's
upper-case constants (``BETAS = [...]``) they name.  Page weight and the frames themselves are checked in
``tests/test_browser.py`` and ``benchmarks/bench_widgets.py``.
"""
from __future__ import annotations

import ast

import numpy as np
import pytest

from booksupport import notebook_chapters, read_notebook, source

MIN_POSITIONS = 7


def _explorer_cells():
    cases = []
    for chapter in notebook_chapters():
        nb = read_notebook(source(chapter))
        for i, cell in enumerate(nb.cells):
            if cell.cell_type == "code" and "widgets.explore(" in cell.source:
                cases.append(pytest.param(chapter, i, id=f"{chapter.split('/')[-1]}-cell{i}"))
    return cases


def _constants(nb) -> dict:
    """The chapter's upper-case constants, evaluated in order (those a grid may name)."""
    names = {"np": np}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and node.targets[0].id.isupper()):
                try:
                    names[node.targets[0].id] = eval(compile(ast.Expression(node.value), "<grid>", "eval"),
                                                     dict(names))
                except Exception:  # a constant computed from the chapter's state: not a grid
                    pass
    return names


def _explore_call(cell_source: str) -> ast.Call:
    calls = [node for node in ast.walk(ast.parse(cell_source))
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
             and node.func.attr == "explore"]
    assert len(calls) == 1, "one explorer per cell"
    return calls[0]


def _grids(call: ast.Call, names: dict) -> dict:
    params = call.args[1]
    assert isinstance(params, ast.Dict), "the explorer's params are written as a dict in its cell"
    grids = {}
    for key, value in zip(params.keys, params.values):
        if isinstance(value, ast.Call) and getattr(value.func, "attr", None) == "Param":
            value = value.args[0] if value.args else next(k.value for k in value.keywords if k.arg == "values")
        grids[ast.literal_eval(key)] = list(eval(compile(ast.Expression(value), "<grid>", "eval"), dict(names)))
    return grids


@pytest.mark.parametrize("chapter, index", _explorer_cells())
def test_explorer_has_seven_positions_per_slider(chapter, index):
    nb = read_notebook(source(chapter))
    grids = _grids(_explore_call(nb.cells[index].source), _constants(nb))
    assert grids, "an explorer needs a slider"
    for name, values in grids.items():
        assert len(set(values)) >= MIN_POSITIONS, f"{name}: {len(set(values))} positions {values}"


@pytest.mark.parametrize("chapter, index", _explorer_cells())
def test_explorer_is_introduced_by_a_question_and_its_caption_says_what_to_look_for(chapter, index):
    nb = read_notebook(source(chapter))
    before = next(cell for cell in reversed(nb.cells[:index]) if cell.cell_type == "markdown")
    # the paragraphs introducing the explorer (after the last heading or self-check above it)
    intro = before.source.split("::::")[-1].split("\n#")[-1]
    assert "?" in intro, f"the text before the explorer asks no question:\n{intro[-400:]}"
    assert "predict" in intro.lower(), "the question asks the reader to predict before moving the slider"
    call = _explore_call(nb.cells[index].source)
    caption = next(k.value for k in call.keywords if k.arg == "caption")
    if isinstance(caption, ast.JoinedStr):  # an f-string: its literal words
        caption = "".join(v.value for v in caption.values if isinstance(v, ast.Constant))
    else:
        caption = ast.literal_eval(caption)
    assert "look for" in caption.lower(), f"the caption does not say what to look for: {caption}"
