"""gbml.book.sweeps: the grid and sweep helpers behind the parameter sweeps of chapters 7 and 8, their progress
bar, and the log-log slope."""
import numpy as np
import pytest

from gbml.book import sweeps


def test_grid_points_order_and_errors():
    assert sweeps.grid_points({"a": [1, 2], "b": ["x", "y", "z"]}) == [
        {"a": a, "b": b} for a in [1, 2] for b in ["x", "y", "z"]]
    assert sweeps.grid_points({"a": np.array([0.5, 1.0])}) == [{"a": 0.5}, {"a": 1.0}]
    with pytest.raises(TypeError, match="non-empty dict"):
        sweeps.grid_points({})
    with pytest.raises(TypeError, match="sequence of values"):
        sweeps.grid_points({"a": "abc"})
    with pytest.raises(ValueError, match="empty"):
        sweeps.grid_points({"a": []})


def test_sweep_keys_order_and_calls():
    calls = []

    def fn(m, sigma):
        calls.append((m, sigma))
        return m * 10 + sigma

    out = sweeps.sweep(fn, {"m": [1, 2], "sigma": [3, 4]}, progress=False)
    assert list(out) == [(1, 3), (1, 4), (2, 3), (2, 4)] == calls
    assert out[(2, 3)] == 23
    assert sweeps.sweep(lambda m: m**2, {"m": [3, 1]}, progress=False) == {3: 9, 1: 1}
    assert list(sweeps.sweep(lambda s: s[0], [("a", 1), ("b", 2)], progress=False).items()) == [
        (("a", 1), "a"), (("b", 2), "b")]


def test_sweep_progress_callback_and_errors():
    seen = []
    sweeps.sweep(lambda x: x, [5, 6, 7], progress=lambda done, total, key: seen.append((done, total, key)))
    assert seen == [(1, 3, 5), (2, 3, 6), (3, 3, 7)]
    with pytest.raises(TypeError, match="function"):
        sweeps.sweep(3, [1])
    with pytest.raises(ValueError, match="twice"):
        sweeps.sweep(lambda x: x, [1, 1], progress=False)
    with pytest.raises(TypeError, match="hashable"):
        sweeps.sweep(lambda x: x, [[1], [2]], progress=False)
    with pytest.raises(TypeError, match="progress"):
        sweeps.sweep(lambda x: x, [1], progress="yes")
    with pytest.raises(ValueError, match="empty"):
        sweeps.sweep(lambda x: x, [], progress=False)


def test_sweep_is_silent_outside_a_live_notebook(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda *a, **k: shown.append(a))
    sweeps.sweep(lambda x: x, [1, 2])           # a plain Python process: no kernel
    assert shown == []
    assert sweeps._live_notebook() is False


def test_sweep_shows_and_fills_a_progress_bar_in_a_notebook(monkeypatch):
    import IPython.display

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda w, *a, **k: shown.append(w))
    monkeypatch.setattr(sweeps, "_live_notebook", lambda: True)
    out = sweeps.sweep(lambda x: 2 * x, [1, 2, 3], description="demo")
    assert out == {1: 2, 2: 4, 3: 6}
    (box,) = shown
    bar, label = box.children
    assert (bar.value, bar.max, bar.description, bar.bar_style) == (3, 3, "demo", "success")
    assert label.value.startswith("3 / 3 done")


def test_static_book_build_is_silent(monkeypatch):
    class FakeShell:
        pass

    FakeShell.__name__ = "ZMQInteractiveShell"
    monkeypatch.setattr("IPython.get_ipython", lambda: FakeShell())
    monkeypatch.delenv("GBML_EXPLORER", raising=False)
    assert sweeps._live_notebook() is True
    monkeypatch.setenv("GBML_EXPLORER", "static")
    assert sweeps._live_notebook() is False


def test_loglog_slope():
    x = np.array([5.0, 10, 20, 40])
    assert sweeps.loglog_slope(x, 3 / np.sqrt(x)) == pytest.approx(-0.5, abs=1e-12)
    assert sweeps.loglog_slope(x, 0.2 * x**1.5) == pytest.approx(1.5, abs=1e-12)
    with pytest.raises(ValueError, match="positive"):
        sweeps.loglog_slope([1, 2], [1, 0])
    with pytest.raises(ValueError, match="two distinct"):
        sweeps.loglog_slope([2, 2], [1, 3])
