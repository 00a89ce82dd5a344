"""``make book``: the HTML book, then the notebook edition from the same execution: each chapter runs once.

1. ``jupyter-book build -W -n --keep-going`` from a clean ``_build`` (``html()``) executes every chapter
   (myst-nb, ``execute_notebooks: cache``) and writes ``_build/html`` and the doctrees ``_build/.doctrees``;
2. the notebook edition (:mod:`.notebooks`) runs sphinx-tojupyter's builder on those doctrees.  Both builds
   read the same ``_config.yml`` (which loads sphinx-tojupyter), so Sphinx reads no chapter again and none
   is executed a second time (:func:`gbml_build.notebooks.forbid_reading` stops a build that would);
3. the edition's notebooks and course packs are copied into the site (download buttons, ``packs/``).

An execution is reused from one build to the next only from the cache folder of the same ``gbml`` source,
installed packages and ``GBML_*`` variables (:func:`gbml_build.booktoc.execution_cache`), so the prose never
shows numbers of another ``gbml``.  ``ensure_built()`` (``make pdf``, ``make student``, ``make problem-set``) builds only when
the stamp is older than a source (:data:`gbml_build.booktoc.INPUTS`) or was written for another address.

Usage: ``make book`` (``PYTHONPATH=_ext python -m gbml_build.build``); ``--if-stale`` builds only when stale.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from . import notebooks
from .booktoc import ROOT, STAMPS, is_fresh, lock, write_stamp

HTML = ROOT / "_build" / "html"
STAMP = STAMPS / "book"
_VENV_BIN = Path(sys.executable).parent


def jupyter_book(srcdir: Path, *args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """``jupyter-book build <args> srcdir`` with this environment's tools and the build package on the path."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = f"{_VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "_ext"), env.get("PYTHONPATH")]))
    return subprocess.run([str(_VENV_BIN / "jupyter-book"), "build", *args, str(srcdir)], env=env, cwd=ROOT,
                          **kwargs)


def fetch_assets() -> None:
    """The offline JavaScript (MathJax, the widget manager) into ``_vendor/`` (nothing to do when there)."""
    with lock("assets"):
        subprocess.run([str(ROOT / "tools" / "fetch_assets.sh")], check=True)


def html(srcdir: Path = ROOT, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The HTML build of ``srcdir``: offline assets, a clean ``_build``, warnings as errors."""
    fetch_assets()
    for sub in ("html", "jupyter", "jupyter_execute", ".doctrees"):
        shutil.rmtree(Path(srcdir) / "_build" / sub, ignore_errors=True)
    return jupyter_book(srcdir, "-W", "-n", "--keep-going", env=env, **kwargs)


def main(argv: list[str] | None = None) -> int:
    with lock("book"):  # another command building it: wait, then see whether it is fresh
        return _build("--if-stale" in (argv or []))


def _build(if_stale: bool) -> int:
    if if_stale and is_fresh(STAMP):
        print(f"make book: {HTML} and the notebook edition are up to date")
        return 0
    STAMP.unlink(missing_ok=True)
    if html().returncode != 0:
        print("make book: the HTML build failed", file=sys.stderr)
        return 1
    # The notebook builder on the HTML build's doctrees: nothing is read (so executed) again.
    jupyter_book(ROOT, "-n", "--builder", "custom", "--custom-builder", "jupyter", check=True)
    notebooks.main()
    notebooks.install(HTML, "full")
    write_stamp(STAMP)
    print(f"Book built: open {HTML.relative_to(ROOT)}/index.html")
    return 0


def ensure_built() -> None:
    """Build the book and the notebook edition unless they are newer than their sources."""
    if main(["--if-stale"]) != 0:
        raise SystemExit(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
