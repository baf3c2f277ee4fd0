"""Set-up mistakes on the command line: no watchlist where one is needed, --db naming a folder,
a watchlist with a mistake under `status`, a database the service cannot write, and secrets kept
out of the command line's own logs (-v / -vv)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import skip_unless_ci
from mentionwatch.local_servers import LocalServer
from storage import open_db


def test_crawl_without_a_watchlist_is_a_mistake_not_an_empty_run(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)
    result = cli("crawl")
    assert result.exit_code == 2
    assert "mentionwatch.yaml: no such file" in result.output
    assert not (tmp_path / "mentionwatch.db").exists()  # nothing created in the wrong folder


def test_db_option_naming_a_folder_is_one_line_and_exit_2(cli, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for command in (["stats"], ["import", "nothing.csv", "--source", "x"]):
        result = cli("--db", folder, *command)
        assert result.exit_code == 2, command
        assert "is a folder, not a database file" in result.output


class StackExchangeStub(LocalServer):
    """Answers /2.3/search/advanced with no questions, as the real API does for a rare term."""

    def handle_get(self, request):
        self.requests.append(request.path)
        body = json.dumps({"items": [], "has_more": False, "quota_remaining": 299}).encode()
        self.reply(request, 200, body, "application/json")


def test_verbose_crawl_never_prints_the_api_key(tmp_path):
    secret = "MYSECRETKEY4242"
    with StackExchangeStub() as server:
        config = {"database": "mw.db", "watches": [{
            "name": "acme", "query": {"any": ["acme"]},
            "sources": [{"type": "stackexchange", "base_url": server.url,
                         "options": {"max_pages": 1, "token_env": "MENTIONWATCH_STACKEXCHANGE_KEY"}}]}]}
        (tmp_path / "mentionwatch.yaml").write_text(json.dumps(config), encoding="utf-8")
        env = {**os.environ, "MENTIONWATCH_STACKEXCHANGE_KEY": secret}
        env.pop("MENTIONWATCH_CONFIG", None)
        result = subprocess.run([sys.executable, "-m", "mentionwatch", "-vv", "crawl"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        asked = list(server.requests)
    assert result.returncode == 0, result.stderr
    assert any(secret in line for line in asked)  # the key was sent to the API ...
    assert secret not in result.stdout + result.stderr  # ... but never printed


@pytest.mark.parametrize("database_line", ["", "database: data/watch.db\n"])
def test_status_reports_health_even_when_the_watchlist_has_a_mistake(cli, tmp_path, monkeypatch, database_line):
    """The health report matters most when something is wrong: a typo in the watchlist (here a YAML
    syntax error) is one line of it, and the database is still found where the file names it."""
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)
    monkeypatch.delenv("MENTIONWATCH_DB", raising=False)
    database = tmp_path / ("data/watch.db" if database_line else "mentionwatch.db")
    open_db(database).close()
    (tmp_path / "mentionwatch.yaml").write_text(
        f"{database_line}watches:\n  - name: acme\n    query: {{any: [acme}}\n", encoding="utf-8")
    result = cli("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Service: never started")
    assert lines[1].startswith("Watchlist: mentionwatch.yaml:") and "YAML syntax error" in lines[1]
    assert "'mentionwatch run' will not start until this is fixed" in lines[2]
    assert "Backlog: 0 mentions stored" in result.stdout
    assert sorted(p.name for p in tmp_path.rglob("*.db")) == [database.name]  # no other database made


def _immutable(path) -> bool:
    """Make a file read-only even for root (chattr +i); False where that is not possible."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        return True
    chattr = shutil.which("chattr")
    return bool(chattr) and subprocess.run([chattr, "+i", str(path)], capture_output=True).returncode == 0


def test_a_read_only_database_says_cannot_start_and_promises_no_retry(tmp_path):
    database = tmp_path / "mw.db"
    open_db(database).close()
    (tmp_path / "mentionwatch.yaml").write_text(
        "database: mw.db\nwatches:\n  - {name: acme, query: {any: [acme]}, sources: "
        "[{type: rss, base_url: 'http://127.0.0.1:9', options: {urls: [f.xml]}}]}\n", encoding="utf-8")
    if not _immutable(database):
        skip_unless_ci("cannot make a file read-only here (as root: chattr +i, which needs "
                       "CAP_LINUX_IMMUTABLE)")
    try:
        env = {key: value for key, value in os.environ.items() if not key.startswith("MENTIONWATCH_")}
        result = subprocess.run([sys.executable, "-m", "mentionwatch", "run"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(database)], capture_output=True)
        else:
            database.chmod(0o644)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"cannot start: database is read-only (check file permissions) ({database})" in lines[0]
    assert "retry" not in lines[0]
