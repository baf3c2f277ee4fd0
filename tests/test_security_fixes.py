"""Security review (2026-12-06): `browse` answers only requests addressed to this computer by a
local name (DNS rebinding), and an export is private while it is being written."""
from __future__ import annotations

import os
import stat
import subprocess
import sys

import httpx

from test_browse import _free_port, stop, wait_until_serving


def test_browse_refuses_a_request_addressed_to_another_name(tmp_path):
    from storage import open_db

    open_db(tmp_path / "b.db").close()
    port = _free_port()
    process = subprocess.Popen([sys.executable, "-m", "mentionwatch", "--db", str(tmp_path / "b.db"), "browse",
                                "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base, lambda: process.stderr.read())
        rebound = httpx.get(f"{base}/b.json", params={"sql": "select count(*) from mentions"},
                            headers={"Host": f"attacker.example:{port}"}, timeout=10)
        assert rebound.status_code == 400 and "127.0.0.1" in rebound.text
        for name in ("127.0.0.1", "127.0.0.2", "[::1]", "localhost", "LOCALHOST", "localhost."):
            answer = httpx.get(f"{base}/-/versions.json", headers={"Host": f"{name}:{port}"}, timeout=10)
            assert answer.status_code == 200, name
    finally:
        stop(process)


def test_an_export_is_private_while_it_is_written(tmp_path):
    from mentionwatch.triage.atomic import replacing

    previous_umask = os.umask(0o022)  # the usual one: files readable by everyone unless made private
    try:
        with replacing(tmp_path / "out.csv") as temporary:
            assert stat.S_IMODE(os.stat(temporary).st_mode) == 0o600  # before a byte of it is written
            temporary.write_text("id,text\n", encoding="utf-8")
            assert stat.S_IMODE(os.stat(temporary).st_mode) == 0o600
    finally:
        os.umask(previous_umask)
    assert stat.S_IMODE(os.stat(tmp_path / "out.csv").st_mode) == 0o600


def test_an_xlsx_export_into_a_folder_it_cannot_write_is_one_line(cli, tmp_path):
    """Review: a temporary file left for the writer to create failed inside xlsxwriter, whose error
    is no OSError: a traceback instead of the usual line."""
    from storage import Mention, open_db, save_mentions

    db = open_db(tmp_path / "x.db")
    save_mentions(db, [Mention("forum", "f1", "acme", "2024-03-01T08:00:00Z")])
    db.close()
    result = cli("--db", tmp_path / "x.db", "export", "--format", "xlsx", "--out", "/proc/self/out.xlsx")
    assert result.exit_code == 1
    assert "cannot write" in result.stderr and "Traceback" not in result.output


def test_links_stop_at_a_bracket_and_e_mail_addresses_keep_their_at():
    """Review: a masked link written inside an address passed through unescaped; ops@here.io got a
    zero-width space as if it were @here."""
    from alerts.notify import _inert_body

    body, _ = _inert_body({"zulip"}, "https://x.org/[Reset](https://evil.example/login) ops@here.io a/@all")
    assert "&#91;Reset&#93;" in body and "ops@here.io" in body and "a/@\u200ball" in body
