"""gbml.book.plotting: one distinguishable style per method, the repeated figures, and messages instead of
blank or broken plots."""
from __future__ import annotations

import numpy as np
import pytest

import gbml
from gbml.book import plotting


@pytest.fixture(scope="module")
def runs():
    problem = gbml.Problem(12, 2, rng=0)
    return {m: gbml.train(m, problem, alpha=0.1, beta=0.05 if m == "avg-loss" else 0.5, T=60, n_tasks=10, rng=1)
            for m in gbml.METHODS}


def test_method_styles_differ_in_more_than_colour():
    styles = [plotting.method_style(m) for m in gbml.METHODS]
    for key in ("color", "linestyle", "marker"):
        assert len({str(s[key]) for s in styles}) == len(styles), f"two methods share a {key}"


def test_distance_plot_draws_every_run_and_the_prediction(runs):
    fig, ax = plotting.frame_figure()
    plotting.plot_distance(ax, runs, predicted_rate=0.95)
    labels = [line.get_label() for line in ax.lines]
    assert labels[:5] == [plotting.LABELS[m] for m in gbml.METHODS]
    assert labels[-1].startswith("predicted rate")
    assert ax.get_yscale() == "log"
    pred = ax.lines[-1].get_ydata()
    assert np.allclose(pred[1:] / pred[:-1], 0.95)
    np.testing.assert_allclose(ax.lines[0].get_ydata(), runs["anil"].distance)


def test_diverged_run_is_drawn_with_a_message():
    problem = gbml.Problem(10, 2, rng=0)
    h = gbml.train("fo-maml", problem, alpha=0.1, beta=50.0, T=50, n_tasks=5, rng=1, on_divergence="stop")
    assert h.diverged_at is not None
    fig, ax = plotting.frame_figure()
    plotting.plot_distance(ax, h)
    text = " ".join(t.get_text() for t in ax.texts)
    assert f"diverged at iteration {h.diverged_at}" in text and "β = 50" in text


def test_angles_plot_has_one_line_per_angle(runs):
    fig, ax = plotting.frame_figure()
    plotting.plot_angles(ax, runs["anil"])
    assert len(ax.lines) == 2
    assert np.allclose(ax.lines[0].get_ydata(), np.degrees(runs["anil"].angles[:, -1]))


def test_empty_axes_get_a_message():
    fig, ax = plotting.frame_figure()
    ax.plot([np.nan, np.nan])
    plotting.ensure_not_blank(ax)
    assert ax.texts and "Nothing to show" in ax.texts[0].get_text()


def test_bad_input():
    fig, ax = plotting.frame_figure()
    with pytest.raises(ValueError, match="predicted_rate"):
        plotting.plot_distance(ax, gbml.train("anil", gbml.Problem(6, 2, rng=0), alpha=0.1, beta=0.5, T=3,
                                              n_tasks=4, rng=0), predicted_rate=1.5)
    with pytest.raises(TypeError, match="histories"):
        plotting.plot_distance(ax, [1, 2])
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_distance(ax, {})


def test_fast_log_ticks_plain_power_of_ten_labels():
    from gbml.book import plotting as _p

    assert _p._power_of_ten(1e-3) == "10⁻³" and _p._power_of_ten(100.0) == "10²" and _p._power_of_ten(1.0) == "10⁰"
    assert _p._power_of_ten(3e-3) == "" and _p._power_of_ten(0.0) == ""
    fig, ax = _p.frame_figure()
    ax.semilogy([0, 1, 2], [1.0, 1e-2, 1e-4])
    _p.fast_log_ticks(ax)
    _p.to_png(fig)  # renders the figure, so the tick labels exist
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels()]
    assert "10⁻²" in labels and not any("$" in t for t in labels)
    assert len(ax.yaxis.get_minorticklocs()) == 0


def _labelled(axis, limits) -> list[str]:
    lo, hi = axis.get_view_interval()
    return [t.get_text() for t, loc in zip(axis.get_ticklabels(), axis.get_ticklocs())
            if t.get_text() and min(limits) <= loc <= max(limits)]


@pytest.mark.parametrize("low, high, want", [
    (0.1, 1.6, ["10⁻¹", "0.2", "0.5", "10⁰"]),        # one decade: 1, 2, 5 times powers of ten
    (3e-3, 0.04, ["5×10⁻³", "10⁻²", "0.02"]),             # no full decade
    (1e-6, 1.0, ["10⁻⁶", "10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "10⁰"]),  # powers only
])
def test_every_log_axis_has_three_labelled_ticks(low, high, want):
    """Issue 19: a log axis of an explorer (or a figure calling fast_log_ticks) labels at least three
    ticks, however narrow its range; the labels are plain text."""
    from gbml.book import plotting as _p

    assert _p._power_of_ten(2e-1) == "0.2" and _p._power_of_ten(5e-3) == "5×10⁻³"
    fig, ax = _p.frame_figure()
    ax.semilogy([0, 1], [low, high])
    ax.set_ylim(low, high)
    _p.fast_log_ticks(ax)
    _p.to_png(fig)
    assert _labelled(ax.yaxis, (low, high)) == want


@pytest.mark.parametrize("figsize, nrows, ncols", [((6.4, 5.6), 2, 1), ((6.4, 3.6), 1, 2), ((6.4, 5.6), 2, 2)])
def test_grid_frame_fixed_margins_keep_labels_inside_and_apart(figsize, nrows, ncols):
    """A grid frame has no layout engine (too slow live), yet every tick label and axis label stays
    inside the figure and the axes' labels do not run into a neighbour; reuse keeps the geometry."""
    fig, axes = plotting.frame_figure(figsize, nrows, ncols)
    for reuse in (False, True):
        if reuse:
            fig, axes = plotting.frame_figure(figsize, nrows, ncols, reuse=fig)
        assert fig.get_layout_engine() is None and len(fig.axes) == nrows * ncols
        for ax in fig.axes:
            ax.semilogy(np.arange(300), np.geomspace(1.0, 1e-3, 300), label="ANIL")
            ax.set_xlabel("iteration s")
            ax.set_ylabel(r"$\mathrm{dist}(B_s, B^*)$")
            plotting.fast_log_ticks(ax)
        plotting.to_png(fig)
        renderer = fig.canvas.get_renderer()
        page = fig.bbox
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
        for box in boxes:
            assert page.x0 - 0.5 <= box.x0 and box.x1 <= page.x1 + 0.5
            assert page.y0 - 0.5 <= box.y0 and box.y1 <= page.y1 + 0.5
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b)
    first = [ax.get_position().bounds for ax in fig.axes]
    fig, _ = plotting.frame_figure(figsize, nrows, ncols, reuse=fig)
    assert [ax.get_position().bounds for ax in fig.axes] == first


def test_grid_frame_too_small_is_refused():
    with pytest.raises(ValueError, match="too small"):
        plotting.frame_figure((1.0, 1.0), 2, 1)
