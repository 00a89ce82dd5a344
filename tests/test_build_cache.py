"""The execution cache (CONTRIBUTING, "Each chapter is executed once per build, or taken from the execution
cache"): jupyter-cache keys on code cells only, so its folder is keyed on everything else an execution depends
on (``gbml_build.booktoc.execution_key``).  A prose number must never come from another gbml."""
from __future__ import annotations

import os

from gbml_build import booktoc

STACK = ["numpy==2.3.0", "matplotlib==3.10.5"]
ENV = {"GBML_EXPLORER": "static", "GBML_BOOK_BUILD": "1", "PATH": "/usr/bin"}


def _package(tmp_path):
    package = tmp_path / "gbml"
    (package / "book").mkdir(parents=True)
    (package / "__init__.py").write_text("from .core import rate\n")
    (package / "core.py").write_text("rate = 0.5\n")
    return package


def test_the_key_changes_with_gbml_the_stack_and_the_kernels_variables(tmp_path):
    package = _package(tmp_path)
    key = booktoc.execution_key(package, STACK, ENV)
    assert len(key) == 16 and key == booktoc.execution_key(package, list(reversed(STACK)), dict(ENV))
    changed = {
        "a gbml module": lambda: (package / "core.py").write_text("rate = 0.25\n"),
        "a new module of a subpackage": lambda: (package / "book" / "new.py").write_text(""),
    }
    for what, change in changed.items():
        change()
        new = booktoc.execution_key(package, STACK, ENV)
        assert new != key, f"{what} left the key unchanged"
        key = new
    assert booktoc.execution_key(package, ["numpy==2.3.1", STACK[1]], ENV) != key
    assert booktoc.execution_key(package, STACK, {**ENV, "GBML_EXPLORER": "live"}) != key
    assert booktoc.execution_key(package, STACK, {**ENV, "GBML_EDITION": "student"}) != key


def test_the_key_ignores_the_address_the_cache_place_and_other_variables(tmp_path):
    package = _package(tmp_path)
    key = booktoc.execution_key(package, STACK, ENV)
    same = {**ENV, "GBML_BASEURL": "https://example.org/book/", "GBML_EXECUTION_CACHE": "/elsewhere",
            "PATH": "/bin"}
    assert booktoc.execution_key(package, STACK, same) == key
    (package / "notes.txt").write_text("not code")
    assert booktoc.execution_key(package, STACK, ENV) == key


def test_no_kernel_reads_the_variables_the_key_leaves_out():
    """What the key may ignore: no gbml module and no chapter reads the site's address or the cache's place."""
    sources = [*(booktoc.ROOT / "gbml").rglob("*.py"), *(booktoc.ROOT / "chapters").glob("*.md")]
    for name in booktoc.NOT_IN_EXECUTION:
        assert not [p for p in sources if name in p.read_text(encoding="utf-8")], name


def test_the_cache_folder_is_under_build_or_the_given_place_and_keeps_the_newest(tmp_path, monkeypatch):
    monkeypatch.setenv("GBML_EXECUTION_CACHE", str(tmp_path))
    for i, name in enumerate(("a", "b", "c")):
        (tmp_path / name).mkdir()
        os.utime(tmp_path / name, (i, i))
    folder = booktoc.execution_cache(keep=2)
    assert folder.parent == tmp_path and folder.is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([folder.name, "c"])
    monkeypatch.delenv("GBML_EXECUTION_CACHE")
    assert booktoc.execution_cache(tmp_path / "repo").parent == tmp_path / "repo" / "_build" / ".jupyter_cache"
