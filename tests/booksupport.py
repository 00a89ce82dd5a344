"""Shared helpers for the book tests: chapter discovery, builds, notebook execution; Chromium and the local
server are the build's own (``gbml_build.browser``).

Imported by the test modules (pytest puts ``tests/`` and ``_ext/`` on ``sys.path``); fixtures live in the modules.
"""
from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
from filelock import FileLock
from nbclient import NotebookClient

from gbml_build.booktoc import GENERATED, ROOT, is_notebook, notebook_pages, source, toc_files  # noqa: F401
from gbml_build.browser import CHROMIUM, CHROMIUM_ARGS, Server, chromium  # noqa: F401

VENV_BIN = Path(sys.executable).parent
#: The locks and "built in this run" marks of once_per_run (make book cleans only its own folders).
RUN_LOCKS = ROOT / "_build" / "test-run"


def quick_tier_guard(what: str) -> None:
    """Stop a test of ``make check`` (``GBML_QUICK=1``) that needs ``what``: it must be marked ``build``."""
    if os.environ.get("GBML_QUICK") == "1":
        raise RuntimeError(f"this test needs {what}, which make check does not start: mark it "
                           "@pytest.mark.build (or use a fixture of conftest.BUILD_FIXTURES)")


def notebook_chapters() -> list[str]:
    """The executable chapters of the book, in table-of-contents order."""
    return notebook_pages()


def execute(nb, cwd: Path, *, allow_errors=False, explorer_mode=None, timeout=120):
    """Execute a notebook in a real kernel (the venv's python) and return it.

    ``explorer_mode`` sets ``GBML_EXPLORER`` in the kernel ("live" by default, as in Jupyter).
    """
    quick_tier_guard("a kernel")
    env = {k: v for k, v in os.environ.items() if k != "GBML_EXPLORER"}
    if explorer_mode:
        env["GBML_EXPLORER"] = explorer_mode
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                            resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env)
    return nb


def read_notebook(path: Path):
    nb = jupytext.read(path)
    return nb


def _make(module: str, what: str, *args: str) -> None:
    """Run ``python -m gbml_build.<module> args`` as its make target does; fail with the end of its output."""
    quick_tier_guard(what)
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT / "_ext"))
    result = subprocess.run([sys.executable, "-m", f"gbml_build.{module}", *args], capture_output=True, text=True,
                            env=env, cwd=ROOT)
    if result.returncode != 0:
        raise AssertionError(f"{what} failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")


def once_per_run(name: str, build) -> None:
    """Call ``build()`` once per test run, also across pytest-xdist's workers (and the prefetch of conftest.py):
    the first to ask builds while holding a file lock; the others wait for it and use what it built."""
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None:  # one process: the callers' lru_cache makes it once
        build()
        return
    RUN_LOCKS.mkdir(parents=True, exist_ok=True)
    done = RUN_LOCKS / f"{name}.done"
    with FileLock(RUN_LOCKS / f"{name}.lock"):
        if done.exists() and done.read_text() == run:
            return
        build()
        done.write_text(run)


@functools.lru_cache(maxsize=None)
def built_book() -> Path:
    """Run ``make book`` once per test run (a clean HTML build, then the notebook edition from the same
    execution) unless the book is fresh: built by ``make book`` since the last change to any of its sources,
    for the same address (``booktoc.is_fresh``, the rule ``make pdf`` and ``make notebooks`` follow), as after
    the README's ``make book``; return _build/html.  GBML_REUSE_BOOK=1 reuses _build even when it is stale
    (for local iteration)."""
    if os.environ.get("GBML_REUSE_BOOK") != "1":
        once_per_run("book", lambda: _make("build", "make book", "--if-stale"))
    return ROOT / "_build" / "html"


def built_notebooks() -> Path:
    """The notebook edition of the session's book build (``built_book``); return _build/notebooks."""
    built_book()
    return ROOT / "_build" / "notebooks"


@functools.lru_cache(maxsize=None)
def built_student() -> Path:
    """Run ``make student`` once per test run (at the same time as the book's build: it waits for the book
    only to copy the notebook edition, ``gbml_build.student``); return _build/student."""
    once_per_run("student", lambda: _make("student", "make student"))
    return ROOT / "_build" / "student"


#: The GitHub repository the published site's copy names in its _config.yml (the Colab buttons' address).
REPOSITORY = "https://github.com/example-org/maml-anil-book"


@functools.lru_cache(maxsize=None)
def published_site() -> tuple[Path, str]:
    """Run ``make site BASEURL=http://127.0.0.1:PORT/`` once per test run, in a fresh copy of the repository (the
    files git tracks or would track, as a clone has them: ``_build/fresh-clone``) whose ``_config.yml`` names
    ``REPOSITORY``; return (the copy, the base URL).  The copy's chapters and gbml (the venv's) are the run's,
    so it takes both editions' executions from the run's execution cache (``booktoc.execution_cache``)."""
    copy = ROOT / "_build" / "fresh-clone"

    def build():
        built_student()  # the book's and the student edition's executions, in the cache
        shutil.rmtree(copy, ignore_errors=True)
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout.split()
        for name in files:
            if (ROOT / name).is_file():
                (copy / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(ROOT / name, copy / name)  # keeps times: the venv's stamp stays newer
        config = (copy / "_config.yml").read_text(encoding="utf-8")
        assert '      repository_url: ""' in config
        (copy / "_config.yml").write_text(config.replace('      repository_url: ""',
                                                         f'      repository_url: "{REPOSITORY}"'), encoding="utf-8")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in ("GBML_BASEURL", "BASEURL", "MAKEFLAGS")}
        env["GBML_EXECUTION_CACHE"] = str(ROOT / "_build" / ".jupyter_cache")
        result = subprocess.run(["make", "-C", str(copy), f"VENV={ROOT / '.venv'}", "site",
                                 f"BASEURL=http://127.0.0.1:{port}/"], capture_output=True, text=True, env=env)
        (copy / "_build" / "make-site.log").write_text(result.stdout + result.stderr, encoding="utf-8")
        assert result.returncode == 0, f"make site failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}"

    quick_tier_guard("make site")
    once_per_run("site", build)
    return copy, (copy / "_build" / "stamps" / "book").read_text(encoding="utf-8") + "/"


def nbformat_ok(path: Path) -> None:
    nbformat.validate(nbformat.read(path, as_version=4))
