"""Walkthrough 6: a source's key made from its base_url as written (`${TOKEN}`), not from the secret
filled in, so a new token is not a new source."""
from __future__ import annotations

from crawler.cursors import cursor_key, load_source_cursors, older_cursor_keys, save_cursors
from crawler.source_types import source_label
from mentionwatch.config import parse_config

WATCHLIST = """
watches:
  - name: w
    query: {any: [acme]}
    sources:
      - type: reddit
        base_url: http://127.0.0.1:8765/fail/${MYTOK}
        options: {max_pages: 2}
      - type: reddit
        options: {subreddit: acme}
"""
def reddit_source(monkeypatch, token: str | None):
    if token is None:
        monkeypatch.delenv("MYTOK", raising=False)
        config = parse_config(WATCHLIST, keep_unset_env=True)
    else:
        monkeypatch.setenv("MYTOK", token)
        config = parse_config(WATCHLIST)
    watch = config.watches[0]
    return watch, watch.sources[0]


def test_a_new_token_in_base_url_keeps_label_and_cursor_key(monkeypatch):
    seen = set()
    for token in ("supersecrettoken42", "x", None):
        watch, source = reddit_source(monkeypatch, token)
        seen.add((source_label(watch, source), cursor_key(source)))
    assert len(seen) == 1
    label, _ = seen.pop()
    assert "supersecrettoken42" not in label


def test_cursors_kept_under_the_filled_in_key_are_moved(monkeypatch, db):
    _, source = reddit_source(monkeypatch, "supersecrettoken42")
    old_keys = older_cursor_keys(source)
    assert cursor_key(source) not in old_keys and len(old_keys) == len(set(old_keys)) == 3
    save_cursors(db, "w", old_keys[1], {"newest": "t3_abc"})  # the key before this change
    assert load_source_cursors(db, "w", source) == {"newest": "t3_abc"}
    assert db.execute("SELECT count(*) FROM cursors WHERE source = ?", [cursor_key(source)]).fetchone()[0] == 1


def test_older_cursor_keys_without_a_variable(monkeypatch):
    """No `${VAR}` in base_url: only the key of the versions that hashed every option."""
    _, source = reddit_source(monkeypatch, "x")
    plain = parse_config(WATCHLIST).watches[0].sources[1]
    assert older_cursor_keys(plain) == []  # no pacing option either: the same key
    assert cursor_key(source) not in older_cursor_keys(source)
    assert len(older_cursor_keys(source)) == 3
