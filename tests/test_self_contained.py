"""A contributor has only this repository: no tracked file may point at notes or paths outside it."""
from __future__ import annotations

import re
import subprocess

import pytest

from booksupport import ROOT

pytestmark = pytest.mark.build  # the whole module needs a build, a kernel or a browser

# Machine paths and the developers' private notes (their content lives in CONTRIBUTING.md).
FORBIDDEN = re.compile(r"/work/|\.\./shared|\bshared/|paper-notes|stack-notes", re.IGNORECASE)


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


def test_the_pattern_catches_what_it_must():
    for text in ("see /work/shared/stack-notes.md", "../shared/style.md", "(see `shared/paper-notes.md`)",
                 "paper-notes Section 2"):
        assert FORBIDDEN.search(text), text
    for text in ("a shared representation", "shared_state", "the notes in CONTRIBUTING.md"):
        assert not FORBIDDEN.search(text), text


def test_no_tracked_file_points_outside_the_repository():
    files = _tracked_files()
    assert "CONTRIBUTING.md" in files and "_config.yml" in files, "git ls-files listed the wrong tree"
    hits = []
    for name in files:
        if name == "tests/test_self_contained.py":  # the patterns themselves
            continue
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{name}:{number}: {line.strip()[:100]}")
    assert not hits, "files point outside the repository:\n" + "\n".join(hits)
