"""A loopback HTTP server (127.0.0.1 only) for the data tests, in the real remote layouts.

It serves plain files with Range support (COCO zips, GenImage mirror archives, ModelScope's
``/datasets/<ns>/<name>/resolve/<rev>/<path>`` route) and JSON answers (ModelScope's listing
API), can drop a connection half-way, answer an error status once, ignore ranges, or trickle a
body a few bytes at a time (a stalled mirror), and counts
the body bytes it sends per request, so tests can assert what was actually transferred.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JsonRoute = Callable[[dict[str, str]], tuple[int, Any]]


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    json_routes: dict[str, JsonRoute] = field(default_factory=dict)
    drop_once: set[str] = field(default_factory=set)  # send half the body, then close
    fail_once: dict[str, int] = field(default_factory=dict)  # answer this status once
    ignore_range: bool = False
    # send the body ``n`` bytes at a time, ``delay`` seconds apart: {path: (n, delay)}
    trickle: dict[str, tuple[int, float]] = field(default_factory=dict)
    _log: list[dict] = field(default_factory=list)
    _in_flight: int = 0
    _idle: threading.Condition = field(default_factory=threading.Condition)

    @property
    def requests(self) -> list[dict]:
        """Every request so far, read once no handler is still answering one.

        The client can hold the whole body before the server thread that wrote it has recorded
        how much it sent (the last ``write`` returns after the bytes are on the wire), so a test
        that read the records at once could see a finished transfer counted as 0 bytes.
        """
        with self._idle:
            if not self._idle.wait_for(lambda: self._in_flight == 0, timeout=10):
                raise TimeoutError("the loopback server is still answering a request after 10 s")
            return list(self._log)

    def sent(self, path: str) -> int:
        """Body bytes sent for ``path`` over all requests."""
        return sum(r.get("sent", 0) for r in self.requests if r["path"] == path)

    @contextmanager
    def answering(self, record: dict) -> Iterator[None]:
        """Log ``record`` and count the handler as busy until it has answered."""
        with self._idle:
            self._log.append(record)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _empty(self, record: dict, status: int, headers: dict[str, str] | None = None) -> None:
        record["status"] = status
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # noqa: N802 - http.server API
        st: ServerState = self.server.state  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parts.path)
        record = {"path": path, "query": parts.query, "range": self.headers.get("Range"),
                  "if_range": self.headers.get("If-Range"), "sent": 0}
        with st.answering(record):
            return self._answer(st, path, parts.query, record)

    def _answer(self, st: ServerState, path: str, query_string: str, record: dict) -> None:
        if path in st.fail_once:
            return self._empty(record, st.fail_once.pop(path))
        if path in st.json_routes:
            query = dict(urllib.parse.parse_qsl(query_string))
            status, obj = st.json_routes[path](query)
            body = json.dumps(obj).encode()
            record["status"] = status
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            record["sent"] = len(body)
            return None
        body = st.files.get(path)
        if body is None:
            return self._empty(record, 404)
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        start = 0
        rng, if_range = record["range"], record["if_range"]
        if rng and not st.ignore_range and (if_range is None or if_range == etag):
            start = int(re.fullmatch(r"bytes=(\d+)-", rng).group(1))
            if start >= len(body):
                return self._empty(record, 416, {"Content-Range": f"bytes */{len(body)}"})
            record["status"] = 206
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            record["status"] = 200
            self.send_response(200)
        payload = body[start:]
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if path in st.drop_once:
            st.drop_once.discard(path)
            half = payload[: len(payload) // 2]
            self.wfile.write(half)
            self.wfile.flush()
            record["sent"] = len(half)
            self.close_connection = True
            return None
        if path in st.trickle:
            step, delay = st.trickle[path]
            try:
                for i in range(0, len(payload), step):
                    self.wfile.write(payload[i:i + step])
                    self.wfile.flush()
                    record["sent"] += len(payload[i:i + step])
                    time.sleep(delay)
            except OSError:  # the client gave up (BrokenPipe, ConnectionReset): stop sending
                self.close_connection = True
            return None
        self.wfile.write(payload)
        record["sent"] = len(payload)
        return None


@dataclass
class Server:
    state: ServerState
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}{path}"


@contextmanager
def serve() -> Iterator[Server]:
    """Run a server on a free loopback port for the duration of the block."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield Server(httpd.state, httpd.server_address[1])  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()


class FakeModelScope:
    """ModelScope's dataset routes on a :class:`Server`, answering in the hub's JSON shape.

    ``GET /api/v1/datasets/<ns>/<name>`` -> ``{"Code": 200, "Data": {"Id": .., "Type": ..}, ...}``;
    ``GET /api/v1/datasets/<Id>/repo/tree?Revision=&Root=&Recursive=&PageNumber=&PageSize=`` ->
    ``{"Code": 200, "Data": {"Files": [{"Name", "Path", "Type": "blob"|"tree", "Size",
    "Sha256", ...}]}, ...}`` one page at a time (the shape the ``modelscope`` client reads);
    files under ``/datasets/<ns>/<name>/resolve/<revision>/<path>``.
    """

    def __init__(self, server: Server, dataset: str = "BokingChen/DRCT-2M", revision: str = "master",
                 dataset_id: int = 303030, list_sha256: bool = True) -> None:
        self.server, self.dataset, self.revision, self.id = server, dataset, revision, dataset_id
        self.list_sha256 = list_sha256
        self.listed: dict[str, bytes] = {}
        st = server.state
        st.json_routes[f"/api/v1/datasets/{dataset}"] = self._info
        st.json_routes[f"/api/v1/datasets/{dataset_id}/repo/tree"] = self._tree

    def add(self, path: str, data: bytes, *, listed: bool = True) -> None:
        """Serve ``data`` at ``path`` of the dataset (and list it, unless ``listed`` is False)."""
        self.server.state.files[self.resolve_path(path)] = data
        if listed:
            self.listed[path] = data

    def resolve_path(self, path: str) -> str:
        return f"/datasets/{self.dataset}/resolve/{self.revision}/{path}"

    def _envelope(self, data: Any) -> dict[str, Any]:
        return {"Code": 200, "Data": data, "Message": "success", "RequestId": "test", "Success": True}

    def _info(self, query: dict[str, str]) -> tuple[int, Any]:
        return 200, self._envelope({"Id": self.id, "Type": 0, "Name": self.dataset.split("/")[1],
                                    "Namespace": self.dataset.split("/")[0]})

    def _entries(self) -> list[dict[str, Any]]:
        folders = sorted({p.rsplit("/", 1)[0] for p in self.listed if "/" in p})
        out: list[dict[str, Any]] = [
            {"CommitId": None, "CommitMessage": "", "Name": f.rsplit("/", 1)[-1], "Path": f,
             "Size": 0, "Type": "tree"} for f in folders]
        for path, data in sorted(self.listed.items()):
            entry = {"CommitId": "abc", "CommitMessage": "upload", "CommittedDate": 1700000000,
                     "IsLFS": True, "Mode": "100644", "Name": path.rsplit("/", 1)[-1], "Path": path,
                     "Revision": "abc", "Size": len(data), "Type": "blob"}
            if self.list_sha256:
                entry["Sha256"] = hashlib.sha256(data).hexdigest()
            out.append(entry)
        return out

    def _tree(self, query: dict[str, str]) -> tuple[int, Any]:
        if query.get("Revision") != self.revision:
            return 200, {"Code": 10010205001, "Message": "revision not found", "Success": False}
        page, size = int(query.get("PageNumber", 1)), int(query.get("PageSize", 100))
        entries = self._entries()[(page - 1) * size: page * size]
        return 200, self._envelope({"Files": entries})
