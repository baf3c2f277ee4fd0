"""Findings of the twelfth walkthrough (running the service with notifications)."""
from __future__ import annotations

import pytest

from mentionwatch.config import parse_config
from test_config_review4_fixes import _notification, _refusal

HOOK = "json://127.0.0.1:8765/walk12hook"  # unique to this file: remembered as a secret once used


@pytest.mark.parametrize("edited, refused", [
    (f"{HOOK}?token=PlainTok987654", "this URL holds a token (its token= parameter is a secret)"),
    ("json://ops:Walk12Password@127.0.0.1:8765/walk12hook", "this URL holds a password"),
])
def test_a_secret_added_to_a_url_already_in_use_is_still_refused(edited, refused):
    # the service reads its targets' URLs (now known secrets, hidden in logs); an edit that adds a
    # token to one was accepted on the next reload, the URL stripped out before the check
    [target] = parse_config(_notification(HOOK), "w.yaml").notifications
    assert target.resolve_url() == HOOK
    assert refused in _refusal(_notification(edited))


def test_a_token_once_read_from_the_environment_is_refused_when_written_in_the_file(monkeypatch):
    url = "https://hooks.slack.com/services/T0W12/B0W12/Walk12SlackTok"
    monkeypatch.setenv("MW_WALK12_HOOK", url)
    assert parse_config(_notification("${MW_WALK12_HOOK}"), "w.yaml").notifications[0].resolve_url() == url
    assert "this URL holds a token (a Slack web hook address carries its token)" in _refusal(_notification(url))


def test_a_short_value_read_elsewhere_in_the_file_does_not_hide_a_written_token(monkeypatch):
    monkeypatch.setenv("MW_WALK12_LANG", "en")  # 'token' less 'en' is 'tok'
    text = (f'notifications:\n  - name: team\n    url: "{HOOK}?token=Plain987654"\n'
            "watches:\n  - {name: a, query: {any: [x], languages: ['${MW_WALK12_LANG}']}}\n")
    assert "this URL holds a token (its token= parameter is a secret)" in _refusal(text)


@pytest.mark.parametrize("url", ["${MW_WALK12_WHOLE}", f"{HOOK}?token=${{MW_WALK12_TOKEN}}",
                                 "json://ops:${MW_WALK12_TOKEN}@127.0.0.1:8765/walk12hook"])
def test_a_secret_from_the_environment_in_a_url_is_accepted(monkeypatch, url):
    monkeypatch.setenv("MW_WALK12_WHOLE", "https://hooks.slack.com/services/T0W12/B0W12/Walk12Whole")
    monkeypatch.setenv("MW_WALK12_TOKEN", "Walk12EnvToken")
    assert parse_config(_notification(url), "w.yaml").notifications[0].name == "team"


def test_a_refusal_to_start_on_the_terminal_hides_what_the_log_hides(tmp_path):
    import os
    import subprocess
    import sys

    data = tmp_path / "walk12-secret-folder"
    data.mkdir()
    (data / "mw.db").write_text("not a database, only some text " * 10, encoding="utf-8")
    (tmp_path / "mentionwatch.yaml").write_text(
        'database: "${MW_WALK12_DATA}/mw.db"\nwatches:\n  - {name: a, query: {any: [x]}}\n', encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if key not in ("MENTIONWATCH_CONFIG", "MENTIONWATCH_DB")}
    env["MW_WALK12_DATA"] = str(data)
    result = subprocess.run([sys.executable, "-m", "mentionwatch", "run", "--log-file", "mw.log"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "cannot start: database error: file is not a database" in result.stderr
    assert "walk12-secret-folder" not in result.stderr + (tmp_path / "mw.log").read_text(encoding="utf-8")
