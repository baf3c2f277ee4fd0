"""`mentionwatch browse`: the read-only Datasette view starts on a free local port and answers."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from storage import open_db
from test_export import POSTS, _stock  # the small stocked database of the export tests

STARTUP_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module: Datasette takes several seconds to start on a busy machine."""
    db_path = tmp_path_factory.mktemp("browse") / "watch.db"
    ids = _stock(db_path)
    db = open_db(db_path)
    db.execute("INSERT INTO triage VALUES (?, 'flagged', 'dana', '2024-03-07T00:00:00Z', 'call back')",
               [ids["p4"]])
    db.conn.commit()
    db.close()
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mentionwatch", "--db", str(db_path), "browse", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, lambda: process.stderr.read())
        yield base, ids, db_path
    finally:
        stop(process)


def wait_until_serving(process: subprocess.Popen, base: str, console) -> None:
    """Until browse answers at `base`; `console()` is its output, shown if it ends first."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        assert process.poll() is None, console()[-2000:]
        try:
            if httpx.get(f"{base}/-/versions.json", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "browse did not answer"
        time.sleep(0.3)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _json(url, **params):
    response = httpx.get(url, params={"_shape": "array", **params}, timeout=10)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_canned_queries_answer(served):
    base, ids, _ = served
    alerts = _json(f"{base}/watch/open_alerts.json")
    assert [(a["id"], a["watch"], a["mentions"]) for a in alerts] == [(7, "acme", 2)]

    behind = _json(f"{base}/watch/mentions_of_alert.json", alert_id=7)
    assert sorted(row["mention_id"] for row in behind) == sorted([ids["p1"], ids["p3"]])
    assert {row["sentiment"] for row in behind} == {"negative"}

    found = _json(f"{base}/watch/search.json", q="crashing")
    assert [row["mention_id"] for row in found] == [ids["p4"]]
    found = _json(f"{base}/watch/search.json", q="globex OR parcel")
    assert [row["mention_id"] for row in found] == [ids["p5"], ids["p4"], ids["p3"]]  # newest first

    negative = _json(f"{base}/watch/negative_mentions.json", watch="globex")
    expected = {ids[p[0]] for p in POSTS if "globex" in p[2] and p[7] == "negative"}
    assert {row["mention_id"] for row in negative} == expected

    flagged = _json(f"{base}/watch/follow_up.json")
    assert [(row["mention_id"], row["note"]) for row in flagged] == [(ids["p4"], "call back")]

    page = httpx.get(f"{base}/watch", timeout=10).text
    assert "Open alerts" in page and "Search mentions" in page


@pytest.mark.parametrize("query, posts", [
    ("服务", ["p5"]),              # inside '服务很好，': before, only the whole run was found
    ("很好 GLOBEX", ["p5"]),       # every part, the Latin word too, as text, in any case
    ("服务_ 服%好", []),           # _ and % are characters here, not LIKE wildcards
    ('"再来" 下次*', ["p5"]),      # quotes and * are left out
])
def test_search_view_finds_chinese_words_as_text(served, query, posts):
    base, ids, _ = served
    found = _json(f"{base}/watch/search.json", q=query)
    assert [row["mention_id"] for row in found] == [ids[p] for p in posts]


def test_view_is_read_only(served):
    base, ids, db_path = served
    response = httpx.get(f"{base}/watch.json",
                         params={"sql": f"DELETE FROM triage WHERE mention_id = {ids['p4']}"},
                         timeout=10)
    assert response.status_code >= 400
    db = open_db(db_path)
    assert db.execute("SELECT count(*) FROM triage").fetchone()[0] == 1


def test_missing_database_is_one_line(cli, tmp_path):
    result = cli("--db", tmp_path / "nope.db", "browse")
    assert result.exit_code == 2
    assert "no such database" in result.stderr
    assert not (tmp_path / "nope.db").exists()


def test_immutable_view_of_an_archived_copy(tmp_path):
    """--immutable (for a copy that no longer changes): the same canned queries, in process."""
    import asyncio

    from mentionwatch.triage.browse import make_datasette

    db_path = tmp_path / "archive.db"
    ids = _stock(db_path)
    db = open_db(db_path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # what `browse --immutable` does first
    db.close()
    datasette = make_datasette(db_path, "test-model", immutable=True)

    async def fetch(path):
        response = await datasette.client.get(path)
        assert response.status_code == 200, response.text[:300]
        return response.json()

    rows = asyncio.run(fetch("/archive/mentions_of_alert.json?_shape=array&alert_id=7"))
    assert sorted(r["mention_id"] for r in rows) == sorted([ids["p1"], ids["p3"]])
    databases = asyncio.run(fetch("/-/databases.json"))
    assert [(d["name"], d["is_mutable"]) for d in databases] == [("archive", False)]
