"""`mentionwatch browse`, "Search mentions" with a mistyped box: the line `mentionwatch search`
gives on the page, never SQLite's error, and nothing like the query's SQL on the console."""
from __future__ import annotations

import html
import os
import re
import subprocess
import sys
import time

import httpx
import pytest

from test_browse import _free_port, stop, wait_until_serving
from test_export import _stock  # the small stocked database of the export tests

MISTAKES = {  # the box, and what `mentionwatch search` says of it
    '"unbalanced': """a quote (") is not closed""",
    "refund AND": "AND needs words on both sides",
    "*": "has no words to search for",
}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A server whose console (stdout and stderr) goes to a file the tests read."""
    folder = tmp_path_factory.mktemp("browse-bad-search")
    db_path = folder / "watch.db"
    _stock(db_path)
    console_path = folder / "console.txt"
    port = _free_port()
    with open(console_path, "w") as console:
        process = subprocess.Popen(
            [sys.executable, "-m", "mentionwatch", "--db", str(db_path), "browse",
             "--port", str(port)],
            stdout=console, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, console_path.read_text)
        yield base, db_path, console_path
    finally:
        stop(process)


def _page_errors(page: str) -> list[str]:
    found = re.findall(r'class="message-error">(.*?)</p>', page, re.S)
    return [html.unescape(text) for text in found]


@pytest.mark.parametrize("query", list(MISTAKES))
def test_mistyped_search_shows_the_line_search_gives(served, cli, query):
    base, db_path, _ = served
    page = httpx.get(f"{base}/watch/search", params={"q": query}, timeout=10)
    assert page.status_code == 400
    errors = _page_errors(page.text)
    assert len(errors) == 1 and MISTAKES[query] in errors[0], errors
    assert "fts5" not in page.text and "unterminated string" not in page.text
    assert 'name="q"' in page.text  # the form is still there, to correct the query

    answer = httpx.get(f"{base}/watch/search.json", params={"q": query}, timeout=10).json()
    assert answer["ok"] is False
    result = cli("--db", db_path, "search", query)
    assert result.exit_code == 2
    assert answer["error"] in result.stderr  # word for word what the command line says


@pytest.mark.parametrize("query", ["酒店 OR 宾馆", "酒店 NOT 房间", "🤬 AND acme"])
def test_operators_with_words_read_as_text_are_refused_not_searched_as_letters(served, query):
    """The text branch would look for the letters OR, NOT, AND and the brackets in every post."""
    base, _, _ = served
    page = httpx.get(f"{base}/watch/search", params={"q": query}, timeout=10)
    assert page.status_code == 400
    errors = _page_errors(page.text)
    assert len(errors) == 1 and "AND, OR and NOT are not read with them here" in errors[0], errors
    assert "'mentionwatch search' reads them" in errors[0]


@pytest.mark.parametrize("query", ["", "   "])
def test_blank_box_finds_nothing(served, query):
    base, _, _ = served
    page = httpx.get(f"{base}/watch/search", params={"q": query}, timeout=10)
    assert page.status_code == 200
    assert _page_errors(page.text) == []
    assert "0 results" in page.text
    assert httpx.get(f"{base}/watch/search.json", params={"q": query, "_shape": "array"},
                     timeout=10).json() == []


def test_stray_punctuation_is_read_as_search_reads_it(served):
    base, _, _ = served
    found = httpx.get(f"{base}/watch/search.json", params={"q": "crashing!", "_shape": "array"},
                      timeout=10).json()
    assert [row["text"] for row in found] == ["globex app keeps crashing on login"]


def test_console_holds_no_sql(served):
    base, _, console_path = served
    for query in [*MISTAKES, ""]:
        httpx.get(f"{base}/watch/search", params={"q": query}, timeout=10)
    # a failed query of the visitor's own: one short line, still without its SQL
    response = httpx.get(f"{base}/watch.json", params={"sql": "SELECT * FROM no_such_table"},
                         timeout=10)
    assert response.json()["error"] == "no such table: no_such_table"
    time.sleep(0.5)
    console = console_path.read_text()
    assert "WITH RECURSIVE" not in console and "sql =" not in console, console[-500:]
    lines = console.splitlines()
    assert lines[0].startswith("Serving ")
    assert lines[1:] == ["ERROR: a query failed: no such table: no_such_table"]
