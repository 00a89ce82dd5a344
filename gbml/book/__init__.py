"""gbml.book: the book's helpers, apart from the simulation core (``gbml``): :mod:`~gbml.book.plotting`
(figures), :mod:`~gbml.book.widgets` (explorers), :mod:`~gbml.book.exercises` (checkers),
:mod:`~gbml.book.sweeps` (parameter sweeps), :mod:`~gbml.book.paper` (chapter 10's experiments), and
:func:`glue`, :func:`show_figure` and :func:`show_source`, the only names importing ``gbml.book`` loads.
"""
from ._glue import glue, show_figure, show_source

__all__ = ["glue", "show_figure", "show_source"]
