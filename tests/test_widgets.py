"""gbml.book.widgets: live explorers recompute, static explorers precompute linked frames, and every
explorer has a figure, alt text and a caption whatever its plotting function does."""
from __future__ import annotations

import inspect
import re

import ipywidgets
import numpy as np
import pytest

import gbml
from gbml.book import widgets


def line(ax, a, b=1.0):
    x = np.linspace(0, 1, 20)
    ax.plot(x, a * x + b)
    ax.set_ylim(-3, 3)


def test_live_explorer_redraws_for_values_off_the_grid():
    ex = widgets.explore(line, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode="live")
    assert isinstance(ex.controls["a"], ipywidgets.FloatSlider)
    first = ex.png
    ex.controls["a"].value = 0.38  # not a grid value (a position of the default step, 0.02)
    assert ex.png != first
    assert "a = 0.38" in ex.frame.value


def test_a_live_slider_takes_its_step_positions_as_dragging_does():
    """A value set from Python moves to the nearest step position (or grid value), drawn once; chapters
    loop over ``positions`` to compute every frame's data when they run."""
    calls = []

    def counted(ax, a):
        calls.append(a)
        line(ax, a)

    ex = widgets.explore(counted, {"a": widgets.Param([0.0, 1.0, 2.0], step=0.5)}, caption="A line.",
                         alt="A line", mode="live")
    assert ex.positions("a") == [0.0, 0.5, 1.0, 1.5, 2.0]
    calls.clear()
    ex.controls["a"].value = 0.37
    assert ex.controls["a"].value == 0.5 and calls == [0.5]
    assert "a = 0.5)" in ex.frame.value and ex.png == ex.render(a=0.5)
    ex.controls["a"].value = 1.5  # a position: drawn as it is
    assert calls[-1] == 1.5 and len(calls) == 3  # (the render above is the third)

    tenths = widgets.explore(line, {"a": widgets.Param([0.5, 1.0, 1.6], step=0.1)}, caption="c", alt="a",
                             mode="live")
    assert tenths.positions("a") == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    uneven = widgets.explore(line, {"a": [0.0, 0.7, 2.0]}, caption="c", alt="a", mode="live")
    assert len(uneven.positions("a")) == 101 and 0.7 in uneven.positions("a")  # the default step, 0.02

    ints = widgets.explore(lambda ax, m: line(ax, m), {"m": widgets.Param([5, 10, 20, 40], step=5)},
                           caption="c", alt="a", mode="live")
    assert ints.positions("m") == [5, 10, 15, 20, 25, 30, 35, 40]
    ints.controls["m"].value = 13
    assert ints.controls["m"].value == 15
    static = widgets.explore(line, {"a": widgets.Param([0.0, 1.0, 2.0], step=0.5)}, caption="c", alt="a",
                             mode="static")
    assert static.positions("a") == [0.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="name must be one of"):
        ex.positions("b")
    with pytest.raises(ValueError, match="whole number"):
        widgets.Param([5, 10], step=2.5)


def test_a_live_explorer_does_nothing_until_shown_then_prepares_every_position_before_drawing():
    """A problem set's hidden set-up runs a chapter's explorer cell without showing it: nothing is trained or
    drawn.  Shown, ``prepare`` gets every combination of the positions once, before the first frame."""
    calls = []

    def plot(ax, a, b):
        calls.append(("plot", a, b))
        line(ax, a, b)

    def prepare(a, b):
        calls.append(("prepare", a, b))

    params = {"a": widgets.Param([0.0, 1.0, 2.0], step=0.5), "b": widgets.Param([1.0, 2.0], default=2.0, step=1.0)}
    ex = widgets.explore(plot, params, caption="c", alt="a", mode="live", prepare=prepare)
    assert calls == [] and ex.frame.value == ""
    with pytest.raises(TypeError, match="prepare must be a function"):
        widgets.explore(plot, params, caption="c", alt="a", mode="live", prepare=42)
    ex._ipython_display_()
    positions = [(a, b) for a in (0.0, 0.5, 1.0, 1.5, 2.0) for b in (1.0, 2.0)]
    assert calls == [("prepare", a, b) for a, b in positions] + [("plot", 1.0, 2.0)]
    assert "a = 1, b = 2)" in ex.frame.value
    ex.controls["a"].value = 1.5  # moving a slider only draws: prepare is not called again
    assert calls[-1] == ("plot", 1.5, 2.0) and len(calls) == len(positions) + 2
    moved = widgets.explore(plot, params, caption="c", alt="a", mode="live", prepare=prepare)
    calls.clear()
    moved.controls["b"].value = 1.0  # moved before it was shown: prepared first all the same
    assert calls == [("prepare", a, b) for a, b in positions] + [("plot", 1.0, 1.0)]
    static = widgets.explore(plot, params, caption="c", alt="a", mode="static", prepare=prepare)
    assert calls[len(positions) + 1:] == ([("prepare", a, b) for a in (0.0, 1.0, 2.0) for b in (1.0, 2.0)]
                                          + [("plot", a, b) for a in (0.0, 1.0, 2.0) for b in (1.0, 2.0)])
    assert static.png == static.frames[(1.0, 2.0)]


def test_static_explorer_links_one_slider_to_a_stack_of_distinct_frames():
    ex = widgets.explore(line, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode="static")
    assert isinstance(ex.stack, ipywidgets.Stack) and len(ex.stack.children) == 3
    assert len(set(ex.frames.values())) == 3, "frames must differ"
    assert all(png.startswith(b"\x89PNG") for png in ex.frames.values()), "frames are kept as PNG bytes"
    assert [(link.source, link.target) for link in ex.links] == [((ex.controls["a"], "index"), (ex.stack, "selected_index"))]
    assert ex.stack.selected_index == 1  # default: middle of the grid
    ex.controls["a"].value = 2.0
    assert ex.stack.selected_index == 2


def test_static_explorer_with_two_parameters_nests_stacks():
    ex = widgets.explore(line, {"a": [0.0, 1.0], "b": widgets.Param([-1.0, 0.0, 1.0], default=0.0)},
                         caption="Lines.", alt="A line", mode="static")
    assert len(ex.stack.children) == 2 and all(len(s.children) == 3 for s in ex.stack.children)
    targets = {id(link.target[0]) for link in ex.links if link.source == (ex.controls["b"], "index")}
    assert ((ex.controls["a"], "index"), (ex.stack, "selected_index")) in [(k.source, k.target) for k in ex.links]
    assert all(id(inner) in targets for inner in ex.stack.children), "slider b must drive every inner stack"
    before = ex.png
    ex.controls["b"].value = 1.0
    assert ex.png != before and ex.stack.children[ex.stack.selected_index].selected_index == 2


def test_frames_have_alt_text_with_values_and_a_noscript_fallback_with_caption():
    ex = widgets.explore(line, {"a": [0.0, 1.0, 2.0]}, caption="A line of slope a.", alt="Line plot",
                         mode="static")
    alts = [re.search(r'alt="([^"]*)"', child.value).group(1) for child in ex.stack.children]
    assert alts == ["Line plot (a = 0)", "Line plot (a = 1)", "Line plot (a = 2)"]
    fallback = ex.fallback_html()
    assert fallback.startswith("<noscript>") and "data:image/png;base64," in fallback
    assert "A line of slope a." in fallback.split("</noscript>", 1)[1]


def test_divergence_and_empty_plots_show_a_message_not_a_blank():
    problem = gbml.Problem(10, 2, rng=0)

    def run(ax, beta):
        h = gbml.train("fo-maml", problem, alpha=0.1, beta=beta, T=50, n_tasks=5, rng=1)  # raises
        gbml.book.plotting.plot_distance(ax, h)

    ex = widgets.explore(run, {"beta": [5.0, 50.0]}, caption="Diverging.", alt="Distance", mode="live")
    blank = widgets.explore(lambda ax, a: None, {"a": [0, 1]}, caption="Nothing.", alt="Nothing", mode="live")
    empty_png = gbml.book.plotting.to_png(gbml.book.plotting.frame_figure()[0])
    for png in (ex.png, blank.png):
        assert png != empty_png
    fig, ax = gbml.book.plotting.frame_figure()
    with pytest.raises(gbml.DivergenceError) as err:
        gbml.train("fo-maml", problem, alpha=0.1, beta=50.0, T=50, n_tasks=5, rng=1)
    gbml.book.plotting.show_divergence(ax, err.value)
    assert "diverged at iteration" in ax.texts[0].get_text() and "smaller β" in ax.texts[0].get_text()


@pytest.mark.parametrize("bad, match", [
    (dict(params={"c": [0, 1]}), "no argument named 'c'"),
    (dict(params={"a": [0.0]}), "at least 2"),
    (dict(params={"a": [0, 1], "b": [0, 1], "x": [0, 1]}), "one or two"),
    (dict(caption=""), "caption"),
    (dict(alt=" "), "alt"),
    (dict(mode="dynamic"), "mode must be"),
])
def test_bad_input_names_the_parameter(bad, match):
    kwargs = dict(params={"a": [0.0, 1.0]}, caption="c", alt="a", mode="live") | bad

    with pytest.raises(ValueError, match=match):
        widgets.explore(line, **kwargs)


def test_param_default_must_be_on_the_grid():
    with pytest.raises(ValueError, match="default must be one of"):
        widgets.Param([0, 1], default=3)


def test_page_budget_of_a_two_parameter_explorer():
    # Speed (the 100 ms live-update budget) is measured by `make bench`, never asserted in a test.
    ex = widgets.explore(line, {"a": [0.0, 0.5, 1.0, 1.5, 2.0], "b": [-1.0, 0.0, 1.0]}, caption="c", alt="a",
                         mode="static")
    assert len(ex.frames) == 15 and ex.embedded_size() <= 1.5e6


# -- what the reader sees: frame size, y-limits, divergence messages -------------------------------

def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG header (IHDR chunk)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


@pytest.mark.build
def test_explorer_frames_are_as_wide_as_the_static_figures():
    """In a real kernel, as the book executes a chapter: a figure from plotting.figure() shown inline
    and a precomputed explorer frame have the same pixel size (no shrunken, illegible frames)."""
    import base64

    import nbformat
    from booksupport import ROOT, execute

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from gbml.book import plotting, widgets\nplotting.use_style()\n"
                                  "fig, ax = plotting.figure()\nax.plot([0, 1], [0, 1]);"),
        nbformat.v4.new_code_cell(
            "import base64\n"
            "ex = widgets.explore(lambda ax, a: ax.plot([0, 1], [0, a]), {'a': [1.0, 2.0]},\n"
            "                     caption='A line.', alt='A line', mode='static')\n"
            "print('FRAME' + base64.b64encode(ex.png).decode())"),
    ])
    execute(nb, ROOT)
    static = [base64.b64decode(o["data"]["image/png"]) for o in nb.cells[0].outputs
              if "image/png" in o.get("data", {})]
    assert len(static) == 1, "the static figure is shown once"
    frame = base64.b64decode(nb.cells[1].outputs[0]["text"].split("FRAME", 1)[1].strip())
    width, height = _png_size(frame)
    assert (width, height) == _png_size(static[0])
    # Legible: the text column shows a frame at this width without shrinking it (about 680 px at
    # desktop width), so 10-point tick labels are 10 * dpi / 72 px high, at least 13 px.
    assert 600 <= width <= 700
    assert 10 * gbml.book.plotting.DPI / 72 >= 13


def test_fit_log_ylim_ends_within_a_decade_of_the_data():
    fig, ax = gbml.book.plotting.frame_figure()
    ax.semilogy(np.arange(50), 0.8 * 0.8 ** np.arange(50))  # from 0.8 down to about 1.4e-5
    ax.set_ylim(1e-12, 2)
    gbml.book.plotting.fit_log_ylim(ax)
    low, high = ax.get_ylim()
    assert low == pytest.approx(1e-5) and 0.8 <= high <= 1.6


def _diverging(name):
    """A plot function with parameter `name` whose training run blows up, and the axes it drew on."""
    seen = []

    def plot(ax, **values):
        seen.append(ax)
        problem = gbml.Problem(10, 2, rng=0)
        gbml.train("fo-maml", problem, alpha=0.1, beta=50.0, T=50, n_tasks=5, rng=1)  # raises

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    plot.__signature__ = inspect.Signature([inspect.Parameter("ax", kind), inspect.Parameter(name, kind)])
    return plot, seen


def test_divergence_hint_names_only_a_control_the_explorer_has():
    plot, seen = _diverging("w0_norm")
    widgets.explore(plot, {"w0_norm": [1.0, 2.0]}, caption="c", alt="a", mode="live").png  # drawn
    text = seen[-1].texts[0].get_text()
    assert "diverged at iteration" in text and "β" not in text
    plot, seen = _diverging("beta")
    widgets.explore(plot, {"beta": [10.0, 50.0]}, caption="c", alt="a", mode="live").png
    assert "try a smaller β" in seen[-1].texts[0].get_text()


def test_divergence_message_over_curves_sits_above_the_axes():
    problem = gbml.Problem(10, 2, rng=0)
    seen = []

    def plot(ax, beta):
        seen.append(ax)
        h = gbml.train("fo-maml", problem, alpha=0.1, beta=beta, T=50, n_tasks=5, rng=1,
                       on_divergence="stop")
        gbml.book.plotting.plot_distance(ax, h)

    ex = widgets.explore(plot, {"beta": [40.0, 50.0]}, caption="c", alt="a", mode="live")
    ex.png  # noqa: B018 - drawn when first asked for (as when shown)
    ax = seen[-1]
    assert ax.lines, "the run is drawn up to where it diverged"
    message = [t for t in ax.texts if "diverged" in t.get_text()]
    assert len(message) == 1
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(ax.figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    box, axes_box = message[0].get_window_extent(renderer), ax.get_window_extent(renderer)
    assert box.y0 >= axes_box.y1, "the message overlaps the plotting area"
    assert box.y1 <= ax.figure.bbox.y1 + 1, "the message is cut off at the top of the frame"
    assert _png_size(ex.png) == (640, 360)


@pytest.mark.parametrize("mode", ["live", "static"])
def test_explorer_announces_each_new_frame_in_a_polite_live_region(mode, monkeypatch):
    ex = widgets.explore(line, {"a": widgets.Param([0.0, 1.0, 2.0], label="slope a")}, caption="A line.",
                         alt="Line plot", mode=mode)
    assert ex.live in ex.widget.children and "gbml-live" in ex.live._dom_classes
    assert ex.live.value == "", "nothing is announced before the reader moves a slider"
    ex.controls["a"].value = 2.0  # what the kernel does when the reader moves the slider
    assert ex.live.value == "Line plot (slope a = 2)"
    assert ex.controls["a"].description == "slope a"  # the slider's accessible name (set by the script)
    shown = []
    monkeypatch.setattr(widgets, "display", shown.append)
    ex._ipython_display_()
    script = [s for s in shown if isinstance(s, widgets.Javascript)]
    assert len(script) == 1
    for needed in ("aria-label", "aria-valuetext", "'aria-live', 'polite'", "'role', 'status'"):
        assert needed in script[0].data


@pytest.mark.build
def test_in_a_kernel_the_explorer_ships_its_script_and_announces_from_python(tmp_path):
    """A real kernel (as in Jupyter): the explorer's outputs carry the accessibility script, and moving
    a slider puts the new frame's alt text in the live region from the Python callback."""
    import nbformat
    from booksupport import execute

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from gbml.book import widgets\n"
                                  "def draw(ax, mu):\n    ax.plot([0, 1], [0, mu])\n"
                                  "ex = widgets.explore(draw, {'mu': widgets.Param([0.0, 0.5, 1.0], label='task diversity μ')},\n"
                                  "                     caption='A line.', alt='A line of slope μ')\nex"),
        nbformat.v4.new_code_cell("ex.controls['mu'].value = 0.8\nprint(repr(ex.live.value))"),
    ])
    execute(nb, tmp_path)
    mimes = [m for out in nb.cells[0].outputs for m in out.get("data", {})]
    assert "application/vnd.jupyter.widget-view+json" in mimes and "application/javascript" in mimes
    script = next(o["data"]["application/javascript"] for o in nb.cells[0].outputs
                  if "application/javascript" in o.get("data", {}))
    assert "aria-valuetext" in script
    assert nb.cells[1].outputs[0]["text"].strip() == "'A line of slope μ (task diversity μ = 0.8)'"


def _pixels(png: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(png)))


def _rgb(png: bytes) -> np.ndarray:
    from io import BytesIO

    from PIL import Image

    return np.asarray(Image.open(BytesIO(png)).convert("RGB")).astype(int)


def test_live_frames_draw_what_the_static_frames_show():
    """Live frames are encoded faster in full colour; the book's frames are palette PNGs of the same
    drawing: the same size, every pixel within a few levels, at most half the bytes."""
    static = widgets.explore(line, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode="static")
    live = widgets.explore(line, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode="live")
    live.controls["a"].value = 0.37
    live.controls["a"].value = 2.0  # back on the grid
    shown, stored = _rgb(live.png), _rgb(static.frames[(2.0,)])
    assert shown.shape == stored.shape == (360, 640, 3)
    assert np.abs(shown - stored).max() <= 16 and np.abs(shown - stored).mean() < 0.5
    assert _pixels(static.frames[(2.0,)]).ndim == 2  # one palette index per pixel (P mode)
    assert 2 * len(static.frames[(2.0,)]) < len(live.png)
    assert live.png == live.render(a=2.0)  # a redraw is the same PNG as a fresh render


def test_palette_png_keeps_a_figures_colours():
    """A palette frame keeps each plotted colour exactly (the palette has room for all of them) and the
    bad-input check names the parameter."""
    fig, ax = gbml.book.plotting.frame_figure()
    for i, colour in enumerate(("#0072b2", "#d55e00", "#009e73")):
        ax.fill_between([0, 1], i, i + 0.9, color=colour)
    rgb = _rgb(gbml.book.plotting.to_png(fig, palette=True))
    for colour in ("#0072b2", "#d55e00", "#009e73"):
        want = [int(colour[j:j + 2], 16) for j in (1, 3, 5)]
        assert (np.abs(rgb - want).max(axis=2) == 0).sum() > 1000, colour
    with pytest.raises(TypeError, match="palette"):
        gbml.book.plotting.to_png(fig, palette="yes")


def test_the_fallback_shows_the_default_frame_without_drawing_it_again():
    calls = []

    def counted(ax, a):
        calls.append(a)
        line(ax, a)

    for mode in ("live", "static"):
        calls.clear()
        ex = widgets.explore(counted, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode=mode)
        ex.png  # noqa: B018 - shown: a live explorer draws its default frame
        drawn = len(calls)
        ex.controls["a"].value = 2.0
        fallback = ex.fallback_html()
        assert len(calls) == drawn + (mode == "live")  # only the slider move draws
        default = ex.render(a=1.0) if mode == "live" else ex.frames[(1.0,)]
        assert fallback.count(_img(default)) == 1


def _img(png: bytes) -> str:
    import base64

    return base64.b64encode(png).decode("ascii")


def test_to_png_compress_level_changes_bytes_not_pixels():
    fig, ax = gbml.book.plotting.frame_figure()
    line(ax, 1.0)
    fast, small = gbml.book.plotting.to_png(fig, compress_level=1), gbml.book.plotting.to_png(fig)
    assert fast != small and np.array_equal(_pixels(fast), _pixels(small))
    for bad in (10, -1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="compress_level"):
            gbml.book.plotting.to_png(fig, compress_level=bad)


def test_frames_drawn_on_the_reused_figure_equal_frames_of_a_fresh_explorer():
    """Every frame of an explorer is drawn on the axes of the last one, cleared: whatever the frame before
    it drew (a message that moved the top margin, a divergence, a legend, tick settings, an aspect, colours,
    axes or text added to the figure), a frame equals a fresh explorer's, byte for byte."""

    blown = gbml.train("fo-maml", gbml.Problem(10, 2, rng=0), alpha=0.1, beta=50.0, T=50, n_tasks=5, rng=1,
                       on_divergence="stop")

    def plot(ax, a):
        if a < 0.5:
            raise gbml.DivergenceError("fo-maml", blown.diverged_at, 0.1, 50.0, blown)
        line(ax, a)
        ax.legend(["a line"])
        if a > 1.5:
            gbml.book.plotting.show_message(ax, "A message\nover two lines", overlay=True)

    def grid(axes, a):
        line(axes[0], a)
        axes[1].semilogy([1, 10, 10 ** a])

    def leaky(ax, a):
        """Changes, in some frames only, what Axes.clear leaves alone (the axes are then made anew)."""
        line(ax, a)
        if a > 1.5:
            ax.tick_params(labelsize=6, colors="red")
            ax.set_aspect("equal")
            ax.spines["left"].set_color("red")
            ax.set_facecolor("0.9")
        elif a > 0.9:
            ax.figure.text(0.5, 0.5, "on the figure")
            ax.twinx().plot([0, 1], [5, 6])
        elif a > 0.5:
            ax.grid(False)
            ax.set_yticks([-1, 0, 1])

    for draw, layout in ((plot, {}), (leaky, {}), (grid, {"nrows": 2, "figsize": (6.4, 5.6)})):
        def fresh(a):
            return widgets.explore(draw, {"a": widgets.Param([a, a + 10.0], default=a)}, caption="A line.",
                                   alt="A line", mode="live", **layout).png

        ex = widgets.explore(draw, {"a": [0.0, 1.0, 2.0]}, caption="A line.", alt="A line", mode="live", **layout)
        for a in (2.0, 0.0, 1.0, 2.0, 0.7, 1.3, 0.2, 0.3, 1.8, 0.4):
            ex.controls["a"].value = a
            assert ex.png == fresh(a), (draw.__name__, a)
