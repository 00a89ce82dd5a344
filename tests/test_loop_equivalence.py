"""The one batched training loop returns, bit for bit, what the three loops before it returned.

tests/data/loop_outputs.npz was written by tests/make_loop_fixture.py on the code before issue 20 (``train``'s
own loop for a custom gradient or objective and the sampled average loss, ``train_runs``' vectorised loop,
``beyond.train_variants``' loop).  Every case of that script is re-run here and compared with np.array_equal:
every method of gbml.METHODS in population and finite samples, pools, a custom gradient and objective,
snapshots, bodies of k' != k columns, train_runs with mixed methods and steps, the variants of chapter 9, and
runs that diverge (blow-up, non-finite loss or gradient, rank loss, an overflowing start), stopped or raised.
"""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from make_loop_fixture import FIELDS, cases, flatten, outcome

FIXTURE = np.load(pathlib.Path(__file__).parent / "data" / "loop_outputs.npz")
META = json.loads(str(FIXTURE["__meta__"]))
CASES = cases()


def test_every_case_is_recorded():
    assert set(CASES) == set(META)
    kinds = {m["kind"] for m in META.values()}
    assert kinds == {"histories", "divergence", "error"}  # the fixture covers raised divergences and errors
    assert sum(run["diverged_at"] is not None for m in META.values() for run in m.get("runs", [])) >= 20


@pytest.mark.parametrize("name", sorted(META))
def test_same_outputs_bit_for_bit(name):
    arrays, meta = flatten(name, outcome(CASES[name]))
    assert meta == META[name]
    expected = {key: FIXTURE[key] for key in FIXTURE.files if key.startswith(name + "/")}
    assert set(arrays) == set(expected)
    for key, value in expected.items():
        assert arrays[key].shape == value.shape and np.array_equal(arrays[key], value), key
    assert all(key.rsplit("/", 1)[1] in FIELDS for key in arrays)
