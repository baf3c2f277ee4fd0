"""browse: a query cut by Datasette's time limit while SQLite opens the search index.

SQLite then says "vtable constructor failed: mentions_fts", not "interrupted", so Datasette took it
for a failure: its 10 ms table counts printed "ERROR: a query failed: …" on the console when the
first pages were opened at once on a loaded machine. Past its time limit it is now told to
Datasette as an interruption (printed by no one); an index that really cannot be opened is still
printed by a query that fails within its time limit (a page's, 5 s). The time limit is reached here with a clock that moves on at every look, on a real
Datasette and a real database.
"""
from __future__ import annotations

import asyncio
import itertools
import sqlite3
import threading
import time

import pytest
from datasette.database import QueryInterrupted

from mentionwatch.triage.browse import make_datasette
from test_export import MODEL, _stock

COUNT_THE_INDEX = "select count(*) from [mentions_fts]"


def _count_with_a_clock_of(step_s: float, db_path, monkeypatch) -> str:
    """The outcome of Datasette's 10 ms count of the index when each look at the clock moves it on
    by step_s: 'ok', or the message of the SQLite error behind the interruption."""
    ticks = itertools.count()
    lock = threading.Lock()

    def moving_clock() -> float:
        with lock:
            return next(ticks) * step_s

    database = make_datasette(db_path, MODEL).get_database("watch")
    monkeypatch.setattr(time, "perf_counter", moving_clock)
    try:
        asyncio.run(database.execute(COUNT_THE_INDEX, custom_time_limit=10))
        return "ok"
    except QueryInterrupted as interruption:
        return str(interruption.e)
    finally:
        monkeypatch.undo()


def test_an_index_opening_cut_by_the_time_limit_is_an_interruption(tmp_path, monkeypatch, capsys):
    _stock(tmp_path / "watch.db")
    # the deadline falls after more and more SQLite steps (about 260-290 land while the index is
    # opened, with this SQLite), until the count has time to finish
    outcomes = []
    for steps in range(20, 2000, 3):
        outcomes.append(_count_with_a_clock_of(0.010 / steps, tmp_path / "watch.db", monkeypatch))
        if outcomes[-1] == "ok":
            break
    assert outcomes[-1] == "ok"
    assert any(outcome.startswith("vtable constructor failed") for outcome in outcomes), set(outcomes)
    assert "ERROR" not in capsys.readouterr().err


def test_an_index_that_cannot_be_opened_is_still_told(tmp_path, capsys):
    _stock(tmp_path / "watch.db")
    with sqlite3.connect(tmp_path / "watch.db") as damaging:
        damaging.execute("DROP TABLE mentions_fts_config")  # the index's settings are gone
    database = make_datasette(tmp_path / "watch.db", MODEL).get_database("watch")
    with pytest.raises(sqlite3.OperationalError, match="vtable constructor failed"):
        asyncio.run(database.execute(COUNT_THE_INDEX))  # well within the 5 s of a page's query
    assert capsys.readouterr().err.splitlines() == [
        "ERROR: a query failed: vtable constructor failed: mentions_fts"]
