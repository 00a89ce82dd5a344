"""Parameter sweeps for the book's experiments (chapters 7 and 8): one function evaluated at every point of
a grid, with a progress bar in a live Jupyter kernel only (not in scripts, tests or the static book build,
``GBML_EXPLORER=static``); :func:`loglog_slope` fits the exponent of a power law ``y ~ x^p``.
"""
from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .. import _checks

__all__ = ["grid_points", "sweep", "loglog_slope"]


def grid_points(grid) -> list[dict]:
    """Every point (a dict name -> value) of a grid, a dict name -> sequence of at least one value: the
    Cartesian product in order, the last parameter varying fastest."""
    if not isinstance(grid, Mapping) or not grid or not all(isinstance(name, str) for name in grid):
        raise TypeError("grid must be a non-empty dict name -> sequence of values, e.g. {'m_in': [5, 10, 20]}")
    names = list(grid)
    values = []
    for name in names:
        vals = grid[name]
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Sequence | np.ndarray):
            raise TypeError(f"grid[{name!r}] must be a sequence of values (a list, tuple or 1-d array), got {vals!r}")
        values.append(_checks.grid(f"grid[{name!r}]", vals, minimum=1, same_kind=False))
    return [dict(zip(names, combo)) for combo in itertools.product(*values)]


def _live_notebook() -> bool:
    """True inside a Jupyter kernel that a reader is watching (not the static book build)."""
    if os.environ.get("GBML_EXPLORER") == "static":
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of ipywidgets
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _ProgressBar:
    """An ``IntProgress`` bar with a one-line label, displayed once and updated in place."""

    def __init__(self, total: int, description: str):
        import ipywidgets as widgets
        from IPython.display import display

        self.start = time.perf_counter()
        self.bar = widgets.IntProgress(value=0, min=0, max=total, description=description,
                                       style={"description_width": "initial"})
        self.label = widgets.Label(f"0 / {total}")
        self.widget = widgets.HBox([self.bar, self.label])
        display(self.widget)

    def __call__(self, done: int, total: int, key) -> None:
        self.bar.value = done
        if done < total:
            self.label.value = f"{done} / {total} (last: {key})"
        else:
            self.bar.bar_style = "success"
            self.label.value = f"{total} / {total} done in {time.perf_counter() - self.start:.1f} s"


def sweep(fn: Callable, grid, *, progress=True, description: str = "sweep") -> dict:
    """``{key: fn(**point)}`` over the points of a dict grid (:func:`grid_points`; key: the value of its one
    parameter, else the tuple of values), or ``{value: fn(value)}`` over a sequence of values, in grid order.

    ``progress``: True, a bar labelled ``description`` in a live Jupyter kernel only; False, none; a
    callable, called as ``progress(done, total, key)`` after each point.
    """
    if not callable(fn):
        raise TypeError(f"fn must be a function of the grid's parameters, got {type(fn).__name__}")
    if not isinstance(description, str):
        raise TypeError(f"description must be a str (the progress bar's label), got {description!r}")
    if isinstance(grid, Mapping):
        points = grid_points(grid)
        single = len(grid) == 1
        calls = [((p[next(iter(p))] if single else tuple(p.values())), p, True) for p in points]
    elif isinstance(grid, Sequence | np.ndarray) and not isinstance(grid, (str, bytes)):
        calls = [(v, v, False) for v in _checks.grid("grid", grid, minimum=1, same_kind=False)]
    else:
        raise TypeError(f"grid must be a dict name -> values or a sequence of values, got {type(grid).__name__}")
    total = len(calls)
    if progress is True:
        report = _ProgressBar(total, description) if _live_notebook() else None
    elif progress is False or progress is None:
        report = None
    elif callable(progress):
        report = progress
    else:
        raise TypeError(f"progress must be True, False or a callable progress(done, total, key), got {progress!r}")
    results = {}
    for done, (key, arg, keywords) in enumerate(calls, start=1):
        results[key] = fn(**arg) if keywords else fn(arg)
        if report is not None:
            report(done, total, key)
    return results


def loglog_slope(x, y) -> float:
    """Exponent ``p`` of the least-squares power law ``y ~ c x^p``, the slope of ``log y`` against ``log x``
    (about ``-0.5`` for ``y = 3 / sqrt(x)``), from positive ``x``, ``y`` (N,) with two distinct ``x`` at least."""
    x = _checks.array("x", x, 1)
    y = _checks.array("y", y, 1, (x.size,))
    if x.size < 2 or np.unique(x).size < 2:
        raise ValueError(f"need at least two distinct x values to fit a slope, got x = {x.tolist()}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive to be drawn and fitted on log-log axes")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])
