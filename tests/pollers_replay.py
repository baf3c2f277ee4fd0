"""Helpers for the poller tests: replay recorded HTTP interactions through httpx.MockTransport.

Cassettes are the real recordings in ../shared/data/api (betamax JSON for Reddit, vcrpy YAML for
Mastodon). Requests are matched on method, path and the query parameters a test names; the
transport keeps a log of what was asked so tests can check the parameters sent.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

BASE_URL = "http://replay.test"


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class Replay:
    """A MockTransport answering from recorded interactions; unknown requests get a 404."""

    recordings: list[Recorded]
    match_params: tuple[str, ...] = ()
    sequential: bool = False  # each recording answers once, in recorded order (a stream)
    reusable_paths: tuple[str, ...] = ()  # in sequential mode, paths that may answer again
    requests: list[httpx.Request] = field(default_factory=list)
    used: set[int] = field(default_factory=set)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        for position, recorded in enumerate(self.recordings):
            if position in self.used:
                continue
            if recorded.method == request.method and _same_path(recorded.path, request.url.path) and all(
                recorded.params.get(name) == request.url.params.get(name) for name in self.match_params
            ):
                if self.sequential and recorded.path not in self.reusable_paths:
                    self.used.add(position)
                return httpx.Response(recorded.status, headers=recorded.headers, content=recorded.body)
        return httpx.Response(404, json={"error": "not recorded"})

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]


def _same_path(recorded: str, asked: str) -> bool:
    return recorded.rstrip("/") == asked.rstrip("/")


def _headers(raw: dict) -> dict[str, str]:
    keep = {"content-type", "etag", "last-modified", "link", "retry-after"}
    out = {}
    for name, value in raw.items():
        if name.lower() in keep:
            out[name.lower()] = value[0] if isinstance(value, list) else value
    return out


def _recorded(method: str, uri: str, status: int, headers: dict, body: bytes) -> Recorded:
    url = httpx.URL(uri)
    return Recorded(method, url.path, dict(url.params), status, _headers(headers), body)


def betamax(path: Path) -> list[Recorded]:
    """Interactions of a betamax (PRAW) cassette."""
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        out.append(_recorded(request["method"], request["uri"], response["status"]["code"],
                             response["headers"], response["body"]["string"].encode("utf-8")))
    return out


def vcr(path: Path) -> list[Recorded]:
    """Interactions of a vcrpy (Mastodon.py) cassette."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for interaction in data["interactions"]:
        request, response = interaction["request"], interaction["response"]
        body = response["body"]["string"]
        out.append(_recorded(request["method"], request["uri"], response["status"]["code"],
                             response["headers"], body.encode("utf-8") if isinstance(body, str) else body))
    return out


def file_response(path: str, body: bytes, content_type: str, method: str = "GET",
                  headers: dict | None = None) -> Recorded:
    """A recorded body (e.g. a saved API response file) served at a path."""
    return Recorded(method, path, {}, 200, {"content-type": content_type, **(headers or {})}, body)
