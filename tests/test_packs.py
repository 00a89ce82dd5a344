"""Course packs that upgrade: the packs' gbml wheel carries a version derived from gbml's source, so a pack
built from changed code installs over an older pack's gbml with the pack's own `pip install -r
requirements.txt` (same version: pip would keep the old one, "Requirement already satisfied")."""
from __future__ import annotations

import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

import gbml
from booksupport import ROOT
from gbml_build import notebooks

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser


def _copy(tmp: Path) -> Path:
    """A copy of the distribution's files (what a wheel is built from)."""
    root = tmp / "repo"
    shutil.copytree(ROOT / "gbml", root / "gbml", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, root / name)
    return root


def test_pack_version_follows_the_source(tmp_path):
    root = _copy(tmp_path)
    before = notebooks.pack_version(root)
    assert re.fullmatch(re.escape(gbml.__version__) + r"\+src\.[0-9a-f]{10}", before), before
    assert notebooks.pack_version(root) == before  # the same source, the same version
    with (root / "gbml" / "book" / "sweeps.py").open("a") as f:  # a change in the subpackage counts too
        f.write("# a change\n")
    assert notebooks.pack_version(root) != before


def test_a_rebuilt_pack_upgrades_an_existing_environment(tmp_path):
    root = _copy(tmp_path)
    first = notebooks.build_wheel(tmp_path / "first", root)
    with (root / "gbml" / "theory.py").open("a") as f:
        f.write("\nPACK_MARKER = 2\n")
    second = notebooks.build_wheel(tmp_path / "second", root)
    assert first.name != second.name
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"

    def install(wheel: Path) -> str:
        # A pack's requirements.txt names its wheel as ./<file> beside it; the other pins are the
        # environment's already (--no-deps keeps this test off the network-sized stack).
        (wheel.parent / "requirements.txt").write_text(f"./{wheel.name}\n", encoding="utf-8")
        run = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "-r", "requirements.txt"],
                             cwd=wheel.parent, capture_output=True, text=True)
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    install(first)
    out = install(second)
    assert "Successfully installed" in out, out
    # What is installed now (read, not imported: this bare environment has no numpy).
    check = subprocess.run([str(python), "-c", "import importlib.metadata as m, importlib.util as u, pathlib\n"
                            "where = pathlib.Path(u.find_spec('gbml').submodule_search_locations[0])\n"
                            "print(m.version('maml-anil-book'))\n"
                            "print('PACK_MARKER = 2' in (where / 'theory.py').read_text())\n"
                            "print((where / '__init__.py').read_text().count(m.version('maml-anil-book')))"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert check.stdout.split() == [notebooks.pack_version(root), "True", "1"], check.stdout + check.stderr
