"""Fixtures shared by the browser test modules (test_browser.py, test_accessibility.py): the book is
built once per session (``booksupport.built_book``), served once, and driven by one Chromium."""
from __future__ import annotations

import os

import pytest
from booksupport import CHROMIUM, Server, built_book, chromium


@pytest.fixture(scope="session")
def site():
    html = built_book()
    server = Server(html)
    yield server, html
    server.close()


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
                    "browser tests are never skipped")
    with chromium() as b:
        yield b
