"""A static file server on 127.0.0.1 for download tests: serves bytes by path, answers Range requests like
GitHub's raw server and the hub's CDN do, logs every request, and can break a response off half-way.

    with serve({"/a/b.json": b"..."}) as site:
        os.environ["JAFT_DATA_MIRROR"] = site.base   # http://127.0.0.1:<port>
"""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


@dataclass
class Site:
    files: dict[str, bytes]                           # raw request path -> body
    cut: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before the connection drops
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    base: str = ""


@contextmanager
def serve(files: dict[str, bytes]) -> Iterator[Site]:
    site = Site(dict(files))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep the test output clean
            pass

        def do_GET(self):
            site.requests.append((self.path, self.headers.get("Range")))
            body = site.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if m:
                start = int(m.group(1))
                if start >= len(body):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            cut = site.cut.get(self.path)
            self.wfile.write(body[start:] if cut is None else body[start:start + cut])

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def dead_base() -> str:
    """A loopback address where nothing listens (a port bound, then released)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"
