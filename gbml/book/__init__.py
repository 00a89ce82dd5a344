"""gbml.book: the book's helpers, apart from the simulation core (``gbml``).

Chapters import what they use from here, e.g. ``from gbml.book import exercises, glue, plotting, widgets``:

- :mod:`~gbml.book.plotting`: the book's figures (style, distance and angle plots, divergence messages);
- :mod:`~gbml.book.widgets`: the explorers (sliders over precomputed frames, static in the rendered book);
- :mod:`~gbml.book.exercises`: the checkers of the coding exercises;
- :mod:`~gbml.book.sweeps`: parameter sweeps with a progress bar (chapters 7 and 8);
- :mod:`~gbml.book.paper`: the paper's experiments, re-run (chapter 10 and ``make reproduce``);
- :func:`glue`, :func:`show_figure` and :func:`show_source`: numbers into the prose, figures with computed
  alt text, listings of ``gbml``'s own functions.

Importing ``gbml.book`` imports only these three functions; each helper module loads when it is imported.
"""
from ._glue import glue, show_figure, show_source

__all__ = ["glue", "show_figure", "show_source"]
