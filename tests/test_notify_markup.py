"""Post text is public: whoever writes a post must not be able to format an alert message, disguise
a link in it or ping a team through it. apprise escapes plain text for the services it knows to
render markup, but sends it as it is to Discord, Zulip and Mattermost (which render Markdown), and
leaves the "@" mentions that Rocket.Chat, Telegram and Matrix ping people for.

Services whose address is fixed (discord.com, zulipchat.com, api.telegram.org) are caught at
`requests.post`, the others by a web hook on 127.0.0.1, as in test_notify."""
from __future__ import annotations

import html
import json
import threading

import pytest
import requests

from alerts.notify import queue_notifications, send_pending
from test_notify import NOW, add_alert, make_config, webhook  # noqa: F401  (webhook: a fixture)

ZWSP = "\u200b"
POST = ("@everyone @here <@123> <@&456> <#789> [Reset password](https://evil.example/login) **bold** "
        "@**all** @_**Jo** @*ops* $$x^2$$ <time:2025-06-01T12:00:00Z> `code` ||spoiler|| @channel @all @room")
AUTHOR = "troll"
LINK = "https://example.org/r/acme/comments/x1/lost_my_order_again"  # its "_" must not be escaped
POST_LINE = f"- {AUTHOR}: {POST}"


def add_post_alert(db) -> int:
    alert_id = add_alert(db, severity="high")
    explanation = {"summary": "12 negative mentions of acme", "top_mentions": [
        {"mention_id": 1, "source": "reddit", "author": AUTHOR, "text": POST, "url": LINK,
         "created_at": "2025-06-01T11:00:00Z", "p_negative": 0.9}]}
    with db.conn:
        db.execute("UPDATE alerts SET explanation = ? WHERE id = ?", [json.dumps(explanation), alert_id])
    return alert_id


def send_alert(db, monkeypatch, url: str) -> None:
    monkeypatch.setenv("MW_CHAT", url)
    config = make_config("  - {name: chat, url_env: MW_CHAT}")
    queue_notifications(db, config, add_post_alert(db), "opened", "high", now=NOW)
    assert send_pending(db, config, now=NOW).sent == 1


class Posts:
    """requests.post replaced: what each call would have sent (JSON or form fields), answered 200."""

    def __init__(self):
        self.sent: list[tuple[str, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, url, *args, **kwargs):
        fields = kwargs["json"] if kwargs.get("json") is not None else kwargs.get("data")
        if isinstance(fields, (str, bytes)):
            fields = json.loads(fields)
        with self.lock:
            self.sent.append((url, fields))
        answer = requests.Response()
        answer.status_code = 200
        answer._content = b'{"ok": true, "result": {"message_id": 1}, "id": 1}'
        answer.headers["Content-Type"] = "application/json"
        return answer


@pytest.fixture
def posts(monkeypatch):
    fake = Posts()
    monkeypatch.setattr(requests, "post", fake)
    return fake


def post_line(text: str) -> str:
    [line] = [line for line in text.splitlines() if AUTHOR in line]
    return line


def test_discord_gets_no_markdown_and_no_mentions_from_a_post(db, monkeypatch, posts):
    send_alert(db, monkeypatch, "discord://1234567/abcdefTOKEN")
    [(url, payload)] = posts.sent
    assert url.startswith("https://discord.com/api/webhooks/")
    content = payload["content"]
    line = post_line(content)
    for live in ("@everyone", "@here", "<@123>", "<@&456>", "<#789>", "[Reset password]", "**bold**", "||spoiler||",
                 "`code`"):
        assert live not in line, live
    assert rf"\[Reset password\]" in line and rf"\*\*bold\*\*" in line
    assert f"@{ZWSP}everyone" in line and f"<{ZWSP}@{ZWSP}123" in line
    assert "allowed_mentions" not in payload and "allow_mentions" not in payload
    # reads the same once Discord has taken its escapes out; the post's link still works
    assert line.replace(ZWSP, "").replace("\\", "") == POST_LINE
    assert f"\n  {LINK}" in content


@pytest.mark.parametrize("url", ["https://discord.com/api/webhooks/1234567/abcdefTOKEN",
                                 "discord://1234567/abcdefTOKEN?format=markdown"])
def test_discord_by_its_web_address_or_with_embeds_is_escaped_too(db, monkeypatch, posts, url):
    """The web hook's own address loads the same plugin; ?format=markdown makes apprise look for
    mentions in the text itself and allow them."""
    send_alert(db, monkeypatch, url)
    [(_url, payload)] = posts.sent
    text = payload.get("content") or payload["embeds"][0]["description"]
    assert "@everyone" not in text and "[Reset password]" not in text
    assert "allow_mentions" not in payload and "allowed_mentions" not in payload
    assert "<@" not in payload.get("content", "")


def test_zulip_gets_no_markdown_and_no_mentions_from_a_post(db, monkeypatch, posts):
    send_alert(db, monkeypatch, "zulip://bot@acme/aBcDeFgHiJkLmNoPqRsTuVwXyZ012345")
    [(url, payload)] = posts.sent
    assert url == "https://acme.zulipchat.com/api/v1/messages"
    content = payload["content"]
    line = post_line(content)
    # Zulip has no backslash escapes: its markup characters go as character references
    for live in ("@**all**", "@_**Jo**", "@*ops*", "**", "[Reset password]", "$$", "<time:", "`"):
        assert live not in line, live
    assert "&#91;Reset password&#93;" in line and f"@{ZWSP}&#42;&#42;all&#42;&#42;" in line
    # what Zulip shows: the post as written
    assert html.unescape(line).replace(ZWSP, "") == POST_LINE
    assert f"\n  {LINK}" in content


def test_mattermost_gets_no_mentions_and_a_working_link(db, monkeypatch, webhook):  # noqa: F811
    send_alert(db, monkeypatch, f"mmost://127.0.0.1:{webhook.port}/s3cr3t-token-42")
    text = webhook.requests[0]["text"]
    line = post_line(text)
    for live in ("@channel", "@all", "@here", "[Reset password]", "**bold**"):
        assert live not in line, live
    assert f"@{ZWSP}channel" in line and r"\[Reset password\]" in line
    assert line.replace(ZWSP, "").replace("\\", "") == POST_LINE
    assert f"\n  {LINK}" in text  # not https://example\.org/…lost\_my\_order: a link that no longer works


@pytest.mark.parametrize(("url", "text_of"), [
    ("rocket://abcdefgh/ijklmnop@127.0.0.1:{port}/?mode=webhook", lambda payload: payload["text"]),
    ("matrix://token@127.0.0.1:{port}/?mode=slack", lambda payload: payload["attachments"][0]["text"]),
], ids=["rocket.chat", "matrix"])
def test_chats_that_ping_for_an_at_get_none(db, monkeypatch, webhook, url, text_of):  # noqa: F811
    """apprise escapes the markup for these, not the mentions: Rocket.Chat pings @all and @here,
    Matrix @room (legacy push rules read the text)."""
    send_alert(db, monkeypatch, url.format(port=webhook.port))
    line = post_line(text_of(webhook.requests[0]))
    for live in ("@all", "@here", "@room", "@everyone"):
        assert live not in line, live
    assert f"@{ZWSP}room" in line and f"@{ZWSP}all" in line


def test_telegram_gets_no_mentions(db, monkeypatch, posts):
    send_alert(db, monkeypatch, "tgram://123456789:abcdefg_hijklmnopqrstuvwxyz12345/-1001234")
    [(url, payload)] = [sent for sent in posts.sent if sent[0].endswith("/sendMessage")]
    line = post_line(payload["text"])
    assert "@channel" not in line and f"@{ZWSP}channel" in line
    assert "&lt;@" in line  # apprise's own HTML escaping still applies


def test_plain_text_targets_get_the_post_as_written(db, monkeypatch, webhook):  # noqa: F811
    """A JSON web hook renders nothing and pings nobody: nothing is added to the text."""
    send_alert(db, monkeypatch, f"json://127.0.0.1:{webhook.port}/hook")
    message = webhook.requests[0]["message"]
    assert f"\n{POST_LINE}\n" in message and ZWSP not in message


def test_everyone_mentions_after_a_slash_are_defused_and_links_keep_their_brackets():
    """Review: Mattermost and Matrix split words at '/', so https://mastodon.social/@channel pinged
    the channel; a link with brackets or braces was cut short and escaped inside."""
    from alerts.notify import _inert_body

    body, _ = _inert_body({"mmost"}, "see https://mastodon.social/@channel and "
                                     "https://en.wikipedia.org/wiki/Foo_(bar), https://example.com/{id}/x_y.")
    assert f"/@{ZWSP}channel" in body
    assert "https://en.wikipedia.org/wiki/Foo_(bar)," in body and "https://example.com/{id}/x_y\\." in body
    body, _ = _inert_body({"matrix"}, "a/@room")
    assert body == f"a/@{ZWSP}room"
    body, _ = _inert_body({"discord"}, "HTTPS://Example.com/a_b [x](https://evil.example/login)")
    assert body.startswith("HTTPS://Example.com/a_b ") and "\\[x\\](https://evil.example/login)" in body
