"""Helpers for chapters that must also run as plain notebooks outside the book build."""
from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False):
    """Record ``value`` (a number; numpy scalars are converted) under ``name`` for ``{glue:text}`name``` in the book's prose.

    Uses ``myst_nb.glue`` when it is installed (the book build); in a plain Jupyter session without
    myst-nb it does nothing, so a downloaded chapter notebook runs top to bottom.  Returns None (so a glue call ending a cell
    prints nothing).
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return None
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()  # numpy scalars print as np.float64(...), which {glue:text} cannot format
    _glue(name, value, display=display)
