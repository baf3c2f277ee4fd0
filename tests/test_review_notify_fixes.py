"""Review fixes for notifications: a post's title in alert explanations (notification, `alerts
show`, report), `detect` in a shell without a target's URL leaving the message to the service,
and a send never outliving its claim. Real SQLite files, real apprise sends to a receiver on
127.0.0.1."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading

import pytest

from mentionwatch.local_servers import LocalServer

T0 = dt.datetime(2015, 3, 1, 10, tzinfo=dt.timezone.utc)
TITLES = [f"ACME Corp leaks customer data, story {k}" for k in range(6)]


class Receiver(LocalServer):
    """A JSON web hook: remembers each request's JSON; while `hold` is set, requests wait for it
    (`arrived` is set when one came in); `on_request(body)` runs before the answer."""

    def __init__(self):
        super().__init__()
        self.port = self.httpd.server_address[1]
        self.bodies: list[dict] = []
        self.arrived = threading.Event()
        self.hold: threading.Event | None = None
        self.on_request = None

    def handle_post(self, request):
        length = int(request.headers.get("Content-Length", 0))
        body = json.loads(request.rfile.read(length) or b"{}")
        with self.lock:
            self.bodies.append(body)
        if self.on_request is not None:
            self.on_request(body)
        self.arrived.set()
        if self.hold is not None:
            self.hold.wait(timeout=60)
        self.reply(request, 200, b"{}", "application/json")

    def __exit__(self, *exc):
        if self.hold is not None:
            self.hold.set()  # the held requests end now
        super().__exit__(*exc)


@pytest.fixture
def receiver():
    with Receiver() as server:
        yield server


def _watchlist(tmp_path, targets: str = "  - {name: team, url_env: MW_RV_HOOK}", keep_unset_env: bool | str = False):
    """mentionwatch.yaml (database mw.db beside it) with watch acme and a 5-in-an-hour rule."""
    from mentionwatch.config import load_config

    path = tmp_path / "mentionwatch.yaml"
    path.write_text(f"""database: mw.db
sentiment: {{model: builtin}}
service: {{notify_retry_interval: 2m, max_backoff: 10m}}
alerts:
  bucket: 1h
  warmup: 2d
  thresholds:
    - {{count: 5, window: 1h, severity: high}}
notifications:
{targets}
watches:
  - name: acme
    query: {{any: [acme]}}
""")
    return path, load_config(path, keep_unset_env=keep_unset_env)


def _title_only_stories(tmp_path, config):
    """Six negative Hacker News stories of acme with their words in the title and no text."""
    from sentiment import model_id_for
    from storage import Mention, open_db, save_mentions

    db = open_db(config.database)
    stories = [Mention("hackernews", f"hn{k}", "", (T0 + dt.timedelta(minutes=5 * k)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                       url=f"https://news.ycombinator.com/item?id={k}", author=f"hnuser{k}", title=TITLES[k],
                       watches=("acme",)) for k in range(6)]
    save_mentions(db, stories)
    model = model_id_for(config.sentiment)
    with db.conn:
        db.conn.executemany("INSERT INTO scores VALUES (?, ?, 'negative', 0.9, 0.05, 0.05, '2015-03-01T12:00:00Z')",
                            [(mention_id, model) for (mention_id,) in db.execute("SELECT id FROM mentions")])
    return db


def _alert_of_title_only_stories(tmp_path, notify: bool = True):
    from alerts.detect import run_detection

    path, config = _watchlist(tmp_path)
    db = _title_only_stories(tmp_path, config)
    result = run_detection(db, config, now=T0 + dt.timedelta(hours=2), notify=notify)
    assert result.opened == [1]
    return path, config, db


def _report_html(cli, tmp_path) -> str:
    result = cli("report", "--since", "2015-02-25", "--until", "2015-03-02", "--out", tmp_path / "rep")
    assert result.exit_code == 0, result.output
    return (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")


# 1. the title of a title-only post --------------------------------------------------------------

def test_a_title_only_post_shows_its_title_in_the_message_alerts_show_and_the_report(
        tmp_path, cli, receiver, monkeypatch):
    from alerts.notify import send_pending

    monkeypatch.setenv("MW_RV_HOOK", f"json://127.0.0.1:{receiver.port}/hook")
    _path, config, db = _alert_of_title_only_stories(tmp_path)
    top = json.loads(db.execute("SELECT explanation FROM alerts WHERE id = 1").fetchone()[0])["top_mentions"]
    assert top[0]["title"] == TITLES[5] and top[0]["text"] == ""

    assert send_pending(db, config, drop_removed_targets=True).sent == 1
    (body,) = receiver.bodies
    lines = body["message"].splitlines()
    assert f"- hnuser5: {TITLES[5]}" in lines and f"- hnuser3: {TITLES[3]}" in lines
    assert not [line for line in lines if line.startswith("- ") and line.endswith(": ")]
    db.close()

    shown = cli("alerts", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert f"      {TITLES[5]}" in shown.stdout.splitlines()

    page = _report_html(cli, tmp_path)
    alert_part = page[page.index("<b>Top posts</b>"):]
    assert all(title in alert_part for title in TITLES[1:])  # the alert's top five
    evidence = page[page.index("<h3>Evidence: negative posts"):page.index("<b>Top posts</b>")]
    assert any(title in evidence for title in TITLES)  # the risk section's posts have their titles too


def test_title_and_text_both_show_title_first_and_an_older_explanation_without_title_still_shows(
        tmp_path, cli, receiver, monkeypatch):
    from alerts.explain import entry_text
    from alerts.notify import send_pending

    monkeypatch.setenv("MW_RV_HOOK", f"json://127.0.0.1:{receiver.port}/hook")
    assert entry_text({"title": "Refunds stopped", "text": "three weeks now"}) == "Refunds stopped. three weeks now"
    assert entry_text({"title": "Refunds stopped", "text": "Refunds stopped for all of us"}) == \
        "Refunds stopped for all of us"  # the text starts with it: not said twice
    _path, config, db = _alert_of_title_only_stories(tmp_path)
    with db.conn:  # as stored before titles were kept: no "title" key at all
        explanation = json.loads(db.execute("SELECT explanation FROM alerts WHERE id = 1").fetchone()[0])
        for k, entry in enumerate(explanation["top_mentions"]):
            del entry["title"]
            entry["text"] = f"stored text {k}"
        db.execute("UPDATE alerts SET explanation = ? WHERE id = 1", [json.dumps(explanation)])

    assert send_pending(db, config, drop_removed_targets=True).sent == 1
    assert "- hnuser5: stored text 0" in receiver.bodies[0]["message"].splitlines()
    db.close()
    shown = cli("alerts", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "      stored text 0" in shown.stdout.splitlines()
    page = _report_html(cli, tmp_path)
    assert all(f"stored text {k}" in page[page.index("<b>Top posts</b>"):] for k in range(5))


# 2. `detect` in a shell without the target's URL ------------------------------------------------

def test_detect_in_a_shell_without_the_url_variable_leaves_the_message_to_the_service(
        tmp_path, cli, receiver, monkeypatch):
    from alerts.notify import send_pending
    from storage import open_db

    monkeypatch.delenv("MW_RV_HOOK", raising=False)
    _path, config = _watchlist(tmp_path)
    _title_only_stories(tmp_path, config).close()

    result = cli("detect", "--at", "2015-03-01T12:00:00Z", "--notify")
    assert result.exit_code == 0, result.output
    assert ("Notification 'team' (1 message): not sent from this shell: MW_RV_HOOK is not set here; "
            "the service sends it when it runs (none is running now).") in result.stdout.splitlines()
    assert "failed" not in result.output
    db = open_db(config.database)
    (status, attempts, next_at, claimed, error), = db.execute(
        "SELECT status, attempts, next_attempt_at, claimed_at, last_error FROM notifications").fetchall()
    assert (status, attempts, claimed, error) == ("pending", 0, None, None)  # no attempt used, no backoff

    # the service, which has the variable, sends it at once
    monkeypatch.setenv("MW_RV_HOOK", f"json://127.0.0.1:{receiver.port}/hook")
    sent = send_pending(db, config, drop_removed_targets=True)
    assert (sent.sent, sent.failed) == (1, 0) and len(receiver.bodies) == 1
    assert db.execute("SELECT status, attempts FROM notifications").fetchall() == [("sent", 1)]
    db.close()


def test_the_service_without_the_url_still_records_the_failure(tmp_path, monkeypatch):
    from alerts.notify import send_pending

    monkeypatch.delenv("MW_RV_HOOK", raising=False)
    _path, config, db = _alert_of_title_only_stories(tmp_path)
    result = send_pending(db, config, drop_removed_targets=True)
    assert (result.failed, result.left_for_service) == (1, {})
    assert db.execute("SELECT status, attempts, last_error FROM notifications").fetchall() == [
        ("failed", 1, "no URL: environment variable MW_RV_HOOK is not set or empty")]
    db.close()


# 3. a send never outlives its claim -------------------------------------------------------------

@pytest.mark.parametrize("query", ["", "?rto=120", "?rto=700", "?cto=300&rto=3600", "?rto=5000000000"])
def test_no_send_deadline_reaches_the_claim_timeout(query):
    import apprise

    from alerts import notify

    sender = apprise.Apprise()
    url = f"json://127.0.0.1:9/x{query}"
    sender.add(url)
    notify._apply_default_timeouts(sender, url)
    claim = notify.CLAIM_TIMEOUT.total_seconds()
    assert notify._send_deadline(sender) <= notify.MAX_SEND_SECONDS <= claim - 60


def test_a_send_cut_off_at_its_deadline_is_settled_before_its_claim_looks_abandoned(
        tmp_path, receiver, monkeypatch):
    """The claim timeout shortened to 4 s (the cap follows it: 3 s deadline): a receiver that never
    answers, given a huge rto=, has the send cut off and the row settled (unconfirmed) before the
    claim would look abandoned; a second sender once that time has passed sends nothing again."""
    from alerts import notify
    from storage import open_db
    from storage.timeutil import from_iso

    monkeypatch.setattr(notify, "CLAIM_TIMEOUT", dt.timedelta(seconds=4))
    monkeypatch.setattr(notify, "CLAIM_MARGIN_SECONDS", 1.0, raising=False)
    monkeypatch.setenv("MW_RV_HOOK", f"json://127.0.0.1:{receiver.port}/hook?rto=700")
    receiver.hold = threading.Event()
    _path, config, db = _alert_of_title_only_stories(tmp_path)
    first = threading.Thread(target=lambda: notify.send_pending(db, config, drop_removed_targets=True),
                             daemon=True)
    first.start()
    assert receiver.arrived.wait(30)
    second_db = open_db(config.database)
    (claimed_at,) = second_db.execute("SELECT claimed_at FROM notifications").fetchone()
    first.join(30)
    assert not first.is_alive(), "the send outlived its claim"
    assert second_db.execute("SELECT status, claimed_at FROM notifications").fetchall() == [("unconfirmed", None)]
    later = from_iso(claimed_at) + notify.CLAIM_TIMEOUT + dt.timedelta(seconds=1)
    again = notify.send_pending(second_db, config, now=later, drop_removed_targets=True)
    assert (again.sent, again.unconfirmed, len(receiver.bodies)) == (0, 0, 1)
    receiver.hold.set()
    second_db.close()
    db.close()


def test_each_row_is_claimed_when_its_send_begins_not_when_the_round_began(tmp_path, monkeypatch):
    """A round whose first send is cut off after 3 s: the next row's claim is stamped when that row
    is reached (stamped with the round's start, it looked 3 s older than it was to another sender).
    One send at a time here, as when more targets have messages than there are lanes."""
    from alerts import notify
    from storage.timeutil import from_iso

    monkeypatch.setattr(notify, "SEND_LANES", 1)
    monkeypatch.setattr(notify, "CLAIM_TIMEOUT", dt.timedelta(seconds=4))
    monkeypatch.setattr(notify, "CLAIM_MARGIN_SECONDS", 1.0, raising=False)
    with Receiver() as stuck, Receiver() as quick:
        stuck.hold = threading.Event()
        monkeypatch.setenv("MW_RV_STUCK", f"json://127.0.0.1:{stuck.port}/hook?rto=700")
        monkeypatch.setenv("MW_RV_QUICK", f"json://127.0.0.1:{quick.port}/hook")
        from alerts.detect import run_detection

        _path, config = _watchlist(tmp_path, "  - {name: stuck, url_env: MW_RV_STUCK}\n"
                                             "  - {name: quick, url_env: MW_RV_QUICK}")
        db = _title_only_stories(tmp_path, config)
        run_detection(db, config, now=T0 + dt.timedelta(hours=2), notify=True)
        seen: list[str] = []
        reader = sqlite3.connect(config.database, check_same_thread=False)
        quick.on_request = lambda _body: seen.extend(
            row[0] for row in reader.execute("SELECT claimed_at FROM notifications WHERE target = 'quick'"))
        began = notify._utc_now()
        result = notify.send_pending(db, config, drop_removed_targets=True)
        stuck.hold.set()
        reader.close()
    assert (result.sent, result.unconfirmed) == (1, 1)
    assert len(seen) == 1 and from_iso(seen[0]) >= began + dt.timedelta(seconds=2), (began, seen)
    db.close()
