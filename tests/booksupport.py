"""Shared helpers for the book tests: chapter discovery, builds, notebook execution, a local server.

Imported by the test modules (pytest puts ``tests/`` and ``_ext/`` on ``sys.path``); fixtures live in the modules.
"""
from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

from gbml_build.booktoc import GENERATED, ROOT, is_notebook, notebook_pages, source, toc_files  # noqa: F401

VENV_BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def notebook_chapters() -> list[str]:
    """The executable chapters of the book, in table-of-contents order."""
    return notebook_pages()


def execute(nb, cwd: Path, *, allow_errors=False, explorer_mode=None, timeout=120):
    """Execute a notebook in a real kernel (the venv's python) and return it.

    ``explorer_mode`` sets ``GBML_EXPLORER`` in the kernel ("live" by default, as in Jupyter).
    """
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


def run_build(srcdir: Path, env_extra=None) -> subprocess.CompletedProcess:
    """The same build as ``make book``: assets, a clean _build, ``jupyter-book build -W -n --keep-going``."""
    subprocess.run([str(ROOT / "tools" / "fetch_assets.sh")], check=True)
    for sub in ("html", "jupyter_execute", ".doctrees"):
        shutil.rmtree(srcdir / "_build" / sub, ignore_errors=True)
    env = dict(os.environ, **(env_extra or {}))
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run([str(VENV_BIN / "jupyter-book"), "build", "-W", "-n", "--keep-going", str(srcdir)],
                          capture_output=True, text=True, env=env)


@functools.lru_cache(maxsize=None)
def built_notebooks() -> Path:
    """Run ``make notebooks`` once per session (GBML_REUSE_NOTEBOOKS=1 reuses _build/notebooks, for local
    iteration); return _build/notebooks."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT / "_ext"))
    if os.environ.get("GBML_REUSE_NOTEBOOKS") != "1":
        result = subprocess.run([sys.executable, "-m", "gbml_build.notebooks"], capture_output=True,
                                text=True, env=env, cwd=ROOT)
        if result.returncode != 0:
            raise AssertionError(f"make notebooks failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return ROOT / "_build" / "notebooks"


@functools.lru_cache(maxsize=None)
def built_book() -> Path:
    """Build the book once per test session as ``make book`` does (the notebook edition, then a clean HTML
    build) and return _build/html."""
    built_notebooks()
    result = run_build(ROOT)
    if result.returncode != 0:
        raise AssertionError(f"book build failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return ROOT / "_build" / "html"


@functools.lru_cache(maxsize=None)
def built_student() -> Path:
    """Run ``make student`` once per session; return _build/student."""
    env = dict(os.environ, PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(ROOT / "_ext"))
    result = subprocess.run([sys.executable, "-m", "gbml_build.student"], capture_output=True,
                            text=True, env=env, cwd=ROOT)
    if result.returncode != 0:
        raise AssertionError(f"make student failed:\n{result.stdout[-6000:]}\n{result.stderr[-3000:]}")
    return ROOT / "_build" / "student"


class Server:
    """Serve a directory on 127.0.0.1 (port chosen by the OS unless given) in a background thread."""

    def __init__(self, directory: Path, port: int = 0):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def nbformat_ok(path: Path) -> None:
    nbformat.validate(nbformat.read(path, as_version=4))
