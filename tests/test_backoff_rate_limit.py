"""A source that rate-limits us and says until when is polled again only once the limit has ended.

The real service and collector, with the rate limit answered at the network edge: a Stack Exchange
stand-in on 127.0.0.1 (`throttle_violation`) and GitHub's `X-RateLimit-Remaining: 0` /
`X-RateLimit-Reset` through an httpx.MockTransport. A try before the end would only prolong a
Stack Exchange ban, so the usual back-off (2x the interval) must not win when the limit ends later.
"""
from __future__ import annotations

import datetime as dt
import json
import time
import urllib.parse

import httpx

from mentionwatch.local_servers import LocalServer
from scheduler import RATE_LIMITED_UNTIL, Service, collect_targets
from storage import open_db
from tests.service_fakes import wait_until, write_watchlist

UTC = dt.timezone.utc
BAN_SECONDS = 82512  # far longer than the interval (1h) and its back-off (2h)


class ThrottlingStackExchange(LocalServer):
    """`/2.3/search/advanced`: the first `pages_answered` requests get one page of questions each
    (with has_more), every later one a throttle_violation lasting `ban` seconds."""

    def __init__(self, ban: int, pages_answered: int = 0):
        super().__init__()
        self.ban = ban
        self.pages_answered = pages_answered

    def handle_get(self, request):
        with self.lock:
            self.requests.append(request.path)
            number = len(self.requests)
        if number <= self.pages_answered:
            now = int(time.time())
            items = [{"question_id": number * 1000 + i, "creation_date": now - 60 * (number * 10 + i),
                      "title": f"node question {number}-{i}", "body": "<p>about node</p>",
                      "link": f"https://stackoverflow.com/q/{number * 1000 + i}",
                      "owner": {"display_name": "someone", "reputation": 1}} for i in range(3)]
            body = {"items": items, "has_more": True, "quota_remaining": 100}
            return self.reply(request, 200, json.dumps(body).encode(), "application/json")
        body = {"error_id": 502, "error_name": "throttle_violation",
                "error_message": f"too many requests from this IP, more requests available in "
                                 f"{self.ban} seconds"}
        self.reply(request, 400, json.dumps(body).encode(), "application/json; charset=utf-8")


def _source(kind: str, url: str) -> str:
    return f"""      - type: {kind}
        interval: 1h
        base_url: {url}
        options: {{min_interval: 0}}
"""


def _start(tmp_path, source: str, **collect_options) -> Service:
    config_path = tmp_path / "watch.yaml"
    write_watchlist(config_path, tmp_path / "svc.db", source)
    service = Service(config_path, blocking=False,
                      collect_options={"sleep": lambda _s: None, **collect_options})
    for kind in ("score", "detect", "notify"):  # about scheduling, not scoring
        setattr(service, f"_job_{kind}", lambda _db, _job_id: ("ok", {}))
    service.start()
    return service


def _stop(service: Service) -> None:
    service.stop("test over")
    assert service.finish() == 0


def _when(stamp: str) -> dt.datetime:
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _job_row(db, job_id: str, runs: int = 1):
    """(failures, backoff_until, next_run_at) once the job has run `runs` time(s)."""
    wait_until(lambda: db.execute("SELECT count(*) FROM job_runs WHERE job_id = ? AND status IN "
                                  "('ok', 'partial', 'failed')", [job_id]).fetchone()[0] >= runs,
               30, what=f"{job_id} to run")
    return wait_until(lambda: db.execute(
        "SELECT failures, backoff_until, next_run_at FROM service_jobs WHERE job_id = ? "
        "AND backoff_until IS NOT NULL", [job_id]).fetchone(), 10, what=f"{job_id} to back off")


def test_a_long_stack_exchange_ban_is_waited_out_not_prolonged(tmp_path, cli):
    with ThrottlingStackExchange(BAN_SECONDS) as server:
        service = _start(tmp_path, _source("stackexchange", server.url))
        try:
            db = open_db(service.db_path)
            [job_id] = collect_targets(service.config)
            asked = dt.datetime.now(UTC)
            failures, until, next_run = _job_row(db, job_id)
            assert failures == 1
            wait = (_when(until) - asked).total_seconds()
            assert BAN_SECONDS - 5 <= wait <= BAN_SECONDS + 5  # not the 2h of the usual back-off
            assert next_run == until  # the next try is the end of the ban, not before
            assert len(server.requests) == 1  # the other searches were not tried either
            detail = json.loads(db.execute("SELECT detail FROM job_runs WHERE job_id = ? ORDER BY id "
                                           "DESC LIMIT 1", [job_id]).fetchone()[0])
            assert detail[RATE_LIMITED_UNTIL] == until
        finally:
            _stop(service)

        # a restart keeps to the ban too
        service = _start(tmp_path, _source("stackexchange", server.url))
        try:
            job = service.scheduler.get_job(job_id)
            assert job.next_run_time >= _when(until)
            assert len(server.requests) == 1
        finally:
            _stop(service)

    result = cli("--config", tmp_path / "watch.yaml", "status")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.output.splitlines() if job_id in line)
    assert "backing off until " + until in line
    assert f"rate limited until {until}: waiting for the rate limit to end" in line


def test_a_back_off_that_is_over_is_not_told_as_going_on():
    """Walkthrough 14b: a job running again still read 'backing off until <a time gone by>'."""
    import datetime as dt

    from mentionwatch.commands.service import _job_note

    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)
    job = {"failures": 1, "last_detail": None}
    assert _job_note({**job, "backoff_until": "2026-12-06T12:05:00Z"}, now) == (
        "1 failure(s) in a row, backing off until 2026-12-06T12:05:00Z")
    assert _job_note({**job, "backoff_until": "2026-12-06T11:55:00Z"}, now) == "1 failure(s) in a row"


def test_a_run_closed_with_a_plain_line_shows_it():
    """Fourth review: 'the service stopped during this run' (and a backup's 'the backup was taken
    during this run') is stored as a plain line, and status showed an empty note."""
    import datetime as dt

    from mentionwatch.commands.service import _job_note

    now = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)
    job = {"failures": 0, "backoff_until": None, "last_detail": "the backup was taken during this run"}
    assert _job_note(job, now) == "the backup was taken during this run"


def test_a_partial_poll_cut_short_by_a_ban_waits_for_its_end(tmp_path):
    with ThrottlingStackExchange(BAN_SECONDS, pages_answered=1) as server:
        service = _start(tmp_path, _source("stackexchange", server.url))
        try:
            db = open_db(service.db_path)
            [job_id] = collect_targets(service.config)
            asked = dt.datetime.now(UTC)
            failures, until, next_run = _job_row(db, job_id)
            status = db.execute("SELECT status FROM job_runs WHERE job_id = ? ORDER BY id DESC LIMIT 1",
                                [job_id]).fetchone()[0]
            assert status == "partial" and failures == 0
            assert abs((_when(until) - asked).total_seconds() - BAN_SECONDS) <= 5
            assert next_run == until  # not an interval (1h) from now
            assert db.execute("SELECT count(*) FROM mentions").fetchone()[0] == 3
        finally:
            _stop(service)


def test_githubs_rate_limit_end_or_the_usual_back_off_whichever_is_later(tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_GITHUB_TOKEN", raising=False)  # the 403 also names the token
    reset = {"at": int(time.time()) + 600}  # after the fetcher's longest wait, before 2h
    requests = []

    def github(request: httpx.Request) -> httpx.Response:
        requests.append(urllib.parse.unquote_plus(str(request.url)))
        return httpx.Response(403, headers={"X-RateLimit-Remaining": "0",
                                            "X-RateLimit-Reset": str(reset["at"])},
                              json={"message": "API rate limit exceeded for 127.0.0.1."})

    service = _start(tmp_path, _source("github", "https://api.github.test"),
                     transport=httpx.MockTransport(github))
    try:
        db = open_db(service.db_path)
        [job_id] = collect_targets(service.config)
        asked = dt.datetime.now(UTC)
        failures, until, next_run = _job_row(db, job_id)
        assert failures == 1 and next_run == until
        assert abs((_when(until) - asked).total_seconds() - 2 * 3600) <= 5  # the usual back-off

        reset["at"] = int(time.time()) + 5 * 3600  # later than the next back-off (4h)
        service._run_job(job_id, "collect")
        failures, until, next_run = _job_row(db, job_id, runs=2)
        assert failures == 2 and next_run == until
        assert until == dt.datetime.fromtimestamp(reset["at"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        next_time = service.scheduler.get_job(job_id).next_run_time
        assert _when(until) <= next_time < _when(until) + dt.timedelta(seconds=1)
        assert len(requests) == 2
    finally:
        _stop(service)


def test_a_new_interval_does_not_end_a_ban_early(tmp_path):
    with ThrottlingStackExchange(BAN_SECONDS) as server:
        service = _start(tmp_path, _source("stackexchange", server.url))
        try:
            db = open_db(service.db_path)
            [job_id] = collect_targets(service.config)
            _failures, until, _next_run = _job_row(db, job_id)
            write_watchlist(service.config_path, service.db_path,
                          _source("stackexchange", server.url).replace("interval: 1h", "interval: 2h"))
            assert service.reload("test") and list(collect_targets(service.config)) == [job_id]
            assert service._intervals[job_id][0] == 7200  # rescheduled ...
            assert service.scheduler.get_job(job_id).next_run_time >= _when(until)  # ... not earlier
        finally:
            _stop(service)


def test_a_pause_of_decades_stored_by_an_older_version_is_cut_to_a_day_at_start(tmp_path):
    """An older version took 'Retry-After: <a date in 2099>' as it came and stored it: after the
    upgrade the source stayed silent until 2099."""
    with ThrottlingStackExchange(BAN_SECONDS) as server:
        service = _start(tmp_path, _source("stackexchange", server.url))
        [job_id] = collect_targets(service.config)
        _stop(service)
        db = open_db(tmp_path / "svc.db")
        with db.conn:
            db.execute("UPDATE service_jobs SET backoff_until = '2099-10-21T07:28:00Z', failures = 1 "
                       "WHERE job_id = ?", [job_id])
        db.close()
        service = _start(tmp_path, _source("stackexchange", server.url))
        try:
            next_run = service.scheduler.get_job(job_id).next_run_time
            assert next_run <= dt.datetime.now(UTC) + dt.timedelta(days=1, minutes=1)
        finally:
            _stop(service)
