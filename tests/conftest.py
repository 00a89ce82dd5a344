"""Fixtures shared by the browser test modules (test_browser.py, test_accessibility.py): the book is
built once per session (``booksupport.built_book``), served once, and driven by one Chromium."""
from __future__ import annotations

import os

import pytest
from booksupport import CHROMIUM, CHROMIUM_ARGS, Server, built_book


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
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
