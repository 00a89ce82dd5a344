"""Explorer budgets, measured on the book's own explorers: live update time and page weight.

For every chapter of _toc.yml, executes the chapter in a real kernel twice: once live (as in Jupyter),
timing each control move to an off-grid value (figure recomputed and re-encoded), and once static (as
in the book build), measuring the bytes each explorer adds to its page (widget state JSON plus the
no-JavaScript fallback).  Budgets: 100 ms per live update, 1.5 MB per explorer.

A control's figure is the median of 21 moves, to 21 different values, made in 3 passes over all the
chapter's controls: the development machine is shared, and its speed changes by up to 2x for seconds
at a time, so moves spread over several seconds give a steadier median than 7 moves in a row.
Run with `make bench`; results also go to benchmarks/results/widgets.json (git-ignored).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from booksupport import ROOT, execute, notebook_chapters, read_notebook, source  # noqa: E402

LIVE_MS, PAGE_BYTES = 100.0, 1.5e6

LIVE = r'''
import json as _json, statistics as _st, time as _time
from gbml.book import widgets as _w
_ts = {}
for _pass in range(3):
    for _i, _ex in enumerate(_w.EXPLORERS):
        for _name, _c in _ex.controls.items():
            if not hasattr(_c, "min"):
                continue
            _lo, _hi, _old = _c.min, _c.max, _c.value
            for _j in range(7):
                _v = _lo + (_hi - _lo) * (0.13 + 0.11 * _j + 0.03 * _pass)
                _v = type(_old)(round(_v)) if isinstance(_old, int) else _v
                _t = _time.perf_counter(); _c.value = _v
                _ts.setdefault((_i, _name), []).append(_time.perf_counter() - _t)
            _c.value = _old
_out = [{"explorer": _i, "control": _name, "median_ms": 1e3 * _st.median(_t), "max_ms": 1e3 * max(_t)}
        for (_i, _name), _t in _ts.items()]
print("BENCH" + _json.dumps(_out))
'''

STATIC = r'''
import json as _json
from gbml.book import widgets as _w
print("BENCH" + _json.dumps([{"explorer": _i, "frames": len(_ex.frames), "bytes": _ex.embedded_size()}
                             for _i, _ex in enumerate(_w.EXPLORERS)]))
'''


def run(chapter, code, mode):
    path = source(chapter)
    nb = read_notebook(path)
    nb.cells.append(nbformat.v4.new_code_cell(code))
    execute(nb, path.parent, explorer_mode=mode)
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("output_type") == "stream")
    return json.loads(text.split("BENCH", 1)[1])


def main():
    results, over = {}, False
    print(f"{'chapter':34s} {'explorer':>8s} {'control':>8s} {'live ms (median/max)':>22s} {'frames':>7s} {'page MB':>8s}")
    for chapter in notebook_chapters():
        live, static = run(chapter, LIVE, "live"), run(chapter, STATIC, "static")
        results[chapter] = {"live": live, "static": static}
        for s in static:
            rows = [r for r in live if r["explorer"] == s["explorer"]] or [None]
            for r in rows:
                ms = f"{r['median_ms']:.0f} / {r['max_ms']:.0f}" if r else "-"
                print(f"{chapter:34s} {s['explorer']:8d} {(r or {}).get('control', '-'):>8s} {ms:>22s} "
                      f"{s['frames']:7d} {s['bytes'] / 1e6:8.3f}")
                over |= bool(r and r["median_ms"] > LIVE_MS) or s["bytes"] > PAGE_BYTES
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "widgets.json").write_text(json.dumps(results, indent=1))
    print(f"budgets: live update <= {LIVE_MS:.0f} ms (median), explorer <= {PAGE_BYTES / 1e6:.1f} MB: "
          + ("EXCEEDED" if over else "met"))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
