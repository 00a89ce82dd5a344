"""The book's table of contents and configuration, each read in one place for the build and the tests,
and what a build is made from.

``read_config()`` is ``_config.yml`` as data and ``baseurl()`` the site's address; ``toc_entries()`` gives
every page of ``_toc.yml`` with its part and depth, ``toc_files()`` lists every page of ``_toc.yml`` in reading order (root first) as docnames such as
``"chapters/intro"`` (``student=True``: the student edition's pages, without ``INSTRUCTOR_PAGES``, whose
table of contents is ``student_toc()``); ``GENERATED`` are the pages the build writes (absent from a fresh clone, never
executed or stripped); ``notebook_pages()`` are the executable pages; ``chapter_sources()`` the pages read
for exercises and for the API page's "Used in".  ``is_fresh(stamp)`` says whether an output stamped by
``write_stamp(stamp)`` is newer than every source (``INPUTS``) and was built for the current address.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import sys
from pathlib import Path

import yaml
from filelock import FileLock

ROOT = Path(__file__).resolve().parents[2]

#: The exercise index, generated at build time by :mod:`gbml_build.exercise_index` (docname).
EXERCISE_PAGE = "chapters/exercises"
#: The API reference, written by hand with autodoc (docname): a reference, not a chapter.
API_PAGE = "chapters/api"
GENERATED = (EXERCISE_PAGE,)
#: Every file the build writes into the sources (the exercise index and its exports).
GENERATED_FILES = tuple(f"{EXERCISE_PAGE}.{suffix}" for suffix in ("md", "csv", "json"))
#: Pages for instructors only: they hold solutions or ways around the checkers (the instructors' page shows
#: a checker's full solution and what the checkers do not catch).  The student edition (its HTML, PDF,
#: notebooks and pack) leaves them out; every part of the build asks this module for its pages.
INSTRUCTOR_PAGES = ("chapters/instructors",)


def read_config(root: Path = ROOT) -> dict:
    """``root/_config.yml`` as data (the one reader of the book's configuration)."""
    return yaml.safe_load((Path(root) / "_config.yml").read_text(encoding="utf-8")) or {}


def baseurl(root: Path = ROOT) -> str:
    """The online book's address without a trailing slash, "" if none: the environment variable
    ``GBML_BASEURL`` (``make site BASEURL=…`` sets it) or else ``html.baseurl`` of ``_config.yml``."""
    found = os.environ.get("GBML_BASEURL", "").strip()
    if not found:
        found = str((read_config(root).get("html") or {}).get("baseurl") or "").strip()
    return found.rstrip("/")


def _docname(entry: str) -> str:
    return entry.removesuffix(".md").removesuffix(".ipynb")


def read_toc(root: Path = ROOT, *, student: bool = False) -> dict:
    """``root/_toc.yml`` as data; ``student=True``: without ``INSTRUCTOR_PAGES`` (and without a part or a
    chapter's sections left empty by their removal)."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    if not student:
        return toc
    if _docname(toc["root"]) in INSTRUCTOR_PAGES:
        raise ValueError(f"the root page {toc['root']} of _toc.yml cannot be an instructor-only page")

    def keep(entries):
        kept = []
        for entry in entries or []:
            if "file" in entry and _docname(entry["file"]) in INSTRUCTOR_PAGES:
                continue
            entry = dict(entry)
            for key in ("sections", "chapters"):
                if key in entry:
                    entry[key] = keep(entry[key])
                    if not entry[key]:
                        del entry[key]
            if "file" in entry or entry.get("chapters") or entry.get("sections"):
                kept.append(entry)
        return kept

    if "chapters" in toc:
        toc["chapters"] = keep(toc["chapters"])
    if "parts" in toc:
        toc["parts"] = [dict(part, chapters=keep(part.get("chapters"))) for part in toc["parts"]]
        toc["parts"] = [part for part in toc["parts"] if part["chapters"]]
    return toc


def toc_entries(root: Path = ROOT, *, student: bool = False) -> list[tuple[str | None, str, int]]:
    """``(part caption, docname, depth)`` for every page of ``root/_toc.yml``, in reading order (root page
    first, depth 1 for a chapter's sections); ``student=True``: the student edition's pages."""
    toc = read_toc(root, student=student)
    out = [(None, toc["root"], 0)]

    def walk(entries, caption, depth):
        for entry in entries or []:
            if "file" in entry:
                out.append((caption, entry["file"], depth))
            walk(entry.get("sections"), caption, depth + 1)
            walk(entry.get("chapters"), caption, depth)

    walk(toc.get("chapters"), None, 0)
    for part in toc.get("parts", []) or []:
        walk(part.get("chapters"), part.get("caption"), 0)
    return [(caption, _docname(name), depth) for caption, name, depth in out]


def toc_files(root: Path = ROOT, *, student: bool = False) -> list[str]:
    """Every file of ``root/_toc.yml`` in reading order (root page first), as docnames without suffix;
    ``student=True``: the student edition's pages (no ``INSTRUCTOR_PAGES``)."""
    return [name for _, name, _ in toc_entries(root, student=student)]


def source(name: str, root: Path = ROOT) -> Path:
    """The source file (``.md`` or ``.ipynb``) of a docname."""
    for suffix in (".md", ".ipynb"):
        path = Path(root) / f"{name}{suffix}"
        if path.exists():
            return path
    raise FileNotFoundError(f"_toc.yml lists {name!r} but no .md or .ipynb exists")


def is_notebook(path: Path) -> bool:
    """An ``.ipynb``, or a MyST-markdown file with a jupytext header and a kernelspec."""
    path = Path(path)
    if path.suffix == ".ipynb":
        return True
    if path.suffix != ".md":
        return False
    head = path.read_text(encoding="utf-8")[:2000]
    return head.startswith("---") and "jupytext:" in head and "kernelspec:" in head


def notebook_pages(root: Path = ROOT) -> list[str]:
    """The executable pages of the book, in table-of-contents order (generated pages excluded)."""
    return [name for name in toc_files(root) if name not in GENERATED and is_notebook(source(name, root))]


def chapter_sources(root: Path = ROOT) -> list[tuple[str, Path]]:
    """(docname, path) of every existing MyST-markdown page of the table of contents except the exercise
    index and the API reference."""
    found = []
    for name in toc_files(root):
        path = Path(root) / f"{name}.md"
        if name not in (EXERCISE_PAGE, API_PAGE) and path.exists():
            found.append((name, path))
    return found


#: What every edition is built from (patterns under the root): a change to any of them makes it stale.
INPUTS = ("_config.yml", "_toc.yml", "references.bib", "pyproject.toml", "requirements.txt",
          "chapters/**/*", "gbml/**/*.py", "_ext/**/*", "tools/fetch_assets.sh")
#: The stamps of the built editions and PDFs (each holds the address it was built for).
STAMPS = ROOT / "_build" / "stamps"


def inputs(root: Path = ROOT) -> list[Path]:
    """The files of ``INPUTS`` (without caches and the pages the build generates)."""
    skip = {Path(root) / name for name in GENERATED_FILES}
    return [f for pattern in INPUTS for f in Path(root).glob(pattern)
            if f.is_file() and "__pycache__" not in f.parts and f not in skip]


#: Executed chapters are kept between builds (myst-nb's cache mode, ``jupyter-cache``), which keys on a
#: chapter's code cells only.  Everything else an execution depends on names the folder the cache lives in
#: (:func:`execution_cache`): gbml's source, the pinned stack, Python, and the ``GBML_*`` variables the
#: kernels inherit, except these two, which no kernel reads (the site's address, the cache's place).
NOT_IN_EXECUTION = ("GBML_BASEURL", "GBML_EXECUTION_CACHE")


def execution_key(package: Path, stack: list[str], environ) -> str:
    """A digest of everything but the code cells that an execution of a chapter depends on: the source of
    ``package``, the installed distributions ``stack`` ("name==version"), Python and ``environ``."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(Path(package).rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    digest.update("\0".join(sorted(stack)).encode())
    for name in sorted(environ):
        if name.startswith("GBML_") and name not in NOT_IN_EXECUTION:
            digest.update(f"{name}={environ[name]}\0".encode())
    return digest.hexdigest()[:16]


def execution_cache(root: Path = ROOT, keep: int = 4) -> Path:
    """The cache folder for this build's executions: ``$GBML_EXECUTION_CACHE`` (or ``_build/.jupyter_cache``)
    / :func:`execution_key` of the ``gbml`` the kernels import; only the ``keep`` newest folders are kept."""
    import gbml
    base = Path(os.environ.get("GBML_EXECUTION_CACHE") or Path(root) / "_build" / ".jupyter_cache")
    stack = [f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions()]
    folder = base / execution_key(Path(gbml.__file__).parent, stack, os.environ)
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)
    for old in sorted(base.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    return folder


def lock(name: str) -> FileLock:
    """A lock on one output of the build (``with lock("book"): ...``): two commands that would build it at
    the same time (``make pdf`` and ``make problem-set``, or two test workers) take turns."""
    (ROOT / "_build").mkdir(exist_ok=True)
    return FileLock(ROOT / "_build" / f".{name}.lock")


def write_stamp(stamp: Path) -> None:
    """Mark an output as built now, for the current address (``baseurl()``)."""
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(baseurl(), encoding="utf-8")


def is_fresh(stamp: Path, *after: Path) -> bool:
    """True when ``stamp`` exists, was written for the current address and is newer than every source and
    than the stamps ``after`` (what the output is built from)."""
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != baseurl():
        return False
    built = stamp.stat().st_mtime
    return all(p.exists() and p.stat().st_mtime <= built for p in [*inputs(), *after])
