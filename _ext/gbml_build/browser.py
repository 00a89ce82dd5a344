"""Chromium and a local web server: the one set-up that the PDF edition (:mod:`.pdf`), the problem sets
(:mod:`.problem_set`) and the browser tests share.

* ``Server(folder)`` serves a folder on 127.0.0.1 (the port chosen by the OS unless given), in a thread;
* ``chromium()`` starts Debian's Chromium (``CHROMIUM``), headless, driven by Playwright;
* ``wait_for_mathjax(page)`` waits until MathJax has loaded and typeset the page.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import sys
import threading
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

_WAIT_FOR_MATHJAX = """async () => {
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - t0 > 60000) throw new Error('MathJax did not load');
    await new Promise(r => setTimeout(r, 50));
  }
  await MathJax.startup.promise;
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a browser that hung up is not an error
            super().handle_error(request, client_address)


class Server:
    """``directory`` served on 127.0.0.1 (``port`` 0: chosen by the OS) until ``close()``; ``origin`` is its
    address."""

    def __init__(self, directory: Path, port: int = 0):
        handler = functools.partial(_Quiet, directory=str(directory))
        self.httpd = _Server(("127.0.0.1", port), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


@contextlib.contextmanager
def chromium():
    """Debian's Chromium, headless, driven by Playwright (closed on exit)."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_for_mathjax(page) -> None:
    """Return once MathJax has loaded (60 s at most) and typeset the page."""
    page.evaluate(_WAIT_FOR_MATHJAX)
