"""Set-up mistakes on the command line: no watchlist where one is needed, --db naming a folder,
and secrets kept out of the command line's own logs (-v / -vv)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from mentionwatch.local_servers import LocalServer


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
                         "options": {"max_pages": 1}}]}]}
        (tmp_path / "mentionwatch.yaml").write_text(json.dumps(config), encoding="utf-8")
        env = {**os.environ, "MENTIONWATCH_STACKEXCHANGE_KEY": secret}
        env.pop("MENTIONWATCH_CONFIG", None)
        result = subprocess.run([sys.executable, "-m", "mentionwatch", "-vv", "crawl"], cwd=tmp_path,
                                env=env, capture_output=True, text=True, timeout=120)
        asked = list(server.requests)
    assert result.returncode == 0, result.stderr
    assert any(secret in line for line in asked)  # the key was sent to the API ...
    assert secret not in result.stdout + result.stderr  # ... but never printed
