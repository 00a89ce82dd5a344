#!/usr/bin/env python3
"""Regenerate every figure of chapter 10 ("The paper's experiments, re-run") as files: `make reproduce`.

Writes ``methods.{png,pdf}``, ``diversity.{png,pdf}``, ``results.json`` (settings, seeds, gbml version,
run times, per-seed numbers), ``iterations_to.csv`` and ``table.md`` into ``_build/reproduce/`` (or
``--out``).  The experiments themselves live in :mod:`gbml.reproduce`, shared with the chapter.

    python tools/reproduce.py                       # the chapter's settings
    python tools/reproduce.py --seeds 0-9 --T 800   # more seeds, longer runs
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _seeds(text: str) -> tuple[int, ...]:
    """'0,1,2' or '0-4' (or a mix, '0-2,7') -> a tuple of non-negative ints."""
    out = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = (int(x) for x in part.split("-", 1))
            out += range(lo, hi + 1)
        elif part:
            out.append(int(part))
    if not out or min(out) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be non-negative integers like '0,1,2' or '0-4', got {text!r}")
    return tuple(out)


def main(argv=None) -> list[Path]:
    """Run the experiments and write the files; returns the paths written."""
    from gbml import __version__, reproduce

    defaults = reproduce.SETTINGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "reproduce", help="output folder")
    parser.add_argument("--seeds", type=_seeds, default=defaults["seeds"],
                        help=f"seeds, e.g. 0,1,2 or 0-4 (default {','.join(map(str, defaults['seeds']))})")
    parser.add_argument("--T", type=int, default=defaults["T"], help=f"rounds per method run (default {defaults['T']})")
    parser.add_argument("--T-diversity", type=int, default=defaults["T_diversity"],
                        help=f"rounds per run of the diversity comparison (default {defaults['T_diversity']})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    experiments = reproduce.run_all(seeds=args.seeds, T=args.T, T_diversity=args.T_diversity)
    written = reproduce.write_outputs(experiments, args.out)
    print(f"gbml {__version__}: chapter 10 re-run in {time.perf_counter() - start:.1f} s "
          f"(seeds {', '.join(map(str, args.seeds))}); wrote {len(written)} files to {args.out}:")
    for path in written:
        print(f"  {path}")
    return written


if __name__ == "__main__":
    main()
