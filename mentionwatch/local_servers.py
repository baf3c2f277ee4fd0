"""Local HTTP servers that stand in for a site, an API or a webhook: used by the benchmarks
(`mentionwatch bench pipeline`, `mentionwatch bench spiders`) and the tests.

`HackerNewsServer` answers Algolia `search_by_date` requests on 127.0.0.1 from a list of hits,
honouring `numericFilters` (the poller's cursor) and paging like the real API, so the real
collector can be measured and tested without the internet. `synthetic_hits` makes such hits.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def within_numeric_filters(created_at_i: int, filters: list[str]) -> bool:
    """Algolia's `numericFilters` on `created_at_i`, as the poller sends them: `created_at_i>N`, and
    for a stretch it could not read before, `created_at_i>N,created_at_i<M` (commas mean AND)."""
    for condition in (part for value in filters for part in value.split(",")):
        for operator, holds in ((">", created_at_i.__gt__), ("<", created_at_i.__lt__)):
            if condition.startswith("created_at_i" + operator) and not holds(int(condition.split(operator, 1)[1])):
                return False
    return True


class LocalServer:
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
        try:
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a crawl stopped at its time limit): nothing to answer


class HackerNewsServer(LocalServer):
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
        hits = [h for h in hits if within_numeric_filters(h.get("created_at_i", 0), params.get("numericFilters", []))]
        per_page = int(params.get("hitsPerPage", ["20"])[0])
        page = int(params.get("page", ["0"])[0])
        pages = max(1, -(-len(hits) // per_page))
        body = {"hits": hits[page * per_page:(page + 1) * per_page], "page": page, "nbPages": pages,
                "nbHits": len(hits), "hitsPerPage": per_page}
        if self.delay:
            time.sleep(self.delay)
        self.reply(request, 200, json.dumps(body).encode(), "application/json; charset=utf-8")


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
