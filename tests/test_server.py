"""The local web server that the PDF edition, the problem sets and the browser tests share
(``gbml_build.browser.Server``): it serves a folder, and a browser that hangs up mid-file is not an error."""
from __future__ import annotations

import socket
import struct
import threading
import time
import urllib.request

from gbml_build.browser import Server


def test_serves_the_folder_and_a_client_that_hangs_up_prints_nothing(tmp_path, capfd):
    (tmp_path / "page.html").write_text("<p>hello</p>", encoding="utf-8")
    (tmp_path / "big.bin").write_bytes(bytes(8 * 2**20))
    with Server(tmp_path) as server:
        serving = threading.active_count()  # with the server's own thread
        assert urllib.request.urlopen(f"{server.origin}/page.html").read() == b"<p>hello</p>"
        port = int(server.origin.rsplit(":", 1)[1])
        for _ in range(2):  # ask for a large file, read a little, then reset the connection
            with socket.create_connection(("127.0.0.1", port)) as client:
                client.sendall(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert client.recv(64).startswith(b"HTTP/1.0 200")
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        deadline = time.monotonic() + 10
        while threading.active_count() > serving and time.monotonic() < deadline:  # requests still handled
            time.sleep(0.01)
    assert "Exception occurred" not in capfd.readouterr().err
