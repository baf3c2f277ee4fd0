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
