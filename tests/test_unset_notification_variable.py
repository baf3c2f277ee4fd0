"""A notification `url:` reading a ${VARIABLE} that is not set stops only that target, as an unset
`url_env` does: `detect` sends to the other targets and leaves that one's message to the service,
and the service starts (and reloads), records the send as failed with the reason, and goes on.
Real SQLite files, real apprise sends to a receiver on 127.0.0.1."""
from __future__ import annotations

import datetime as dt

from test_review_notify_fixes import T0, _title_only_stories, _watchlist, receiver  # noqa: F401 (fixture)


def _two_targets(tmp_path, port: int):
    """The watchlist as the service reads it (load_config's KEEP_UNSET_IN_URLS)."""
    from mentionwatch.config import KEEP_UNSET_IN_URLS

    return _watchlist(tmp_path, f"""  - {{name: team, url: "json://127.0.0.1:{port}/${{MW_UNSET_HOOK}}"}}
  - {{name: desk, url: "json://127.0.0.1:{port}/desk"}}""", keep_unset_env=KEEP_UNSET_IN_URLS)


def test_detect_sends_to_the_other_targets_and_leaves_that_one_to_the_service(tmp_path, cli, receiver,
                                                                                monkeypatch):
    from storage import open_db

    monkeypatch.delenv("MW_UNSET_HOOK", raising=False)
    _path, config = _two_targets(tmp_path, receiver.port)
    _title_only_stories(tmp_path, config).close()

    result = cli("detect", "--at", "2015-03-01T12:00:00Z", "--notify")
    assert result.exit_code == 0, result.output
    assert ("Notification 'team' (1 message): not sent from this shell: MW_UNSET_HOOK (in its url) is not set "
            "here; the service sends it when it runs (none is running now).") in result.stdout.splitlines()
    assert len(receiver.bodies) == 1  # desk's opening
    db = open_db(config.database)
    assert sorted(db.execute("SELECT target, status, attempts FROM notifications").fetchall()) == [
        ("desk", "sent", 1), ("team", "pending", 0)]
    db.close()


def test_the_service_records_the_failure_and_sends_to_the_others(tmp_path, receiver, monkeypatch):
    from alerts.detect import run_detection
    from alerts.notify import send_pending

    monkeypatch.delenv("MW_UNSET_HOOK", raising=False)
    _path, config = _two_targets(tmp_path, receiver.port)
    db = _title_only_stories(tmp_path, config)
    assert run_detection(db, config, now=T0 + dt.timedelta(hours=2)).opened == [1]
    result = send_pending(db, config, drop_removed_targets=True)
    assert (result.sent, result.failed) == (1, 1)
    assert sorted(db.execute("SELECT target, status, last_error FROM notifications").fetchall()) == [
        ("desk", "sent", None),
        ("team", "failed", "no URL: environment variable MW_UNSET_HOOK (in its url) is not set")]
    assert "${" not in receiver.bodies[0]["message"] and len(receiver.bodies) == 1
    db.close()


def test_the_service_starts_and_names_the_target_it_cannot_send_to(tmp_path, cli, monkeypatch):
    from scheduler import Service

    monkeypatch.delenv("MW_UNSET_HOOK", raising=False)
    path, _config = _two_targets(tmp_path, 9)
    service = Service(path, blocking=False)
    service.start()
    try:
        status = cli("--config", path, "status")
    finally:
        service.stop("test over")
        assert service.finish() == 0
    assert status.exit_code == 0, status.output
    assert status.stdout.startswith("Service: running")
    assert ("Cannot send: notification 'team': no URL: environment variable MW_UNSET_HOOK (in its url) is not set"
            in status.stdout.splitlines())


def test_detect_needs_no_source_token(tmp_path, cli, monkeypatch):
    """Only `crawl` and `run` poll the sources: `detect` in a shell without their tokens runs."""
    monkeypatch.delenv("MW_UNSET_TOKEN", raising=False)
    path, config = _two_targets(tmp_path, 9)
    _title_only_stories(tmp_path, config).close()
    path.write_text(path.read_text().replace("    query: {any: [acme]}", """    query: {any: [acme]}
    sources:
      - {type: mastodon, base_url: "https://${MW_UNSET_TOKEN}.example"}"""))
    detect = cli("--config", path, "detect")
    assert detect.exit_code == 0, detect.output
    crawl = cli("--config", path, "crawl")
    assert crawl.exit_code == 2 and "environment variable MW_UNSET_TOKEN is not set" in crawl.stderr


def test_only_a_url_is_kept_unread_for_the_commands_that_send(tmp_path, cli, monkeypatch):
    """A target's name read from an unset variable would queue its messages under a name the
    service (which has the variable) does not know, and they would never go: an error, as before."""
    monkeypatch.delenv("MW_UNSET_TEAM", raising=False)
    path, config = _two_targets(tmp_path, 9)
    _title_only_stories(tmp_path, config).close()
    path.write_text(path.read_text().replace("name: desk", "name: '${MW_UNSET_TEAM}-chat'"))
    detect = cli("--config", path, "detect")
    assert detect.exit_code == 2
    assert "notifications[1].name: environment variable MW_UNSET_TEAM is not set" in detect.stderr
    assert cli("--config", path, "alerts", "list").exit_code == 0  # a command that sends nothing reads it


def test_a_url_whose_variable_holds_a_dollar_brace_is_sent(tmp_path, receiver, monkeypatch):
    from alerts.notify import send_test
    from mentionwatch.config import load_config

    monkeypatch.setenv("MW_HOOK_WITH_BRACES", f"json://127.0.0.1:{receiver.port}/hook?x=${{ab}}")
    path, _config = _two_targets(tmp_path, receiver.port)
    path.write_text(path.read_text().replace('"json://127.0.0.1:%d/desk"' % receiver.port, '"${MW_HOOK_WITH_BRACES}"'))
    config = load_config(path, keep_unset_env="urls")
    desk = next(target for target in config.notifications if target.name == "desk")
    assert desk.unset_variable() is None
    assert send_test(desk, str(path), "host")[0] == "sent" and len(receiver.bodies) == 1


def test_resolve_refuses_where_a_targets_name_reads_an_unset_variable(tmp_path, cli, monkeypatch):
    """The 'resolved' message is queued by the target's name: under '${MW_UNSET_TEAM}-chat' it went
    to no target the service knows, and the team never heard the incident was over."""
    from alerts.detect import run_detection

    monkeypatch.setenv("MW_UNSET_TEAM", "ops")
    path, config = _two_targets(tmp_path, 9)
    path.write_text(path.read_text().replace("name: desk", "name: '${MW_UNSET_TEAM}-chat', events: [opened, resolved]")
                    .replace("name: team,", "name: pager,"))
    db = _title_only_stories(tmp_path, config)
    assert run_detection(db, config, now=T0 + dt.timedelta(hours=2), notify=False).opened == [1]
    db.close()
    monkeypatch.delenv("MW_UNSET_TEAM")
    resolved = cli("--config", path, "alerts", "resolve", "1")
    assert resolved.exit_code == 2
    assert resolved.stderr.strip() == (
        "Error: notification '${MW_UNSET_TEAM}-chat' is named (or picks its watches) with ${MW_UNSET_TEAM}, "
        "which this shell does not set: resolve where the service's variables are set, so that its "
        "'resolved' message reaches the right target")
    assert "open" in cli("--config", path, "alerts", "list").stdout  # still open, and listed
    # a target that takes no 'resolved' message stops nothing
    path.write_text(path.read_text().replace("events: [opened, resolved]", "events: [opened]"))
    assert cli("--config", path, "alerts", "resolve", "1").exit_code == 0


def test_a_targets_watches_read_from_an_unset_variable_do_not_stop_the_other_commands(tmp_path, cli, monkeypatch):
    monkeypatch.delenv("MW_UNSET_BRAND", raising=False)
    path, config = _two_targets(tmp_path, 9)
    _title_only_stories(tmp_path, config).close()
    path.write_text(path.read_text().replace("name: desk,", 'name: desk, watches: ["${MW_UNSET_BRAND}"],'))
    for command in (["search", "acme"], ["alerts", "list"], ["status"]):
        result = cli("--config", path, *command)
        assert result.exit_code == 0, (command, result.output)
        assert "will not start" not in result.stdout
