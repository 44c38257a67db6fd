"""A small HTTP server on 127.0.0.1 for download tests: Range requests, and a connection cut short."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class ArchiveServer:
    """Serves files from a folder; ``cut_after`` bytes into the next full response it drops the connection."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cut_after: int | None = None
        self.ranges: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                path = server.folder / self.path.lstrip("/").split("?")[0]
                if not path.is_file():
                    self.send_error(404, "Not Found")
                    return
                data = path.read_bytes()
                wanted = self.headers.get("Range")
                server.ranges.append(wanted)
                start = int(wanted.removeprefix("bytes=").split("-")[0]) if wanted else 0
                if start >= len(data) and wanted:
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206 if wanted else 200)
                if wanted:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None and not wanted:
                    body, server.cut_after = body[: server.cut_after], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/{name}"

    def __enter__(self) -> ArchiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
