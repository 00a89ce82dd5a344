"""``make site``: the whole book in one folder to publish, ``_build/site/``.

``make site BASEURL=https://…/`` builds the PDF edition (``make pdf``: the notebook edition, the book, the
student edition, then the PDFs) with every absolute address taken from BASEURL
(:func:`gbml_build.booktoc.baseurl`: the notebooks' links to other pages, the setup cell's wheel address
for Colab, ``html_baseurl``, the PDFs' "Interactive version" lines), then this module gathers:

* ``_build/html/``            at the root (with ``packs/``: both course packs, copied by the book build);
* ``_build/student/html/``    under ``student/``;
* the ``gbml`` wheel          under ``packs/`` (the address the notebooks' setup cell installs from in Colab);
* ``_build/pdf/*.pdf``        under ``pdf/``;
* ``LICENSE`` and ``CITATION.cff`` at the root.

Without BASEURL it uses ``html.baseurl`` of ``_config.yml``; with neither, ``--check`` stops the build
before any work.  Usage: ``make site BASEURL=…`` (``python -m gbml_build.site --check``, then ``make pdf``,
then ``python -m gbml_build.site``).
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from . import notebooks
from .booktoc import ROOT, STAMPS, baseurl

OUT = ROOT / "_build" / "site"
BUILD = ROOT / "_build"
PDFS = ("book.pdf", "book-student.pdf")
PACKS = ("course-pack.zip", "course-pack-student.zip")


def require_baseurl() -> str:
    """The site's address, or a clear stop naming both ways to give it."""
    online = baseurl()
    if not online:
        raise SystemExit("make site: no address for the site. Give it as BASEURL (make site "
                         "BASEURL=https://OWNER.github.io/REPO/) or set html.baseurl in _config.yml.")
    if not online.startswith(("https://", "http://")):
        raise SystemExit(f"make site: BASEURL must start with https:// or http://, got {online!r}")
    return online


def assemble() -> dict[str, int]:
    """Copy the built editions into ``_build/site``; return each published file's size (bytes)."""
    online = require_baseurl()
    for stamp in ("book", "student", *(f"pdf-{pdf}" for pdf in PDFS)):
        built = (STAMPS / stamp).read_text(encoding="utf-8") if (STAMPS / stamp).exists() else None
        if built != online:
            raise SystemExit(f"make site: {stamp} was built for {built!r}, not {online!r}: "
                             "run `make site`, which rebuilds it")
    sources = {"book": BUILD / "html", "student book": BUILD / "student" / "html",
               **{pdf: BUILD / "pdf" / pdf for pdf in PDFS},
               "wheel": notebooks.OUT / "wheel" / notebooks.wheel_name()}
    missing = [f"{what} ({path})" for what, path in sources.items() if not path.exists()]
    if missing:
        raise SystemExit("make site: missing " + ", ".join(missing) + ": run `make site`, which builds them")
    shutil.rmtree(OUT, ignore_errors=True)
    shutil.copytree(sources["book"], OUT)
    shutil.copytree(sources["student book"], OUT / "student")
    (OUT / "pdf").mkdir()
    for pdf in PDFS:
        shutil.copy2(sources[pdf], OUT / "pdf" / pdf)
    shutil.copy2(sources["wheel"], OUT / notebooks.WHEEL_DIR / notebooks.wheel_name())
    for name in ("LICENSE", "CITATION.cff"):
        shutil.copy2(ROOT / name, OUT / name)
    missing = [p for p in PACKS if not (OUT / "packs" / p).exists()]
    if missing:
        raise SystemExit(f"make site: the book did not copy the course packs {missing} into packs/")
    return {str(p.relative_to(OUT)): p.stat().st_size for p in sorted(OUT.rglob("*")) if p.is_file()}


def main(argv: list[str]) -> int:
    if "--check" in argv:
        print(f"make site: publishing for {require_baseurl()}/")
        return 0
    sizes = assemble()
    total = sum(sizes.values())
    shown = [*PACKS, notebooks.wheel_name()]
    print(f"make site: {OUT} ({len(sizes)} files, {total / 1e6:.1f} MB), for {baseurl()}/")
    for name in [f"pdf/{p}" for p in PDFS] + [f"{notebooks.WHEEL_DIR}/{p}" for p in shown]:
        print(f"  {name}: {sizes[name] / 1e6:.2f} MB")
    for folder in ("student", "_notebooks", "_static", "chapters"):
        size = sum(v for k, v in sizes.items() if k.startswith(folder + "/"))
        print(f"  {folder}/: {size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
