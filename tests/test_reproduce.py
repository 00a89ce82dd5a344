"""`make reproduce` (tools/reproduce.py + gbml.book.paper): every file is written, and the numbers have the
shape chapter 10 reports (all four methods reach 1e-6, the average loss stays near 1, less
diversity is slower, the local rate is 1 - alpha beta mu^2)."""
import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gbml import __version__
from gbml.book import paper

ROOT = Path(__file__).resolve().parents[1]


def _script(*args):
    """Run tools/reproduce.py as `make reproduce` does, in a fresh interpreter."""
    return subprocess.run([sys.executable, str(ROOT / "tools" / "reproduce.py"), *args], capture_output=True,
                          text=True, cwd=ROOT)


@pytest.fixture(scope="module")
def tool():
    """tools/reproduce.py as a module (it writes the files; gbml.book.paper computes what goes in them)."""
    spec = importlib.util.spec_from_file_location("reproduce_tool", ROOT / "tools" / "reproduce.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    result = _script("--out", str(out), "--seeds", "0-1", "--T", "400", "--T-diversity", "400")
    assert result.returncode == 0, result.stderr
    written = [Path(line.strip()) for line in result.stdout.splitlines()[1:]]  # the files it lists
    return out, written


def test_every_file_is_written_and_non_empty(outputs):
    out, written = outputs
    names = {p.name for p in written}
    assert names == {"methods.png", "methods.pdf", "diversity.png", "diversity.pdf", "results.json",
                     "iterations_to.csv", "table.md"}
    for path in written:
        assert path.parent == out and path.stat().st_size > 0
    for name in ("methods.png", "diversity.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("methods.pdf", "diversity.pdf"):
        assert (out / name).read_bytes()[:5] == b"%PDF-"


def test_settings_seeds_and_version_are_recorded(outputs):
    out, _ = outputs
    data = json.loads((out / "results.json").read_text())
    assert data["gbml_version"] == __version__
    for name in ("methods", "diversity"):
        exp = data["experiments"][name]
        assert exp["settings"]["seeds"] == [0, 1] and exp["seconds"] >= 0 and exp["version"] == __version__
        for key in ("d", "k", "n_tasks", "alpha", "beta", "T", "T_diversity", "mus"):
            assert key in exp["settings"]
    rows = list(csv.DictReader((out / "iterations_to.csv").open()))
    assert {r["seed"] for r in rows} == {"0", "1"} and {r["gbml_version"] for r in rows} == {__version__}


def test_numbers_have_the_shape_of_paper_notes_section_4(outputs):
    out, _ = outputs
    data = json.loads((out / "results.json").read_text())
    table = {row["label"]: row["tolerances"] for row in data["iterations_to"] if row["experiment"] == "methods"}
    for method in ("anil", "fo-anil", "maml", "fo-maml"):
        assert all(x is not None for x in table[method]["1e-06"]["per_seed"]), method
    runs = data["experiments"]["methods"]["runs"]
    assert min(runs["avg-loss"]["min_distance"]) > 0.9
    for method in ("anil", "fo-anil", "maml", "fo-maml"):
        assert max(runs[method]["final_distance"]) < 1e-6
        rates = [r for r in runs[method]["measured_rate"] if r is not None]
        assert rates and np.allclose(rates, runs[method]["predicted_rate"], atol=3e-3)
    diversity = data["experiments"]["diversity"]["runs"]
    fast, slow = diversity["mu = 1"], diversity["mu = 0.5"]
    assert all(s > 1e3 * f for s, f in zip(slow["final_distance"], fast["final_distance"]))  # same T = 400
    assert slow["predicted_rate"] > fast["predicted_rate"]


def test_table_says_when_a_tolerance_is_not_reached():
    exps = paper.run_all(seeds=(0,), T=60, T_diversity=60)
    text = paper.table_markdown(paper.iterations_table(exps))
    assert "not within T = 60" in text and text.count("\n") == 2 + 5 + 2 - 1


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown settings"):
        paper.run_methods(seed=3)
    result = _script("--seeds", "x")
    assert result.returncode == 2 and "argument --seeds" in result.stderr


def test_iterations_needed_checker():
    from gbml.book import exercises

    def good(d0, rate, tol):
        return int(np.ceil(np.log(tol / d0) / np.log(rate) * (1 - 1e-9)))

    def naive(d0, rate, tol):  # off by one at exact powers: 6 for (1, 0.1, 1e-5)
        return int(np.ceil(np.log(tol / d0) / np.log(rate)))

    assert exercises.check_iterations_needed(good, quiet=True)
    assert naive(1.0, 0.1, 1e-5) == 6 and good(1.0, 0.1, 1e-5) == 5
    assert not exercises.check_iterations_needed(naive, quiet=True)
    floor = exercises.check_iterations_needed(lambda d0, rate, tol: int(np.log(tol / d0) / np.log(rate)), quiet=True)
    assert not floor and "round" in floor.message
    approx = exercises.check_iterations_needed(
        lambda d0, rate, tol: int(np.ceil(np.log(d0 / tol) / (1 - rate))), quiet=True)
    assert not approx and "approximation" in approx.message
    # The reference really is the first iteration of the geometric sequence below the tolerance.
    s = good(0.3, 0.95, 1e-6)
    assert 0.3 * 0.95**s <= 1e-6 < 0.3 * 0.95 ** (s - 1)


def test_writing_outputs_twice_overwrites_and_a_file_as_outdir_is_named(tmp_path, tool):
    exps = paper.run_all(seeds=(0,), T=3, T_diversity=3)
    first = tool.write_outputs(exps, tmp_path / "out")
    second = tool.write_outputs(exps, tmp_path / "out")
    assert [p.name for p in first] == [p.name for p in second]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=r"outdir must be a folder"):
        tool.write_outputs(exps, tmp_path / "file")
