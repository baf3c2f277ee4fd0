"""Local stand-ins for the network edge of the service tests: HTTP servers on 127.0.0.1.

`HackerNewsServer` answers Algolia `search_by_date` requests from a list of hits (the recorded real
response, plus posts a test adds while the service runs), honouring `numericFilters` and paging
like the real API. `FeedServer` serves RSS files with ETags (304 when unchanged) and an optional
delay per request. `WebhookServer` records what apprise's json:// notifications POST to it.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    """A ThreadingHTTPServer on a free local port, run in a thread; use as a context manager."""

    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                owner.handle_get(self)

            def do_POST(self):  # noqa: N802
                owner.handle_post(self)

            def log_message(self, *args):  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.requests: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def handle_get(self, request):
        request.send_error(404)

    def handle_post(self, request):
        request.send_error(404)

    @staticmethod
    def reply(request, status: int, body: bytes, content_type: str, headers: dict | None = None):
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)


class HackerNewsServer(_Server):
    """The Algolia HN search API over a list of hits, newest first."""

    def __init__(self, hits: list[dict], delay: float = 0.0):
        super().__init__()
        self.hits = list(hits)
        self.delay = delay

    def add_hits(self, hits: list[dict]) -> None:
        with self.lock:
            self.hits.extend(hits)

    def handle_get(self, request):
        parsed = urllib.parse.urlsplit(request.path)
        with self.lock:
            self.requests.append(request.path)
            hits = sorted(self.hits, key=lambda h: h.get("created_at_i", 0), reverse=True)
        if not parsed.path.endswith("/search_by_date"):
            return self.reply(request, 404, b"{}", "application/json")
        params = urllib.parse.parse_qs(parsed.query)
        newer_than = None
        for condition in params.get("numericFilters", []):
            if condition.startswith("created_at_i>"):
                newer_than = int(condition.split(">", 1)[1])
        if newer_than is not None:
            hits = [h for h in hits if h.get("created_at_i", 0) > newer_than]
        per_page = int(params.get("hitsPerPage", ["20"])[0])
        page = int(params.get("page", ["0"])[0])
        pages = max(1, -(-len(hits) // per_page))
        body = {"hits": hits[page * per_page:(page + 1) * per_page], "page": page, "nbPages": pages,
                "nbHits": len(hits), "hitsPerPage": per_page}
        if self.delay:
            time.sleep(self.delay)
        self.reply(request, 200, json.dumps(body).encode(), "application/json; charset=utf-8")


class FeedServer(_Server):
    """RSS files by path, with an ETag each; If-None-Match with the same tag gets a 304."""

    def __init__(self, feeds: dict[str, bytes], delay: float = 0.0):
        super().__init__()
        self.feeds = dict(feeds)
        self.delay = delay
        self.not_modified: list[str] = []

    @staticmethod
    def etag_of(body: bytes) -> str:
        return '"' + hashlib.sha1(body).hexdigest()[:16] + '"'

    def handle_get(self, request):
        path = urllib.parse.urlsplit(request.path).path
        with self.lock:
            self.requests.append(path)
        body = self.feeds.get(path)
        if body is None:
            return self.reply(request, 404, b"not found", "text/plain")
        if self.delay:
            time.sleep(self.delay)
        etag = self.etag_of(body)
        if request.headers.get("If-None-Match") == etag:
            with self.lock:
                self.not_modified.append(path)
            request.send_response(304)
            request.send_header("ETag", etag)
            request.end_headers()
            return None
        self.reply(request, 200, body, "application/rss+xml", {"ETag": etag})


class WebhookServer(_Server):
    """Records the JSON bodies POSTed to it (apprise json:// notifications)."""

    def __init__(self):
        super().__init__()
        self.received: list[dict] = []

    def handle_post(self, request):
        length = int(request.headers.get("Content-Length", 0))
        raw = request.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = {"raw": raw.decode("utf-8", "replace")}
        with self.lock:
            self.received.append(body)
        self.reply(request, 200, b"{}", "application/json")


def synthetic_hits(count: int, start_id: int, newest_time: int, text: str) -> list[dict]:
    """HN comment hits shaped like the recorded ones, one second apart, newest first."""
    return [{
        "objectID": str(start_id + i),
        "created_at_i": newest_time - i,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(newest_time - i)),
        "author": f"user{(start_id + i) % 97}",
        "comment_text": text.format(n=start_id + i),
        "story_title": "Ask HN: Node.js in production",
        "_tags": ["comment", f"author_user{(start_id + i) % 97}", f"story_{start_id}"],
    } for i in range(count)]


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll `predicate` until it returns something truthy; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def start_service(config_path, log_path, env: dict | None = None, *extra_args: str):
    """`python -m mentionwatch --config X run --log-format json` as a real subprocess."""
    import os
    import subprocess
    import sys

    log_file = open(log_path, "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--config", str(config_path), "run",
         "--log-format", "json", "--reload-check", "1s", *extra_args],
        stdout=log_file, stderr=subprocess.STDOUT, cwd=str(config_path.parent),
        env={**os.environ, **(env or {})})
    log_file.close()
    return process


def log_entries(log_path) -> list[dict]:
    """The JSON log lines a service wrote (anything else, e.g. a traceback, raises)."""
    entries = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


def rss_feed(title: str, items: list[tuple[str, str, str]]) -> bytes:
    """An RSS 2.0 document; items are (guid, title, description), dated now, one minute apart."""
    from email.utils import formatdate

    now = time.time()
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{title}</title>'
             "<link>http://127.0.0.1/</link><description>test feed</description><language>en</language>"]
    for position, (guid, item_title, description) in enumerate(items):
        parts.append(f"<item><title>{item_title}</title><link>http://127.0.0.1/{guid}</link>"
                     f"<guid>{guid}</guid><description>{description}</description>"
                     f"<pubDate>{formatdate(now - 60 * position, usegmt=True)}</pubDate></item>")
    parts.append("</channel></rss>")
    return "".join(parts).encode("utf-8")
