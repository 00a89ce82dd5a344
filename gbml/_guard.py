"""Reference routines a checker can make unavailable while it runs a learner's answer.

While a :func:`forbidden` block is open for a routine decorated with :func:`reference`, calling it (however
reached: ``gbml.x``, an earlier import, another routine, another thread) records the call and raises
:class:`ReferenceCalled`; the decorated routine has no ``__wrapped__``.  :func:`sealed` guards any callable.
"""
from __future__ import annotations

import contextlib
import functools
import inspect

_NAMES: set[str] = set()  # every routine decorated with reference()
_OPEN: list = []  # the open forbidden() blocks, as (names, calls): while none is, a guarded call costs one test
_ANY = object()  # the name of a sealed callable: forbidden in every block


class ReferenceCalled(RuntimeError):
    """A learner's answer called the gbml routine that its exercise asks them to write."""


def _guarded(fn, name):
    def guarded(*args, **kwargs):
        for names, calls in _OPEN:  # raise (and record the call) if an open block forbids name
            if name is _ANY or name in names:
                calls.append("the checker's reference" if name is _ANY else f"gbml's reference {name}")
                raise ReferenceCalled(f"your function calls {calls[-1]}; write it yourself")
        return fn(*args, **kwargs)

    functools.update_wrapper(guarded, fn)
    del guarded.__wrapped__  # the original stays out of reach of inspect.unwrap
    guarded.__signature__ = inspect.signature(fn)  # for help(), Sphinx and IDEs
    return guarded


def reference(name: str):
    """Decorator: the routine is the reference answer ``name`` (as learners call it) of some exercise."""
    _NAMES.add(name)
    return lambda fn: _guarded(fn, name)


def sealed(fn):
    """``fn`` (a checker's reference, say), raising like a forbidden routine while any block is open."""
    return _guarded(fn, _ANY)


@contextlib.contextmanager
def forbidden(names):
    """Within the block, the reference routines ``names`` and every sealed callable raise; yields the list
    of the calls refused (such as "gbml's reference gbml.subspace_distance")."""
    unknown = set(names) - _NAMES
    if unknown:
        raise ValueError(f"no gbml reference routine is named {', '.join(sorted(unknown))}; known: {sorted(_NAMES)}")
    block = (frozenset(names), [])
    _OPEN.append(block)
    try:
        yield block[1]
    finally:
        del _OPEN[next(i for i, b in enumerate(_OPEN) if b is block)]  # this block, even if another equals it
