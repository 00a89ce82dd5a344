"""Fixtures shared by the browser test modules (test_browser.py, test_accessibility.py): the book is
built once per session (``booksupport.built_book``), served once, and driven by one Chromium.

Two tiers (CONTRIBUTING, "Tests"): ``make check`` runs the tests not marked ``build``, with ``GBML_QUICK=1``
so that a test which builds, starts a kernel or a browser without the mark fails at once instead of making
the quick tier slow; ``make test`` runs everything.  A test is marked ``build`` by hand
(``@pytest.mark.build``) or here, when it uses one of ``BUILD_FIXTURES``.
"""
from __future__ import annotations

import os
import threading
import uuid

import pytest
from booksupport import CHROMIUM, Server, built_book, built_student, chromium, published_site, quick_tier_guard
from gbml_build.build import fetch_assets

#: Fixtures (of conftest.py and of the test modules) that build, start a kernel or a browser.
BUILD_FIXTURES = {"site", "browser", "built", "pdfs", "course", "every", "outputs", "tool", "student", "lab",
                  "offering"}


def pytest_configure(config):
    """``make test`` runs on pytest-xdist's workers (``-n``); its controller, which only hands out tests, builds
    the book and the student edition meanwhile, so that the workers start with the tests that need no build
    instead of waiting.  Builds are shared through ``booksupport.once_per_run`` (the run's id, a file lock)."""
    whole_suite = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    if (hasattr(config, "workerinput") or not config.getoption("numprocesses", None) or not whole_suite
            or os.environ.get("GBML_QUICK") == "1"):
        return
    config.option.testrunuid = config.option.testrunuid or uuid.uuid4().hex  # what xdist gives the workers
    os.environ["PYTEST_XDIST_TESTRUNUID"] = config.option.testrunuid
    _prefetch()


def _prefetch():
    """The book and the student edition, built at the same time (the student edition waits for the book only
    at its end, to copy the notebook edition), then the published site (from their execution cache)."""
    def build(*targets):
        try:
            for target in targets:
                target()
        except Exception:  # noqa: BLE001 - a worker builds again and reports the failure in its test
            pass
    fetch_assets()  # once, before the builds ask for it
    for targets in ((built_book,), (built_student, published_site)):
        threading.Thread(target=build, args=targets, name=f"prefetch {targets[0].__name__}", daemon=True).start()


#: The modules that take longest in ``make test --durations`` (their builds and clients), longest first: the
#: workers take them in this order once the quick modules are done, so that the last to finish are short
#: ones and neither worker is left alone at the end (a longest-first schedule).  The other modules that need
#: a build follow, in file order.  ``make test`` passes ``--no-loadscope-reorder``: pytest-xdist would
#: otherwise hand out the modules with the most tests first, whatever their length.
SLOWEST = ("test_browser", "test_notebook_edition", "test_problem_set_book", "test_course", "test_problem_set",
           "test_autograding", "test_publish", "test_self_check", "test_accessibility", "test_widgets",
           "test_pdf", "test_packs")


def pytest_collection_modifyitems(items):
    for item in items:
        if BUILD_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.build)
    # Modules that need no build first (while the controller builds), then the slowest; xdist hands out
    # modules in this order (--dist loadscope --no-loadscope-reorder).
    building = {item.module.__name__ for item in items if item.get_closest_marker("build")}

    def rank(item):
        name = item.module.__name__
        return (name in building, SLOWEST.index(name) if name in SLOWEST else len(SLOWEST))
    items.sort(key=rank)  # stable: the order inside a module is kept


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
