"""One plotting style for the book, and the figures chapters draw again and again.

Every helper draws on an ``Axes`` it is given and returns it.  Colour is never the only carrier of
meaning: each method has an Okabe-Ito colour *and* its own line style and marker.
"""
from __future__ import annotations

import contextlib
import contextvars
import io
import numbers
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .. import _checks
from ..training import DivergenceError, History

__all__ = [
    "FIGSIZE", "DPI", "PALETTE", "METHOD_STYLES", "LABELS", "method_style", "figure",
    "frame_figure", "style_context", "use_style", "plot_distance", "plot_angles", "show_message",
    "show_divergence", "divergence_hint", "ensure_not_blank", "fit_log_ylim", "fast_log_ticks",
    "to_png"
]

#: Default figure size in inches (width, height) for every figure of the book.
FIGSIZE = (6.4, 3.6)
#: Resolution of every PNG of the book, static figures and explorer frames alike (640 x 360 px by default).
DPI = 100

#: Okabe-Ito colours (Okabe & Ito 2008), safe for deuteranopia, protanopia and tritanopia.
PALETTE = {"orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
           "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7", "black": "#000000"}

#: Colour, line style and marker per method, distinguishable in greyscale too.
METHOD_STYLES = {
    "anil": dict(color=PALETTE["blue"], linestyle="-", marker="o"),
    "fo-anil": dict(color=PALETTE["sky"], linestyle="--", marker="s"),
    "maml": dict(color=PALETTE["vermillion"], linestyle="-.", marker="^"),
    "fo-maml": dict(color=PALETTE["orange"], linestyle=":", marker="v"),
    "avg-loss": dict(color=PALETTE["black"], linestyle=(0, (5, 1, 1, 1, 1, 1)), marker="x"),
}

#: How the book names the methods in legends.
LABELS = {"anil": "ANIL", "fo-anil": "FO-ANIL", "maml": "MAML", "fo-maml": "FO-MAML", "avg-loss": "average loss"}

_FALLBACK = [
    dict(color=PALETTE[c], linestyle=ls, marker=m)
    for c, ls, m in [("green", "-", "D"), ("purple", "--", "P"), ("vermillion", "-.", "*"), ("blue", ":", "o")]
]

_RC = {
    "font.size": 10, "figure.dpi": DPI, "axes.grid": True, "grid.alpha": 0.3,
    "axes.spines.top": False, "axes.spines.right": False, "legend.frameon": False,
    "lines.linewidth": 1.8, "lines.markersize": 5, "axes.prop_cycle": matplotlib.cycler(
        color=[PALETTE[c] for c in ("blue", "vermillion", "green", "orange", "purple", "sky")]),
}


def method_style(method: str, index: int = 0) -> dict:
    """Line properties (``color``, ``linestyle``, ``marker``) for a method name; other labels (e.g.
    "mu = 0.5") get the ``index``-th fallback style."""
    if not isinstance(method, str):
        raise TypeError(f"method must be a method name or a curve label (str), got {method!r}")
    if isinstance(index, bool) or not isinstance(index, numbers.Integral):
        raise TypeError(f"index must be an int (which fallback style), got {index!r}")
    if method in METHOD_STYLES:
        return dict(METHOD_STYLES[method])
    return dict(_FALLBACK[index % len(_FALLBACK)])


def _curve(name: str, values) -> np.ndarray:
    """Values to plot as floats (NaN allowed: not drawn); labels or complex numbers are refused."""
    if np.iscomplexobj(values):
        raise TypeError(f"{name} must hold real numbers, got complex values")
    try:
        return np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must hold real numbers to plot, got {np.asarray(values).dtype} values") from None


def _axes(ax) -> None:
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes to draw on (e.g. from gbml.book.plotting.figure()), got {type(ax).__name__}")


def style_context():
    """A context manager applying the book's rcParams in a block (free when ``use_style()`` applied them)."""
    if all(matplotlib.rcParams[key] == value for key, value in _RC.items()):
        return contextlib.nullcontext()
    return matplotlib.rc_context(_RC)


def use_style() -> None:
    """Apply the book's matplotlib style globally; in a notebook, inline figures also keep their full size
    (no ``bbox_inches="tight"``): a figure of ``FIGSIZE`` is as many pixels as an explorer frame."""
    matplotlib.rcParams.update(_RC)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with every notebook
        return
    if get_ipython() is not None and "inline" in matplotlib.get_backend():
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("png", bbox_inches=None)


def check_layout(figsize=None, nrows=1, ncols=1, dpi=None) -> tuple:
    """Check a figure's size (inches; None: the book's), grid and dpi; returns (figsize, nrows, ncols)."""
    figsize = FIGSIZE if figsize is None else figsize
    ok = isinstance(figsize, (tuple, list)) and len(figsize) == 2 and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and 0 < v < 1000 for v in figsize)
    if not ok:
        raise ValueError(f"figsize must be (width, height) in inches, two numbers > 0 (and < 1000), got {figsize!r}")
    nrows, ncols = _checks.positive_int("nrows", nrows), _checks.positive_int("ncols", ncols)
    if dpi is not None and (isinstance(dpi, bool) or not isinstance(dpi, numbers.Real) or not 0 < dpi <= 2000):
        raise ValueError(f"dpi must be a number > 0 (dots per inch, at most 2000), got {dpi!r}")
    return tuple(float(v) for v in figsize), nrows, ncols


def figure(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
    """``(fig, ax)`` like ``plt.subplots``: a new figure in the book's style, through pyplot (so it shows inline
    in a notebook; explorers make theirs without pyplot).  ``figsize``: two numbers > 0 (inches)."""
    import matplotlib.pyplot as plt

    figsize, nrows, ncols = check_layout(figsize, nrows, ncols, kwargs.get("dpi"))
    use_style()
    fig, ax = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", **kwargs)
    _style_axes(ax)
    return fig, ax


def _style_axes(ax):
    for a in np.atleast_1d(ax).ravel():
        a.grid(True, alpha=_RC["grid.alpha"])
        a.spines[["top", "right"]].set_visible(False)


def _as_histories(histories) -> dict:
    """``histories`` as a non-empty dict label -> History (a History or a list: labelled by method)."""
    if isinstance(histories, History):
        histories = [histories]
    if isinstance(histories, Mapping):
        runs = dict(histories)
    elif isinstance(histories, Sequence):
        runs = {}
        for i, h in enumerate(histories):
            label = getattr(h, "method", i)  # a non-History is refused below
            runs[label if label not in runs else f"{label} ({len(runs)})"] = h
    else:
        raise TypeError("histories must be a History, a list of them or a dict label -> History, "
                        f"got {type(histories).__name__}")
    if not runs:
        raise ValueError("histories must contain at least one run")
    for label, h in runs.items():
        if not isinstance(h, History):
            raise TypeError(f"histories[{label!r}] must be a gbml.History, got {type(h).__name__}")
    return runs


def plot_distance(ax: Axes, histories, *, predicted_rate: float | None = None, anchor: float = 0.1,
                  floor: float = 1e-16, legend: bool = True) -> Axes:
    """Distance ``dist(B_s, B*)`` against the iteration s, on a log axis.

    ``histories``: a History, a list of them or a dict label -> History (a label that is a method name gets
    its style and book name).  ``predicted_rate`` in (0, 1) draws ``c * rate**s`` (dashed grey), anchored
    where the first curve first drops below ``anchor`` (else at its start); values below ``floor`` are
    clipped to it.  A diverged run is drawn up to its last finite iterate, with a message.
    """
    _axes(ax)
    runs = _as_histories(histories)
    if predicted_rate is not None:
        rate = _checks.real("predicted_rate", predicted_rate)
        if not 0 < rate < 1:
            raise ValueError(f"predicted_rate must lie in (0, 1), got {predicted_rate}")
    anchor = _checks.real("anchor", anchor, low=0.0, strict_low=True)
    floor = _checks.real("floor", floor, low=0.0, strict_low=True)
    diverged = []
    for i, (label, h) in enumerate(runs.items()):
        style = method_style(label if label in METHOD_STYLES else h.method if len(runs) == 1 else label, i)
        d = _curve(f"histories[{label!r}].distance", h.distance)
        s = np.arange(len(d))
        ok = np.isfinite(d)
        if ok.any():
            ax.semilogy(s[ok], np.clip(d[ok], floor, None), label=LABELS.get(label, label),
                        markevery=max(1, len(d) // 8), **style)
        if h.diverged_at is not None:
            diverged.append(h)
    if predicted_rate is not None:
        first = next(iter(runs.values()))
        d = np.asarray(first.distance, dtype=float)
        below = np.flatnonzero(np.isfinite(d) & (d <= anchor))
        s0 = int(below[0]) if below.size else 0
        if np.isfinite(d[s0]) and d[s0] > 0:
            s = np.arange(s0, len(d))
            ax.semilogy(s, np.clip(d[s0] * rate ** (s - s0), floor, None), color="0.45", linestyle=(0, (4, 3)),
                        linewidth=1.4, label=f"predicted rate {rate:.4g}")
    ax.set_xlabel("iteration s")
    ax.set_ylabel(r"$\mathrm{dist}(B_s, B^*)$")
    return _finish(ax, diverged[0] if diverged else None, legend)


def plot_angles(ax: Axes, history: History, *, degrees: bool = True, legend: bool = True) -> Axes:
    """Principal angles between ``col(B_s)`` and ``col(B*)`` against the iteration, one line per angle (the
    largest, whose sine is the distance, solid)."""
    _axes(ax)
    if not isinstance(history, History):
        raise TypeError(f"history must be a gbml.History, got {type(history).__name__}")
    A = _curve("history.angles", history.angles)
    if A.ndim != 2:
        raise ValueError(f"history.angles must have shape (T+1, k), got {A.shape}")
    if degrees:
        A = np.degrees(A)
    s = np.arange(len(A))
    k = A.shape[1]
    for j in range(k - 1, -1, -1):
        style = _FALLBACK[(k - 1 - j) % len(_FALLBACK)]
        name = "largest" if j == k - 1 else "smallest" if j == 0 else f"angle {j + 1}"
        ok = np.isfinite(A[:, j])
        ax.plot(s[ok], A[ok, j], label=f"$\\zeta_{j + 1}$ ({name})", markevery=max(1, len(s) // 8), **style)
    ax.set_xlabel("iteration s")
    ax.set_ylabel("principal angle" + (" (degrees)" if degrees else " (radians)"))
    ax.set_ylim(bottom=0, top=92 if degrees else np.pi / 2 * 1.02)
    return _finish(ax, history if history.diverged_at is not None else None, legend)


def _finish(ax, diverged: History | None, legend: bool) -> Axes:
    """The end of a plot: the book's style, the message of a diverged run (above any curves), a message on
    empty axes, the legend."""
    _style_axes(ax)
    if diverged is not None:
        show_divergence(ax, diverged, overlay=bool(ax.lines))
    ensure_not_blank(ax)
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="best")
    return ax


_MESSAGE_BOX = dict(boxstyle="round,pad=0.4", facecolor="#FFF4E0", edgecolor=PALETTE["orange"])


def show_message(ax: Axes, text: str, *, overlay: bool = False) -> Axes:
    """Write a readable message on the axes (instead of an empty or broken plot): in their middle, ticks and
    frame removed, or with ``overlay=True`` (curves are drawn) *above* them, so it never covers a curve."""
    _axes(ax)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not overlay:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11,
                wrap=True, bbox=dict(_MESSAGE_BOX, boxstyle="round,pad=0.6"))
        return ax
    ax.text(0.0, 1.03, text, transform=ax.transAxes, ha="left", va="bottom", fontsize=9,
            clip_on=False, bbox=_MESSAGE_BOX)
    fig = ax.figure
    if fig is not None and fig.get_layout_engine() is None:
        lines = text.count("\n") + 1
        top = 1 - (0.2 + 0.18 * lines) / fig.get_figheight()  # inches: padding + one line at 9 pt
        top = min(top, fig.subplotpars.top)
        fig.subplots_adjust(top=top)
    # Constrained layout does not count axes texts: a title of the same height reserves the room.
    elif fig is not None:
        ax.set_title("\n" * text.count("\n") + " ", fontsize=9, pad=8)
    return ax


_HINT = contextvars.ContextVar("gbml_divergence_hint", default=None)


@contextlib.contextmanager
def divergence_hint(hint: str | None):
    """Within the block, divergence messages end with ``hint`` (``""``: none; ``None``: the default "try a
    smaller β"), so an explorer's message names only controls it has."""
    if hint is not None and not isinstance(hint, str):
        raise TypeError(f"hint must be a str (\"\" for no hint) or None, got {type(hint).__name__}")
    token = _HINT.set(hint)
    try:
        yield
    finally:
        _HINT.reset(token)


def show_divergence(ax: Axes, iteration=None, *, method: str | None = None, beta: float | None = None,
                    overlay: bool = False) -> Axes:
    """The book's message for a run that blew up: "... diverged at iteration N — try a smaller β" (inside
    ``divergence_hint(...)``, its hint); ``iteration``: an int, a History or a ``gbml.DivergenceError``."""
    if isinstance(iteration, DivergenceError):
        err = iteration
        iteration, method = err.iteration, method or err.method
        beta = err.history.beta if beta is None else beta
    elif isinstance(iteration, History):
        h = iteration
        iteration, method, beta = h.diverged_at, method or h.method, h.beta if beta is None else beta
    _axes(ax)
    if iteration is not None and (isinstance(iteration, bool) or not isinstance(iteration, numbers.Integral)):
        raise TypeError(f"iteration must be an int, a History or a DivergenceError, got {iteration!r}")
    if method is not None and not isinstance(method, str):
        raise TypeError(f"method must be a str, got {method!r}")
    if beta is not None:
        beta = _checks.real("beta", beta, low=0.0, strict_low=True)
    who = f"{LABELS.get(method, method)} " if method else "This run "
    at = f" at iteration {iteration}" if iteration is not None else ""
    hint = _HINT.get()
    if hint is None:
        hint = f"try a smaller β (here β = {beta:g})" if beta is not None else "try a smaller β"
    elif "{beta" in hint:
        hint = hint.format(beta=beta) if beta is not None else hint.split(" (")[0]
    tail = f" — {hint}." if hint else "."
    return show_message(ax, f"{who}diverged{at}:\nthe iterates blew up{tail}", overlay=overlay)


def fit_log_ylim(ax: Axes, *, top: float | None = None) -> Axes:
    """Fit a log y-axis to the finite positive data of the axes' lines (instead of fixed limits): from the
    power of ten just below the smallest value to a little above the largest (or ``top``, if higher)."""
    values = [np.asarray(line.get_ydata(), dtype=float) for line in ax.lines]
    values = np.concatenate([v[np.isfinite(v) & (v > 0)] for v in values] or [np.empty(0)])
    if values.size == 0:
        return ax
    low = 10.0 ** np.floor(np.log10(values.min()))
    high = max(values.max() * 1.6, top or 0.0, low * 10)
    ax.set_ylim(low, high)
    return ax


def ensure_not_blank(ax: Axes, text: str = "Nothing to show for these parameters.") -> Axes:
    """If the axes hold no finite data, write ``text`` on them so a figure is never silently empty."""
    has_data = any(np.isfinite(np.asarray(line.get_ydata(), dtype=float)).any() for line in ax.lines)
    has_data = has_data or bool(ax.collections) or bool(ax.patches) or bool(ax.images) or bool(ax.texts)
    if not has_data:
        show_message(ax, text)
    return ax


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _power_of_ten(value, _pos=None) -> str:
    """Tick label ``10⁻³`` (``0.2``, or ``2×10⁻³`` outside 0.01-100) in plain Unicode (mathtext is slow)."""
    if not value > 0:
        return ""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = value / 10.0 ** exponent
    if abs(mantissa - round(mantissa)) > 1e-6 or round(mantissa) not in (1, 2, 5):
        return ""
    power = "10" + str(exponent).translate(_SUPERSCRIPT)
    if round(mantissa) == 1:
        return power
    if -2 <= exponent <= 1:  # 0.02, 0.5, 20: as short as a power of ten
        return f"{round(mantissa) * 10.0 ** exponent:g}"
    return f"{round(mantissa)}×{power}"


def fast_log_ticks(ax: Axes) -> Axes:
    """Give the log axes of ``ax`` plain-text power-of-ten labels and no minor ticks (a live redraw three
    times faster than mathtext); an axis spanning under three powers is also labelled at 2 and 5 times."""
    from matplotlib import ticker

    for axis, scale, limits in ((ax.xaxis, ax.get_xscale(), ax.get_xlim()),
                                (ax.yaxis, ax.get_yscale(), ax.get_ylim())):
        if scale == "log":
            low, high = sorted(limits)
            if low > 0 and np.floor(np.log10(high) + 1e-9) - np.ceil(np.log10(low) - 1e-9) + 1 < 3:
                axis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ticker.FuncFormatter(_power_of_ten))
            axis.set_minor_locator(ticker.NullLocator())
    return ax


def to_png(fig: Figure, dpi: int = DPI, *, compress_level: int = 6, palette: bool = False) -> bytes:
    """PNG bytes of a figure.  ``compress_level`` (0-9, zlib) trades bytes for time, never pixels;
    ``palette=True`` keeps at most 256 colours (Pillow's maximum-coverage quantizer): a line figure looks the
    same at a quarter of the bytes, for tens of milliseconds more (stored explorer frames)."""
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure (e.g. from plotting.figure()), got {type(fig).__name__}")
    check_layout(dpi=dpi)
    if isinstance(compress_level, bool) or not isinstance(compress_level, numbers.Integral) or not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level must be an int from 0 to 9, got {compress_level!r}")
    if not isinstance(palette, bool):
        raise TypeError(f"palette must be True or False, got {palette!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, pil_kwargs={"compress_level": 0 if palette else int(compress_level)})
    if not palette:
        return buf.getvalue()
    from PIL import Image

    with Image.open(buf) as image:
        quantized = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MAXCOVERAGE)
    out = io.BytesIO()
    quantized.save(out, format="png", compress_level=int(compress_level))
    return out.getvalue()


# Inch margins (left, right, bottom, top) and row/column gaps of a grid frame (constrained layout's).
_FRAME_MARGINS = (0.67, 0.18, 0.48, 0.07)
_FRAME_GAPS = (0.57, 0.85)


def _grid_margins(figsize, nrows: int, ncols: int) -> dict:
    """``subplots_adjust`` keywords placing an ``nrows`` x ``ncols`` grid with the fixed inch margins."""
    width, height = figsize
    left, right, bottom, top = _FRAME_MARGINS
    hgap, wgap = _FRAME_GAPS
    axes_h = (height - bottom - top - (nrows - 1) * hgap) / nrows
    axes_w = (width - left - right - (ncols - 1) * wgap) / ncols
    if axes_h <= 0 or axes_w <= 0:
        raise ValueError(f"figsize {tuple(figsize)} is too small for {nrows} x {ncols} axes with the frame's margins")
    return dict(left=left / width, right=1 - right / width, bottom=bottom / height, top=1 - top / height,
                hspace=hgap / axes_h, wspace=wgap / axes_w)


def _axes_state(ax) -> dict:
    """What ``Axes.clear`` leaves as it was (tick settings, shape, colours, spines)."""
    return dict(
        ticks=[dict(kw) for axis in (ax.xaxis, ax.yaxis) for kw in (axis._major_tick_kw, axis._minor_tick_kw)],
        aspect=ax.get_aspect(), adjustable=ax.get_adjustable(), anchor=ax.get_anchor(),
        box_aspect=ax.get_box_aspect(), facecolor=ax.get_facecolor(), frame_on=ax.get_frame_on(),
        axisbelow=ax.get_axisbelow(), zorder=ax.get_zorder(), alpha=ax.get_alpha(), visible=ax.get_visible(),
        navigate=ax.get_navigate(), label=ax.get_label(),
        spines=[(sp.get_visible(), sp.get_edgecolor(), sp.get_linewidth(), sp.get_linestyle(), sp.get_bounds(),
                 sp.get_alpha(), sp.get_zorder()) for sp in ax.spines.values()])


def _cleared_axes(fig: Figure, nrows: int, ncols: int):
    """The axes of the last frame drawn on ``fig``, cleared for the next one but keeping their ticks (making
    them is a third of a live frame); None (make new axes) when the last frame added or removed axes, drew on
    the figure, or changed what ``Axes.clear`` does not undo (``_axes_state``; the aspect is put back).  The
    kept ticks are the ones new axes would make: tests compare live frames with new axes', byte for byte."""
    axes, made = getattr(fig, "_gbml_axes", None), getattr(fig, "_gbml_made", None)
    flat = list(np.atleast_1d(axes).ravel()) if axes is not None else []
    if len(flat) != nrows * ncols or fig.axes != flat:
        return None
    if fig.texts or fig.legends or fig.lines or fig.patches or fig.images or fig.artists:
        return None
    for ax, state in zip(flat, made):
        for axis in (ax.xaxis, ax.yaxis):
            axis.reset_ticks = lambda: None
        try:
            ax.clear()
        finally:
            del ax.xaxis.reset_ticks, ax.yaxis.reset_ticks
        _style_axes(ax)
        ax.set_aspect(state["aspect"], adjustable=state["adjustable"], anchor=state["anchor"])  # e.g. "equal"
        ax.set_box_aspect(state["box_aspect"])
        if _axes_state(ax) != state:
            return None
    return axes


def frame_figure(figsize=None, nrows: int = 1, ncols: int = 1, dpi: int = DPI, *, reuse: Figure | None = None):
    """``(fig, axes)``: a figure outside pyplot in the book's style, for explorer frames: fixed margins, no
    layout engine (too slow live).  ``reuse``, a figure of an earlier call with the same arguments, is drawn
    again on its cleared axes (``_cleared_axes``): the same frame, ~10 ms sooner per axes."""
    figsize = tuple(figsize or FIGSIZE)
    with style_context():
        axes = _cleared_axes(reuse, nrows, ncols) if reuse is not None else None
        if axes is None:
            if reuse is None:
                fig = Figure(figsize=figsize, dpi=dpi)
                FigureCanvasAgg(fig)
            else:
                fig = reuse
                fig.clear()  # artists, axes, legends and texts; size and dpi stay as made
            axes = fig.subplots(nrows, ncols)
            _style_axes(axes)
            fig._gbml_axes, fig._gbml_made = axes, [_axes_state(ax) for ax in np.atleast_1d(axes).ravel()]
        else:
            fig = reuse
    if nrows * ncols == 1:
        fig.subplots_adjust(left=0.12, right=0.97, bottom=0.15, top=0.95)
    else:
        fig.subplots_adjust(**_grid_margins(figsize, nrows, ncols))
    return fig, axes
