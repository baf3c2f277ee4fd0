"""`mentionwatch bench pipeline`: how fast a post travels from a source to a stored alert.

Two measurements, both on 127.0.0.1 in a temporary folder with the real parts (the collector
against a local Hacker News-style API, SQLite storage, the sentiment model, the detector):

1. Throughput: a synthetic stream of N mentions pushed once through collect -> store -> score ->
   detect; each stage's time and mentions per second, and the whole pipeline's.
2. Latency: the real service scheduler polls the local source every `poll_interval` seconds; a
   burst of negative posts appears at a random moment, and the time until each step (stored,
   scored, alert stored) is measured. Goal: the alert within one poll interval + 60 s.
"""
from __future__ import annotations

import math
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

NEGATIVE_TEXTS = (
    "ACME broke our production again {n}. Terrible release, awful experience, I hate it.",
    "The latest ACME update is a disaster {n}: crashes every hour, we lost customer data. Worst upgrade ever.",
    "So angry at ACME right now {n}, the outage took our site down all night. Unacceptable.",
)
OTHER_TEXTS = (
    "I love the new ACME release {n}, great work by the team!",
    "ACME support answered within minutes ({n}), really happy with them.",
    "ACME published version {n} of their client today.",
    "Does anyone know whether ACME {n} works on ARM?",
    "Switched our billing to ACME last month ({n}); so far so good.",
)


def _hits(count: int, first_id: int, newest: int, spread_seconds: int, texts) -> list[dict]:
    from mentionwatch.local_servers import synthetic_hits

    step = max(1, spread_seconds // max(count, 1))
    hits = []
    for i in range(count):
        hit = synthetic_hits(1, first_id + i, newest - i * step, "")[0]
        hit["comment_text"] = texts[i % len(texts)].format(n=first_id + i)
        hit["story_title"] = "ACME discussion"
        hits.append(hit)
    return hits


def _config_text(db_path: Path, hn_url: str, poll_interval: float, count: int, threshold: int) -> str:
    return f"""
database: {db_path}
sentiment: {{model: builtin}}
alerts:
  bucket: 5m
  warmup: 7d
  cooldown: 1h
  thresholds:
    - {{count: {threshold}, window: 15m, severity: high}}
service: {{score_interval: 5s, detect_interval: 60s, notify_retry_interval: 1h, jitter: 1s}}
watches:
  - name: acme
    query: {{any: [acme]}}
    sources:
      - type: hackernews
        interval: {poll_interval:g}s
        base_url: "{hn_url}"
        options: {{min_interval: 0, max_pages: {math.ceil(count / 100) + 1}}}
"""


def run_pipeline_bench(stream_size: int = 2000, poll_interval: float = 10.0,
                       burst: int = 12) -> Iterator[str]:
    """Run both measurements, yielding the lines to print as they are known."""
    from mentionwatch.config import load_config
    from mentionwatch.local_servers import HackerNewsServer
    from scheduler import _quiet_progress_bars
    from sentiment import load_scorer

    _quiet_progress_bars()
    with tempfile.TemporaryDirectory(prefix="mentionwatch-bench-") as folder:
        folder = Path(folder)
        started = time.perf_counter()
        config_path = folder / "throughput.yaml"
        probe = load_config(_write(config_path, _config_text(folder / "x.db", "http://127.0.0.1:9", 60, 1, 1)))
        scorer = load_scorer(probe.sentiment)
        load_seconds = time.perf_counter() - started
        yield f"Sentiment model {scorer.model_id} loaded in {load_seconds:.1f}s (once per service start)."
        yield from _throughput(folder, stream_size, scorer)
        yield from _latency(folder, poll_interval, burst, scorer, HackerNewsServer)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _throughput(folder: Path, stream_size: int, scorer) -> Iterator[str]:
    from alerts.detect import run_detection
    from crawler.collect import collect_source
    from mentionwatch.config import load_config
    from mentionwatch.local_servers import HackerNewsServer
    from sentiment import score_unscored
    from storage import open_db

    now = int(time.time())
    stream = _hits(stream_size, 1_000_000, now, 86400, NEGATIVE_TEXTS[:1] + OTHER_TEXTS)
    with HackerNewsServer(stream) as server:
        config = load_config(_write(folder / "throughput.yaml",
                                    _config_text(folder / "throughput.db", server.url, 60, stream_size, 10**6)))
        db = open_db(config.database)
        watch = config.watches[0]
        timings = []
        started = time.perf_counter()
        collected = collect_source(db, config, watch, watch.sources[0])
        timings.append(("collect + store", time.perf_counter() - started, collected.new))
        started = time.perf_counter()
        scored = score_unscored(db, scorer)
        timings.append(("score", time.perf_counter() - started, scored.scored))
        started = time.perf_counter()
        run_detection(db, config, notify=False)
        timings.append(("detect", time.perf_counter() - started, stream_size))
        db.close()
    yield ""
    yield f"Throughput: a synthetic stream of {stream_size} mentions, local HN API -> SQLite -> model -> detector"
    yield f"  {'stage':<16}{'seconds':>10}{'mentions':>10}{'mentions/s':>12}"
    for stage, seconds, count in timings:
        yield f"  {stage:<16}{seconds:>10.2f}{count:>10}{count / seconds if seconds else 0:>12.0f}"
    total = sum(seconds for _, seconds, _ in timings)
    stored = timings[0][2]
    yield f"  {'whole pipeline':<16}{total:>10.2f}{stored:>10}{stored / total if total else 0:>12.0f}"
    if collected.errors:
        yield f"  collector errors: {collected.errors[0]}"


def _latency(folder: Path, poll_interval: float, burst: int, scorer, server_class) -> Iterator[str]:
    from scheduler import Service
    from storage import open_db

    now = int(time.time())
    background = _hits(40, 2_000_000, now - 600, 3600 * 6, OTHER_TEXTS)
    threshold = max(2, burst // 2)
    with server_class(background) as server:
        config_path = _write(folder / "latency.yaml",
                             _config_text(folder / "latency.db", server.url, poll_interval, 100, threshold))
        service = Service(config_path, blocking=False, stop_timeout=120)
        service._scorer = scorer  # already loaded above: the latency run measures steady state
        service.start()
        try:
            db = open_db(folder / "latency.db")
            _wait(lambda: _count(db, "SELECT count(*) FROM scores") >= len(background), 300)
            time.sleep(random.uniform(0, poll_interval))  # the post appears at a random poll phase
            appeared = time.monotonic()
            burst_hits = _hits(burst, 3_000_000, int(time.time()), burst, NEGATIVE_TEXTS)
            server.add_hits(burst_hits)
            ids = ",".join(f"'{hit['objectID']}'" for hit in burst_hits)
            stored = _wait(lambda: _count(db, f"SELECT count(*) FROM mentions WHERE external_id IN ({ids})"), 600)
            scored = _wait(lambda: _count(db, "SELECT count(*) FROM scores s JOIN mentions m ON "
                                              f"m.id = s.mention_id WHERE m.external_id IN ({ids})"), 600)
            alerted = _wait(lambda: _count(db, "SELECT count(*) FROM alerts"), poll_interval + 300)
            negative = _count(db, "SELECT count(*) FROM scores s JOIN mentions m ON m.id = s.mention_id "
                                  f"WHERE s.label = 'negative' AND m.external_id IN ({ids})")
            db.close()
        finally:
            service.stop("bench over")
            service.finish()
    yield ""
    yield (f"Latency: the service polls the local source every {poll_interval:g}s; {burst} negative posts "
           f"appear at a random moment (rule: {threshold} negative in 15m)")
    for step, moment in (("stored", stored), ("scored", scored), ("alert stored", alerted)):
        text = f"{moment - appeared:.1f}s" if moment else "not within the wait"
        yield f"  post appeared -> {step:<13} {text}"
    goal = poll_interval + 60
    if alerted:
        verdict = "met" if alerted - appeared <= goal else "missed"
        yield f"  goal: alert within one poll interval + 60 s = {goal:g}s: {verdict}"
    else:
        yield f"  no alert: the model labelled {negative} of {burst} burst posts negative (rule needs {threshold})"


def _count(db, sql: str) -> int:
    return db.execute(sql).fetchone()[0]


def _wait(predicate, timeout: float) -> float | None:
    """The monotonic time at which `predicate` first held, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(0.05)
    return None
