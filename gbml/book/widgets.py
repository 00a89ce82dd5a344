"""Explorers: a figure with one or two sliders, live in a kernel and still working in the static book.

A chapter hands :func:`explore` a plotting function ``plot(ax, **values)`` and the parameters a reader may
vary.  ``mode`` (else ``GBML_EXPLORER``): ``"live"`` (every slider move redraws, for values between the
grid's too) or ``"static"`` (the book build: a frame per grid point in a ``widgets.Stack``, nested for two
parameters, linked to the sliders by ``widgets.jslink``, so it works with no kernel).  A live explorer draws
nothing until it is shown; then ``prepare`` (if given) computes every slider position's data first, so that
moving a slider only draws, and an explorer that is never shown (a problem set's hidden set-up) costs
nothing.  Every frame has alt text naming the values; a ``<noscript>`` default frame and the caption follow
the widget.  Budget (checked by ``make bench`` and the tests): a live update within 100 ms, at most 1.5 MB
added to a page when static.
"""
from __future__ import annotations

import html
import inspect
import itertools
import json
import numbers
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import traitlets
import matplotlib
from IPython.display import HTML, Javascript, display

from .. import _checks
from ..training import DivergenceError
from . import plotting
from ._glue import img_html

__all__ = ["Param", "Explorer", "explore", "EXPLORERS", "MAX_FRAMES"]

#: Every explorer created in this process, oldest first (tests drive them inside the kernel).
EXPLORERS: list["Explorer"] = []
#: Upper bound on precomputed frames per explorer (keeps a page within its size budget).
MAX_FRAMES = 64
_STYLE = {"description_width": "initial"}  # a slider's label at full length


@dataclass
class Param:
    """A parameter the reader may vary: ``values``, the grid of the static book (at least 2 distinct, all
    numbers or all labels); ``default``, one of them (the middle one if omitted); ``label``, the slider's
    (the name if omitted); ``step``, a live slider's resolution (1 for ints, else 1/100 of the range:
    ``positions()``); ``fmt``, a value's format in the static slider and alt text, e.g. "{:.2f}"."""

    values: Sequence
    default: object = None
    label: str | None = None
    step: float | None = None
    fmt: str = "{:g}"

    def __post_init__(self):
        self.values = _checks.grid("values", self.values)
        if self.step is not None and (not self.numeric or isinstance(self.step, bool)
                                      or not isinstance(self.step, numbers.Real) or not 0 < self.step < float("inf")):
            raise ValueError(f"step must be a number > 0 (for a numeric grid), got {self.step!r}")
        if self.step is not None and self.integer and self.step != int(self.step):
            raise ValueError(f"step must be a whole number for a grid of ints, got {self.step!r}")
        if not isinstance(self.fmt, str):
            raise TypeError(f"fmt must be a format string such as '{{:.2f}}', got {self.fmt!r}")
        try:
            self.fmt.format(self.values[0])
        except (KeyError, IndexError, AttributeError):
            raise ValueError(f"fmt must format one value with a positional field such as '{{:.2f}}', got {self.fmt!r}") from None
        except (ValueError, TypeError):
            pass  # e.g. '{:g}' on a label: format() falls back to str
        if self.default is None:
            self.default = self.values[len(self.values) // 2]
        if self.default not in self.values:
            raise ValueError(f"default must be one of the grid values {self.values!r}, got {self.default!r}")

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in self.values)

    @property
    def integer(self) -> bool:
        return all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in self.values)

    def positions(self) -> list:
        """The values a live slider takes: ``min + i * step`` up to ``max`` (rounded to 12 decimals, so
        ``0.5 + 5 * 0.1`` is 1.0) and the grid values, sorted; the grid values alone if not numeric."""
        if not self.numeric:
            return list(self.values)
        lo, hi = min(self.values), max(self.values)
        if self.integer:
            step = int(self.step or 1)
            lattice = range(lo, hi + 1, step)
        else:
            step = self.step or (hi - lo) / 100
            lattice = (round(lo + i * step, 12) for i in range(int(round((hi - lo) / step, 9)) + 1))
        return sorted({*lattice, *self.values})

    def format(self, value) -> str:
        try:
            return self.fmt.format(value)
        except (ValueError, TypeError):
            return str(value)


class _GridSlider(widgets.SelectionSlider):
    """The slider of a static explorer: a value off its grid (no frame) is a ValueError naming the parameter."""

    param = "value"

    @traitlets.validate("value")
    def _validate_value(self, proposal):
        try:
            return super()._validate_value(proposal)
        except traitlets.TraitError:
            grid = [value for _, value in self.options]
            raise ValueError(f"{self.param} must be one of the grid values {grid!r} in a static explorer (it has a "
                             f"frame for those only), got {proposal.value!r}") from None


# Accessibility (ipywidgets names no slider handle), once per page in the book and in Jupyter: each slider
# handle gets the control's description as its name and "description = value" as aria-valuetext, and the
# explorer's status line, a polite live region, gets the shown frame's alt text when the frame changes.
_A11Y_JS = """(() => {
  if (window.gbmlExplorerA11y) return;
  window.gbmlExplorerA11y = true;
  const seen = new WeakMap();
  const set = (el, name, value) => { if (el.getAttribute(name) !== value) el.setAttribute(name, value); };
  const refresh = (ex) => {
    for (const s of ex.querySelectorAll('.widget-slider')) {
      const handle = s.querySelector('.noUi-handle[role="slider"]');
      const label = s.querySelector('.widget-label');
      const readout = s.querySelector('.widget-readout');
      if (!handle || !label || !label.textContent.trim()) continue;
      const name = label.textContent.trim();
      set(handle, 'aria-label', name);
      if (readout) set(handle, 'aria-valuetext', name + ' = ' + readout.textContent.trim());
    }
    const live = ex.querySelector('.gbml-live');
    const img = [...ex.querySelectorAll('img.gbml-frame')].find(i => i.getClientRects().length);
    if (!live || !img) return;
    set(live, 'role', 'status');
    set(live, 'aria-live', 'polite');
    if (!seen.has(ex)) { seen.set(ex, img.alt); return; }
    if (seen.get(ex) === img.alt) return;
    seen.set(ex, img.alt);
    const box = live.querySelector('.widget-html-content') || live;
    if (box.textContent !== img.alt) box.textContent = img.alt;
  };
  const all = () => document.querySelectorAll('.gbml-explorer').forEach(refresh);
  new MutationObserver(all).observe(document.documentElement,
    {subtree: true, childList: true, characterData: true, attributes: true});
  all();
})();"""


class Explorer:
    """A figure drawn by ``plot`` with a slider per parameter (see the module docstring).

    ``plot(ax, **values)`` draws on the Axes (an array of them if ``nrows * ncols > 1``) without making a
    figure; a ``gbml.DivergenceError`` it raises is drawn as the divergence message.  ``params``: one or two
    arguments of ``plot``, name -> :class:`Param` or list of grid values.  ``caption``: one sentence shown
    under the figure; ``alt``: what is plotted (each frame's values are appended).  ``mode``: "live",
    "static" or None (``GBML_EXPLORER``, else "live").  ``prepare(**values)``: called for every position of
    the sliders (every combination) before the first frame is drawn, e.g. to train and cache the runs a frame
    draws.  Layout defaults are the book's.

    Setting ``controls[name].value`` redraws (live) or selects a frame (static), as a reader would; ``png``
    is the PNG shown now, ``frames`` (static) the PNG of every grid point, keyed by the tuple of values.
    """

    def __init__(self, plot: Callable, params: Mapping, *, caption: str, alt: str, mode: str | None = None,
                 prepare: Callable | None = None, figsize=None, dpi: int = plotting.DPI, nrows: int = 1,
                 ncols: int = 1):
        if not callable(plot):
            raise TypeError(f"plot must be a function plot(ax, **values), got {type(plot).__name__}")
        if prepare is not None and not callable(prepare):
            raise TypeError(f"prepare must be a function prepare(**values) or None, got {type(prepare).__name__}")
        if not isinstance(params, Mapping) or not 1 <= len(params) <= 2:
            raise ValueError("params must be a dict of one or two parameters: name -> Param or list of values")
        self.params = {}
        for name, p in params.items():
            try:
                self.params[name] = p if isinstance(p, Param) else Param(p)
            except (TypeError, ValueError) as err:
                raise type(err)(f"params[{name!r}]: {err} (give a list of grid values or a widgets.Param)") from None
        sig = inspect.signature(plot).parameters
        accepts_kwargs = any(p.kind is p.VAR_KEYWORD for p in sig.values())
        for name in self.params:
            if name not in sig and not accepts_kwargs:
                raise ValueError(f"params: plot() has no argument named {name!r}")
        if not isinstance(caption, str) or not caption.strip():
            raise ValueError("caption must be a non-empty sentence saying what the figure shows")
        if not isinstance(alt, str) or not alt.strip():
            raise ValueError("alt must be a non-empty description of what is plotted")
        mode = mode or os.environ.get("GBML_EXPLORER", "live")
        if mode not in ("live", "static"):
            raise ValueError(f"mode must be 'live' or 'static' (or set GBML_EXPLORER), got {mode!r}")
        self.plot, self.caption, self.alt, self.mode = plot, caption.strip(), alt.strip(), mode
        self.figsize, self.nrows, self.ncols = plotting.check_layout(figsize, nrows, ncols, dpi)
        self.dpi = dpi
        self.defaults = {name: p.default for name, p in self.params.items()}
        self._figure = self._png = self._default_png = None
        self._prepare = prepare
        if mode == "static":
            self._build_static()
        else:
            self._build_live()
        EXPLORERS.append(self)

    # -- rendering -------------------------------------------------------------------------------
    def alt_text(self, values: Mapping) -> str:
        """The alt text of the frame for ``values``: what is plotted, then every parameter value."""
        settings = ", ".join(f"{self.params[n].label or n} = {self.params[n].format(v)}" for n, v in values.items())
        return f"{self.alt} ({settings})"

    def render(self, **values) -> bytes:
        """PNG of the figure for ``values`` (missing ones: the defaults); a palette PNG when static."""
        values = {**self.defaults, **values}
        fig, axes = plotting.frame_figure(self.figsize, self.nrows, self.ncols, self.dpi, reuse=self._figure)
        self._figure = fig  # every frame of this explorer is drawn on the same figure, cleared
        with plotting.style_context(), plotting.divergence_hint(self._divergence_hint()):
            try:
                self.plot(axes, **values)
            except DivergenceError as err:
                for ax in fig.axes[1:]:
                    fig.delaxes(ax)
                fig.axes[0].clear()
                plotting.show_divergence(fig.axes[0], err)
            for ax in fig.axes:
                plotting.ensure_not_blank(ax)
                plotting.fast_log_ticks(ax)
            if self.mode == "live":
                return plotting.to_png(fig, self.dpi, compress_level=1)
            return plotting.to_png(fig, self.dpi, palette=True)

    def _divergence_hint(self) -> str:
        """The hint of a divergence message: move the β slider if there is one, else no hint."""
        return "try a smaller β (here β = {beta:g})" if "beta" in self.params else ""

    @property
    def png(self) -> bytes:
        """The PNG shown now (a live explorer that has drawn nothing yet draws its default frame)."""
        if self._png is None:
            self._draw(self.defaults)
        return self._png

    def _prepared(self):
        """Call ``prepare`` once, for every combination of the sliders' positions (:meth:`positions`)."""
        prepare, self._prepare = self._prepare, None
        if prepare is not None:
            for values in itertools.product(*map(self.positions, self.params)):
                prepare(**dict(zip(self.params, values)))

    def _frame(self, values) -> widgets.HTML:
        """Render the frame for ``values``, keep its PNG in ``self.frames`` and return it as an <img>."""
        key = tuple(values.values())
        self.frames[key] = self.render(**values)
        return widgets.HTML(img_html(self.frames[key], self.alt_text(values), "gbml-frame"))

    def _assemble(self, figure):
        """``self.widget``: the controls, the figure and a status line (``self.live``, visually hidden: 1 px,
        clipped) that announces each new frame's alt text."""
        hidden = widgets.Layout(width="1px", height="1px", overflow="hidden", margin="0")
        self.live = widgets.HTML("", layout=hidden)
        self.live.add_class("gbml-live")
        self.widget = widgets.VBox([widgets.HBox(list(self.controls.values())), figure, self.live])
        self.widget.add_class("gbml-explorer")

    # -- live ------------------------------------------------------------------------------------
    def _build_live(self):
        self.controls = {}
        for name, p in self.params.items():
            common = dict(value=p.default, description=p.label or name, style=_STYLE)
            lo, hi = (min(p.values), max(p.values)) if p.numeric else (None, None)
            if not p.numeric:
                c = widgets.Dropdown(options=[(p.format(v), v) for v in p.values], **common)
            elif p.integer:
                c = widgets.IntSlider(min=lo, max=hi, step=int(p.step or 1), continuous_update=False,
                                      **common)
            else:
                c = widgets.FloatSlider(min=lo, max=hi, step=p.step or (hi - lo) / 100,
                                        continuous_update=False, readout_format=".3g", **common)
            c.observe(self._on_change, names="value")
            self.controls[name] = c
        self.frame = widgets.HTML("")  # drawn when first shown (``png``)
        self._assemble(self.frame)

    def _draw(self, values):
        """Draw the frame for ``values`` (all of them) in the live figure, ``prepare`` done first."""
        self._prepared()
        self._png = self.render(**values)
        if values == self.defaults:
            self._default_png = self._png
        self.frame.value = img_html(self._png, self.alt_text(values), "gbml-frame")

    def positions(self, name: str) -> list:
        """The values the control ``name`` takes (a live slider's ``Param.positions``, else the grid): those
        ``prepare`` is called with."""
        if name not in self.params:
            raise ValueError(f"name must be one of the explorer's parameters {list(self.params)}, got {name!r}")
        p = self.params[name]
        return p.positions() if self.mode == "live" else list(p.values)

    def _on_change(self, change):
        name = next(n for n, c in self.controls.items() if c is change["owner"])
        spots = self.positions(name)
        if change["new"] not in spots:  # as dragging would: the nearest position (a dropdown's always is)
            change["owner"].value = min(spots, key=lambda v: abs(v - change["new"]))  # redraws
            return
        self.update(**{name: c.value for name, c in self.controls.items()})

    def update(self, **values):
        """Redraw for new values (live mode; what moving a slider does)."""
        if self.mode != "live":
            raise RuntimeError("update() redraws live explorers only; a static explorer selects precomputed frames")
        values = {**self.defaults, **values}
        self._draw(values)
        self.live.value = html.escape(self.alt_text(values))

    # -- static ----------------------------------------------------------------------------------
    def _build_static(self):
        names = list(self.params)
        grids = [self.params[n].values for n in names]
        count = len(grids[0]) * (len(grids[1]) if len(grids) == 2 else 1)
        if count > MAX_FRAMES:
            raise ValueError(f"params: {count} frames to precompute, more than MAX_FRAMES = {MAX_FRAMES}; use a coarser grid")
        self.controls = {}
        for name, p in self.params.items():
            self.controls[name] = _GridSlider(
                options=[(p.format(v), v) for v in p.values], value=p.default, description=p.label or name,
                continuous_update=True, style=_STYLE)
            self.controls[name].param = name
        self._prepared()
        self.frames = {}
        self.links = []  # the jslinks that make the static page respond (kept for tests)

        def stack(level, values):
            """Parameter ``level``'s stack of frames (of stacks, for the first of two), linked to its slider."""
            name, last = names[level], level == len(names) - 1
            children = [self._frame({**values, name: v}) if last else
                        stack(level + 1, {**values, name: v}) for v in grids[level]]
            out = widgets.Stack(children, selected_index=grids[level].index(self.defaults[name]))
            link = widgets.jslink((self.controls[name], "index"), (out, "selected_index"))
            self.links.append(link)
            return out

        self.stack = stack(0, {})
        for c in self.controls.values():
            c.observe(self._on_static_change, names="value")
        self._assemble(self.stack)
        self._default_png = self.frames[tuple(self.defaults.values())]
        self._on_static_change(None)

    def _on_static_change(self, change):
        # With a kernel, keep the Python side in step with the JavaScript links (and tests can read it).
        key = tuple(c.value for c in self.controls.values())
        idx = [self.params[n].values.index(v) for n, v in zip(self.params, key)]
        self.stack.selected_index = idx[0]
        if len(idx) == 2:
            self.stack.children[idx[0]].selected_index = idx[1]
        self._png = self.frames[key]
        if change is not None:  # announce a new frame, not the first one
            self.live.value = html.escape(self.alt_text(dict(zip(self.params, key))))

    # -- display ---------------------------------------------------------------------------------
    @property
    def values(self) -> dict:
        """Current parameter values, as the controls show them."""
        return {name: c.value for name, c in self.controls.items()}

    def fallback_html(self) -> str:
        """The no-JavaScript figure (the default frame) and the caption, displayed after the widget."""
        if self._default_png is None:
            self._default_png = self.render(**self.defaults)
        img = img_html(self._default_png, self.alt_text(self.defaults), "gbml-frame")
        cap = html.escape(self.caption)
        return (f'<noscript><figure class="gbml-explorer-fallback">{img}</figure></noscript>'
                f'<p class="gbml-explorer-caption"><strong>Explorer.</strong> {cap}</p>')

    def embedded_size(self) -> int:
        """Bytes this explorer adds to a rendered page: its widget state (JSON) plus the fallback HTML."""
        from ipywidgets.embed import dependency_state

        state = dependency_state([self.widget])
        return len(json.dumps(state)) + len(self.fallback_html())

    def _ipython_display_(self):
        self.png  # noqa: B018 - a live explorer prepares and draws when it is first shown
        display(self.widget)
        display(HTML(self.fallback_html()))
        display(Javascript(_A11Y_JS))

    def __repr__(self):
        return f"Explorer({', '.join(self.params)}; mode={self.mode!r})"


def explore(plot: Callable, params: Mapping, **options) -> Explorer:
    """``Explorer(plot, params, **options)``, which displays itself as the last expression of a cell."""
    return Explorer(plot, params, **options)
