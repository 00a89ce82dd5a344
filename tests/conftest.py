"""Fixtures shared by the browser test modules (test_browser.py, test_accessibility.py): the book is
built once per session (``booksupport.built_book``), served once, and driven by one Chromium.

Two tiers (CONTRIBUTING, "Tests"): ``make check`` runs the tests not marked ``build``, with ``GBML_QUICK=1``
so that a test which builds, starts a kernel or a browser without the mark fails at once instead of making
the quick tier slow; ``make test`` runs everything.  A test is marked ``build`` by hand
(``@pytest.mark.build``) or here, when it uses one of ``BUILD_FIXTURES``.
"""
from __future__ import annotations

import os

import pytest
from booksupport import CHROMIUM, Server, built_book, chromium, quick_tier_guard

#: Fixtures (of conftest.py and of the test modules) that build, start a kernel or a browser.
BUILD_FIXTURES = {"site", "browser", "built", "pdfs", "course", "every", "outputs", "tool", "student", "lab",
                  "offering"}


def pytest_collection_modifyitems(items):
    for item in items:
        if BUILD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.build)


@pytest.fixture(scope="session")
def site():
    html = built_book()
    server = Server(html)
    yield server, html
    server.close()


@pytest.fixture(scope="session")
def browser():
    quick_tier_guard("Chromium")
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); "
                    "browser tests are never skipped")
    with chromium() as b:
        yield b
