"""Reference routines a checker can make unavailable while it runs a learner's answer.

``gbml`` holds the reference answer of every coding exercise, so a learner's function that calls it
would pass its checker.  Each such routine is decorated with :func:`reference`.  While
:func:`forbidden` is active for a routine's name (in the current context), calling it records the call
and raises :class:`ReferenceCalled`, whichever way the learner reached it (``gbml.x``, an earlier
``from gbml import x``, or another gbml routine that calls it).  Outside that window it runs as usual.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools

_FORBIDDEN: contextvars.ContextVar = contextvars.ContextVar("gbml_forbidden_references", default=None)
_NAMES: set[str] = set()  # every routine decorated with reference()
_OPEN = [0]  # forbidden() blocks open in any context: while none is, a reference routine costs one list lookup


class ReferenceCalled(RuntimeError):
    """A learner's answer called the gbml routine that its exercise asks them to write."""


def reference(name: str):
    """Decorator: the routine is the reference answer ``name`` (as learners call it) of some exercise."""
    _NAMES.add(name)

    def decorate(fn):
        @functools.wraps(fn)
        def guarded(*args, **kwargs):
            if _OPEN[0]:  # some checker is running: is this routine forbidden in this context?
                state = _FORBIDDEN.get()
                if state is not None and name in state[0]:
                    state[1].append(name)
                    raise ReferenceCalled(f"your function calls gbml's reference {name}; write it yourself")
            return fn(*args, **kwargs)

        return guarded

    return decorate


@contextlib.contextmanager
def forbidden(names):
    """Within the block, the reference routines ``names`` raise; yields the list of names called."""
    unknown = set(names) - _NAMES
    if unknown:
        raise ValueError(f"no gbml reference routine is named {', '.join(sorted(unknown))}; known: {sorted(_NAMES)}")
    calls: list[str] = []
    token = _FORBIDDEN.set((frozenset(names), calls))
    _OPEN[0] += 1
    try:
        yield calls
    finally:
        _OPEN[0] -= 1
        _FORBIDDEN.reset(token)
