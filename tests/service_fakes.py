"""Local stand-ins for the network edge of the service tests: HTTP servers on 127.0.0.1.

`HackerNewsServer` (from mentionwatch.local_servers, shared with `bench pipeline`) answers Algolia
`search_by_date` requests from a list of hits: the recorded real response, plus posts a test adds
while the service runs. `FeedServer` serves RSS files with ETags (304 when unchanged) and an optional
delay per request. `WebhookServer` records what apprise's json:// notifications POST to it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.parse

from mentionwatch.local_servers import HackerNewsServer, LocalServer, synthetic_hits

__all__ = ["FeedServer", "HackerNewsServer", "WebhookServer", "log_entries", "rss_feed",
           "start_service", "synthetic_hits", "wait_started", "wait_until"]


class FeedServer(LocalServer):
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


class WebhookServer(LocalServer):
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



def write_watchlist(path, db_path, sources: str, service: str = "") -> None:
    """Write a service watchlist (one watch, `nodejs`, with the given source lines) in one step: a
    running service's watcher never reads half a file."""
    new = path.with_name(path.name + ".new")
    new.write_text(f"""
database: {db_path}
service:
  score_interval: 1h
  detect_interval: 1h
  notify_retry_interval: 1h
  jitter: 1s
{service}
watches:
  - name: nodejs
    query:
      any: [node, nodejs, "node.js"]
    sources:
{sources}
""", encoding="utf-8")
    os.replace(new, path)


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


def wait_started(log_path, process, timeout: float = 90):
    """Wait for the service's 'started' log line (its migrations are done by then)."""
    def started():
        if process.poll() is not None:
            raise AssertionError(f"the service exited with {process.returncode}: "
                                 f"{log_path.read_text(encoding='utf-8')[-2000:]}")
        return log_path.exists() and '"event": "started"' in log_path.read_text(encoding="utf-8")
    wait_until(started, timeout, what="the service to start")
