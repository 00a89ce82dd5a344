#!/usr/bin/env python3
"""Regenerate every figure of chapter 10 ("The paper's experiments, re-run") as files: `make reproduce`.

Runs the experiments of :mod:`gbml.book.paper` (shared with the chapter) and writes ``_OUTPUT_NAMES``
(figures, numbers, iteration table) into ``_build/reproduce/`` (or ``--out``).

    python tools/reproduce.py                       # the chapter's settings
    python tools/reproduce.py --seeds 0-9 --T 800   # more seeds, longer runs
"""
from __future__ import annotations

import argparse
import csv
import json
import textwrap
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from gbml import __version__, measured_rate
from gbml.book import paper, plotting

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


def summary(experiments, rows=None) -> dict:
    """Everything :func:`write_outputs` saves as JSON: version, settings, seeds, times, table, final distances."""
    rows = rows if rows is not None else paper.iterations_table(experiments)
    out = {"gbml_version": __version__, "experiments": {}, "iterations_to": rows}
    for exp in experiments:
        entry = {"settings": {k: list(v) if isinstance(v, tuple) else v for k, v in exp.settings.items()},
                 "seconds": exp.seconds, "version": exp.version, "runs": {}}
        for label, runs in exp.runs.items():
            rates = []
            for h in runs:
                try:
                    rates.append(measured_rate(h.distance))
                except ValueError:
                    rates.append(None)
            entry["runs"][label] = {
                "mu": exp.mu.get(label),
                "final_distance": [float(h.distance[-1]) for h in runs],
                "min_distance": [float(np.nanmin(h.distance)) for h in runs],
                "measured_rate": rates,
                "predicted_rate": exp.predicted_rate(label),
                "diverged_at": [h.diverged_at for h in runs],
            }
        out["experiments"][exp.name] = entry
    return out


def write_outputs(experiments, outdir) -> list:
    """Write every figure (PNG and PDF, its settings under the axes), the numbers (JSON) and the iteration
    table (CSV, Markdown) into ``outdir``; return the paths written."""
    if not isinstance(outdir, (str, Path)):
        raise TypeError(f"outdir must be a folder path (str or pathlib.Path), got {type(outdir).__name__}")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise ValueError(f"outdir must be a folder, but {outdir} is an existing file")
    if outdir.is_dir():  # a previous run's outputs are replaced; anything else with their names is an error
        for name in _OUTPUT_NAMES:
            if (outdir / name).exists() and not (outdir / name).is_file():
                raise ValueError(f"outdir holds {outdir / name}, which is not a file; it cannot be overwritten")
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    draw = {"methods": paper.draw_methods, "diversity": paper.draw_diversity}
    for exp in experiments:
        with plotting.style_context():
            fig = Figure(figsize=(plotting.FIGSIZE[0], plotting.FIGSIZE[1] + 0.6), layout="constrained")
            ax = fig.subplots()
            draw[exp.name](ax, exp)
            # Under the axes (part of the axes' layout box, so constrained layout makes room for it).
            ax.text(0.0, -0.2, textwrap.fill(paper.settings_text(exp), 110), transform=ax.transAxes,
                    fontsize=6.5, ha="left", va="top")
            for ext in ("png", "pdf"):
                path = outdir / f"{exp.name}.{ext}"
                fig.savefig(path, dpi=150)
                written.append(path)
    rows = paper.iterations_table(experiments)
    path = outdir / "results.json"
    path.write_text(json.dumps(summary(experiments, rows), indent=1, default=_json_default))
    written.append(path)
    path = outdir / "iterations_to.csv"
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["experiment", "label", "mu", "tolerance", "seed", "iterations", "predicted", "gbml_version"])
        for row in rows:
            seeds = next(e for e in experiments if e.name == row["experiment"]).seeds
            for tol, cell in row["tolerances"].items():
                for seed, hit in zip(seeds, cell["per_seed"]):
                    out.writerow([row["experiment"], row["label"], row["mu"], f"{tol:g}", seed,
                                  "" if hit is None else hit,
                                  "" if cell["predicted"] is None else f"{cell['predicted']:.1f}", __version__])
    written.append(path)
    path = outdir / "table.md"
    path.write_text(paper.table_markdown(rows) + "\n")
    written.append(path)
    return written


#: The files write_outputs writes (a second run into the same folder overwrites them).
_OUTPUT_NAMES = ("methods.png", "methods.pdf", "diversity.png", "diversity.pdf", "results.json",
                 "iterations_to.csv", "table.md")


def _json_default(x):
    if isinstance(x, (np.generic, np.ndarray)):  # NumPy scalars and arrays as Python numbers and lists
        return x.tolist()
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def main(argv=None) -> list[Path]:
    """Run the experiments and write the files; returns the paths written."""
    defaults = paper.SETTINGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "_build" / "reproduce", help="output folder")
    parser.add_argument("--seeds", type=_seeds, default=defaults["seeds"],
                        help=f"seeds, e.g. 0,1,2 or 0-4 (default {','.join(map(str, defaults['seeds']))})")
    parser.add_argument("--T", type=int, default=defaults["T"], help=f"rounds per method run (default {defaults['T']})")
    parser.add_argument("--T-diversity", type=int, default=defaults["T_diversity"],
                        help=f"rounds per run of the diversity comparison (default {defaults['T_diversity']})")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    experiments = paper.run_all(seeds=args.seeds, T=args.T, T_diversity=args.T_diversity)
    written = write_outputs(experiments, args.out)
    print(f"gbml {__version__}: chapter 10 re-run in {time.perf_counter() - start:.1f} s "
          f"(seeds {', '.join(map(str, args.seeds))}); wrote {len(written)} files to {args.out}:")
    for path in written:
        print(f"  {path}")
    return written


if __name__ == "__main__":
    main()
