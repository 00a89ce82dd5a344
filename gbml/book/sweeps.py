"""Parameter sweeps for the book's experiments (chapters 7 and 8), with progress shown in a live notebook.

A sweep evaluates one function at every point of a grid and returns the results keyed by the point::

    floors = gbml.book.sweeps.sweep(lambda m_in: floor_of(m_in=m_in), {"m_in": [5, 10, 20, 40]})
    floors[10]                       # the result at m_in = 10

    table = gbml.book.sweeps.sweep(rate, {"mu": [1, 0.5], "method": ["anil", "maml"]})
    table[(0.5, "maml")]             # two or more parameters: keys are tuples in the grid's order

A sweep shows a progress bar in a live Jupyter kernel only (not in scripts, tests or the static book
build, ``GBML_EXPLORER=static``).  :func:`loglog_slope` fits the exponent of a power law ``y ~ x^p``
(chapter 8's error floor against the sample sizes).
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
    Cartesian product in order, the last parameter varying fastest.

    Examples
    --------
    >>> grid_points({"m": [5, 10], "sigma": [0.0, 1.0]})
    [{'m': 5, 'sigma': 0.0}, {'m': 5, 'sigma': 1.0}, {'m': 10, 'sigma': 0.0}, {'m': 10, 'sigma': 1.0}]
    """
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
    """Evaluate ``fn`` at every point of a grid, showing progress in a live notebook.

    Parameters
    ----------
    fn : callable
        ``fn(**point)`` for a dict grid (the product of its parameters, :func:`grid_points`), ``fn(value)``
        for a sequence of values; other settings go through a closure or ``functools.partial``.
    grid : Mapping name -> sequence, or sequence of values
    progress : bool or callable, default True
        ``True``: a progress bar labelled ``description`` in a live Jupyter kernel only; ``False``: never;
        a callable is called as ``progress(done, total, key)`` after each point.
    description : str

    Returns
    -------
    dict key -> result
        In grid order, keyed by the value (one parameter) or the tuple of values (two or more).

    Examples
    --------
    >>> sweep(lambda m, s: m * s, {"m": [1, 2], "s": [10, 20]}, progress=False)
    {(1, 10): 10, (1, 20): 20, (2, 10): 20, (2, 20): 40}
    >>> sweep(lambda x: x**2, [1, 2, 3], progress=False)
    {1: 1, 2: 4, 3: 9}
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
    # The keys are distinct and hashable (_checks.grid).
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
