"""Secrets never reach a log line, the database or `status`: logging_setup.redact and its users.

The end-to-end tests replay a tester's report: a `reviews` source whose start URL carries a site key
(`?key=${MENTIONWATCH_SITE_KEY}`) and a shop id from another variable (`${ACME_SHOP_ID}`), one page
unreadable (JSON where HTML was expected), one page with a review. The one-off `crawl` (with -vv:
the Scrapy child's own log relayed) and the service (`run`, JSON and text logs) must keep both
values out of their output, the database file and `status`.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import urllib.parse

import pytest

from alerts.notify import queue_notifications, send_pending
from crawler.pipelines import item_to_mention
from crawler.spiders.extract import _external_id
from mentionwatch.config import parse_config
from mentionwatch.local_servers import LocalServer
from mentionwatch.logging_setup import (
    REDACTED, JsonFormatter, SecretFilter, TextFormatter, redact, redact_data, remember_secrets,
)
from mentionwatch.service_state import finish_job_run, start_job_run
from service_fakes import start_service, wait_until

SITE_KEY = "SITEKEYSECRET777"
SHOP_ID = "shopsecret4242"
SECRET_ENV = {"MENTIONWATCH_SITE_KEY": SITE_KEY, "ACME_SHOP_ID": SHOP_ID}
GOOD_REVIEW = "Acme kettle leaks after a week."


# --- redact --------------------------------------------------------------------------------------

def test_tokens_from_the_environment_are_hidden(monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_GITHUB_TOKEN", "ghp_envtoken123")
    monkeypatch.setenv("MENTIONWATCH_CACHE", "/tmp/cache-folder")  # not a secret by its name
    line = redact("GET api.github.com with ghp_envtoken123 (cache /tmp/cache-folder)")
    assert line == f"GET api.github.com with {REDACTED} (cache /tmp/cache-folder)"


def test_remembered_values_are_hidden_also_percent_encoded():
    remember_secrets(["p@ss word/42"])
    assert redact("sent p@ss word/42 and p%40ss%20word%2F42 and p%40ss+word%2F42") == \
        f"sent {REDACTED} and {REDACTED} and {REDACTED}"


def test_a_remembered_url_hides_its_password_and_token_quoted_alone():
    remember_secrets(["json://bot:hunter2222@hooks.test/x?token=HOOKTOKEN555&lang=en"])
    assert redact("login hunter2222 refused; token HOOKTOKEN555 unknown; lang en") == \
        f"login {REDACTED} refused; token {REDACTED} unknown; lang en"


def test_a_remembered_url_hides_its_path_quoted_alone():
    # a proxy's error quoting only the path of a secret base_url, or of a web hook
    hook_path = "/services/T0AB12CD3/B0CD45EF6/a1B2c3D4e5F6g7H8"
    remember_secrets(["https://example.test/hnSECRETPATH444/", f"json://hooks.test{hook_path}"])
    assert redact(f"404 for path=/hnSECRETPATH444/v0/item/1.json; POST {hook_path} failed") == \
        f"404 for path={REDACTED}/v0/item/1.json; POST {REDACTED} failed"


def test_a_token_with_dashes_in_a_hook_path_is_hidden_too():
    # second review: a rule that looked for a token-shaped part let Discord's and ntfy's through
    remember_secrets(["https://discord.com/api/webhooks/1234567890123456789/Ab-cD_efGh-yz12",
                      "ntfys://ntfy.sh/acme-alerts-secret-topic"])
    assert redact("HTTP 404 for POST /api/webhooks/1234567890123456789/Ab-cD_efGh-yz12; "
                  "topic /acme-alerts-secret-topic unknown") == f"HTTP 404 for POST {REDACTED}; topic {REDACTED} unknown"


def test_a_token_path_is_hidden_anywhere_and_a_longer_path_before_its_start():
    # third review: hidden only where it stood alone, a token path leaked percent-encoded, before
    # '.json' or after 'host:443'; and a remembered path that begins another hid only that start
    remember_secrets(["https://discord.com/api/webhooks/123456/abcDEF789xyz",
                      "https://feeds.example/hooks/abcdef", "https://chat.example/hooks/abcdef/tokenpart"])
    for quoted in ("%2Fapi%2Fwebhooks%2F123456%2FabcDEF789xyz", "/api/webhooks/123456/abcDEF789xyz.json",
                   "discord.com:443/api/webhooks/123456/abcDEF789xyz", "path:/api/webhooks/123456/abcDEF789xyz"):
        assert "abcDEF789xyz" not in redact(f"Not found: {quoted}"), quoted
    assert redact('POST /hooks/abcdef/tokenpart "HTTP/1.1 404 Not Found"') == f'POST {REDACTED} "HTTP/1.1 404 Not Found"'


def test_a_topic_path_after_its_own_host_and_port_is_hidden():
    # left alone by the previous session: an ntfy topic without a digit was hidden only alone
    remember_secrets(["ntfys://ntfy.sh/acme-alerts-topic"])
    assert "acme-alerts-topic" not in redact("ConnectError for ntfy.sh:443/acme-alerts-topic")
    assert redact("GET https://other.example:443/acme-alerts-topic/feed") == \
        "GET https://other.example:443/acme-alerts-topic/feed"  # another site's own path
    # review: a secret URL written with its port leaked where a line leaves the port out; an IPv6
    # host was missed; a secret only in the query hid the whole path everywhere
    remember_secrets(["https://ntfy.example.com:443/team-alerts-topic", "http://[2001:db8::5]/hooks/teamtopic",
                      "https://hooks.example.com/notify/team?token=abcdef123456"])
    assert "team-alerts-topic" not in redact("POST ntfy.example.com/team-alerts-topic: HTTP 500")
    assert "teamtopic" not in redact("ConnectError for [2001:db8::5]:80/hooks/teamtopic")
    assert redact("GET https://hooks.example.com:443/notify/team-public/feed: HTTP 404") == \
        "GET https://hooks.example.com:443/notify/team-public/feed: HTTP 404"
    # third review: an explicit default port with a query of options cut the host's other addresses
    remember_secrets(["https://blog.example.com:443/articles?format=rss"])
    address = "https://blog.example.com/articles/2024/post-1"
    post = item_to_mention({"source": "rss", "text": "acme", "url": address, "external_id": address,
                            "created_at": "2025-03-01T10:00:00Z"}, "acme")
    assert (post.url, post.external_id) == (address, address)
    assert redact("fetched https://blog.example.com/articles-archive") == "fetched https://blog.example.com/articles-archive"
    # second review: a query of options only (apprise's ?rto=) dropped the path-only form
    remember_secrets(["jsons://hooks2.example.com/team-alerts-hook?rto=120"])
    assert "team-alerts-hook" not in redact("ConnectError for hooks2.example.com:443/team-alerts-hook")


def test_a_secret_path_is_left_in_a_collected_posts_own_address():
    # fourth review: '/feeds/2024-rss' of a ${VAR} feed URL was cut out of another site's post
    # address and its external_id, the key that tells posts apart
    remember_secrets(["https://example.com/feeds/2024-rss", "https://www.reddit.com/r/acme2024"])
    for address in ("https://news.other.org/feeds/2024-rss/post-7",
                    "https://old.reddit.com/r/acme2024/comments/1abc/title"):
        mention = item_to_mention({"source": "rss", "text": "acme", "url": address, "external_id": address,
                                   "created_at": "2025-03-01T10:00:00Z"}, "acme")
        assert (mention.url, mention.external_id) == (address, address)
    assert redact("GET https://news.other.org/feeds/2024-rss/post-7: HTTP 500") == \
        f"GET https://news.other.org{REDACTED}/post-7: HTTP 500"  # a log line hides it still


def test_a_telegram_bot_token_in_a_path_is_hidden_anywhere():
    # fourth review: its ':' kept it from being taken for a token
    token_path = "/bot123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
    remember_secrets([f"https://api.telegram.org{token_path}"])
    for quoted in (f"api.telegram.org:443{token_path}: 401", f"POST {token_path}.json failed",
                   "url=" + urllib.parse.quote(token_path, safe="")):
        assert "AAHdqTcv" not in redact(quoted), quoted


def test_a_remembered_path_is_not_hidden_after_another_host_or_inside_a_word():
    # review: '/feed.xml' and '/webhook' were cut out of other sources' lines and stored addresses
    remember_secrets(["https://example.test/api/", "json://hooks.test/v1", "https://news.example.com/feed.xml",
                      "json://hooks.example.com/webhook"])
    line = ("GET /api/items, then /v1/items; GET https://blog.other.org/feed.xml: HTTP 404; "
            "POST https://api.other.com/webhooks/42 failed; see /feed.xml.bak; https://shop.other.org/webhook/r/1")
    assert redact(line) == line
    assert redact("POST /webhook failed.") == f"POST {REDACTED} failed."


@pytest.mark.parametrize("url, expected", [
    ("https://user:pw1@example.test/hook", f"https://{REDACTED}@example.test/hook"),
    ("https://ghp_only@github.com/a/b.git", f"https://{REDACTED}@github.com/a/b.git"),
    ("http://h/r?key=abc&page=2", f"http://h/r?key={REDACTED}&page=2"),
    ("http://h/r?q=acme&api_key=abc", f"http://h/r?q=acme&api_key={REDACTED}"),
    ("http://h/r?apiKey=abc&accessToken=def", f"http://h/r?apiKey={REDACTED}&accessToken={REDACTED}"),
    ("http://h/r?access_token=a&client_secret=b",
     f"http://h/r?access_token={REDACTED}&client_secret={REDACTED}"),
    ("http://h/r?password=a&X-Amz-Signature=b", f"http://h/r?password={REDACTED}&X-Amz-Signature={REDACTED}"),
    ("http://h/r?auth=a&sig=b#top", f"http://h/r?auth={REDACTED}&sig={REDACTED}#top"),
    ("GET h/r?token=abc: HTTP 500", f"GET h/r?token={REDACTED}: HTTP 500"),
    ("(see h/r?token=abc).", f"(see h/r?token={REDACTED})."),
    ("http://h/r?keyword=acme&page=2&sort=new", "http://h/r?keyword=acme&page=2&sort=new"),
])
def test_credentials_in_urls_are_hidden_and_ordinary_parameters_kept(url, expected):
    assert redact(url) == expected


def test_a_known_secret_in_a_secret_parameter_is_hidden_once(monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_SITE_KEY", SITE_KEY)
    line = f"http://h/r?key={SITE_KEY}: could not read"
    assert redact(line) == f"http://h/r?key={REDACTED}: could not read"


def test_redact_data_reaches_into_lists_and_dicts():
    remember_secrets(["nested-secret-1"])
    data = {"errors": ["a nested-secret-1 b"], "detail": {"why": ("nested-secret-1",)}, "count": 3,
            "ok": True, "none": None}
    assert redact_data(data) == {"errors": [f"a {REDACTED} b"], "detail": {"why": [REDACTED]},
                                 "count": 3, "ok": True, "none": None}


def test_watchlist_variables_are_remembered_when_the_file_is_read(monkeypatch):
    monkeypatch.setenv("SHOP_PATH_FOR_TEST", "shoppath-9d1e")  # any name, not only MENTIONWATCH_*
    parse_config("watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n"
                 "      - type: reviews\n        options:\n"
                 "          start_urls: ['http://127.0.0.1:1/${SHOP_PATH_FOR_TEST}/list']\n"
                 "          item: div.review\n          text: p ::text\n")
    line = "http://127.0.0.1:1/shoppath-9d1e/list: HTTP 500"
    assert redact(line) == f"http://127.0.0.1:1/{REDACTED}/list: HTTP 500"


def test_notification_urls_are_remembered_when_resolved(monkeypatch):
    monkeypatch.setenv("TEAM_HOOK_FOR_TEST", "tgram://bot7788/chat-4455")
    config = parse_config("notifications:\n  - {name: team, url_env: TEAM_HOOK_FOR_TEST}\n"
                          "watches:\n  - name: acme\n    query: {any: [acme]}\n")
    config.notifications[0].resolve_url()
    assert "tgram://bot7788/chat-4455" not in redact("cannot reach tgram://bot7788/chat-4455")


# --- log records ----------------------------------------------------------------------------------

def _filtered_record(message: str, args: tuple, fields: dict) -> logging.LogRecord:
    record = logging.LogRecord("mentionwatch.service", logging.WARNING, __file__, 1, message, args, None)
    record.fields = fields
    assert SecretFilter().filter(record)
    return record


def test_structured_fields_are_redacted_in_both_formats(monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_SITE_KEY", SITE_KEY)
    error = f"http://127.0.0.1:8765/reviews/acme?key={SITE_KEY}: could not read the page"
    record = _filtered_record("job %s: failed (%s)", ("collect:acme:reviews", error),
                              {"job": "collect:acme:reviews", "errors": [error],
                               "detail": {"first": error}, "crawl_run": 2})
    text_line = TextFormatter().format(record)
    entry = json.loads(JsonFormatter().format(record))
    assert SITE_KEY not in text_line and SITE_KEY not in json.dumps(entry)
    assert entry["errors"] == [f"http://127.0.0.1:8765/reviews/acme?key={REDACTED}: could not read the page"]
    assert entry["detail"]["first"] == entry["errors"][0] and entry["crawl_run"] == 2
    assert f"?key={REDACTED}: could not read" in entry["message"] and "errors=" in text_line


def test_tracebacks_are_redacted(monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_SITE_KEY", SITE_KEY)
    try:
        raise RuntimeError(f"GET h/r?key={SITE_KEY} failed")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert SecretFilter().filter(record)
    assert SITE_KEY not in TextFormatter().format(record) and REDACTED in record.exc_text


# --- what is stored ---------------------------------------------------------------------------------

def test_job_run_details_are_stored_redacted(db, monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_SITE_KEY", SITE_KEY)
    run_id = start_job_run(db, "collect:acme:reviews")
    finish_job_run(db, run_id, "failed", {"errors": [f"h/r?key={SITE_KEY}: HTTP 500"], "new": 0}, 1.0)
    other = start_job_run(db, "score")
    finish_job_run(db, other, "error", "model at https://u:pw99@hub.test failed", 1.0)
    stored = [row[0] for row in db.execute("SELECT detail FROM job_runs ORDER BY id")]
    assert json.loads(stored[0]) == {"errors": [f"h/r?key={REDACTED}: HTTP 500"], "new": 0}
    assert stored[1] == f"model at https://{REDACTED}@hub.test failed"


def test_notification_errors_are_stored_redacted(db, monkeypatch):
    import alerts.notify

    monkeypatch.setenv("TEAM_HOOK_FOR_TEST", "json://127.0.0.1:9/hook?token=NOTIFYTOKEN321")
    config = parse_config("notifications:\n  - {name: team, url_env: TEAM_HOOK_FOR_TEST}\n"
                          "watches:\n  - name: acme\n    query: {any: [acme]}\n")
    with db.conn:
        alert_id = db.execute(
            "INSERT INTO alerts (watch, rule, status, severity, score, window_start, window_end, observed, "
            "expected, opened_at, updated_at, explanation) VALUES ('acme', 'spike', 'open', 'high', 9, "
            "'2025-06-01T11:00:00Z', '2025-06-01T12:00:00Z', 12, 1, '2025-06-01T12:00:00Z', "
            "'2025-06-01T12:00:00Z', '{}')").lastrowid
    queue_notifications(db, config, alert_id, "opened", "high")
    # a plugin's reason that quotes the token on its own, without the rest of the URL
    monkeypatch.setattr(alerts.notify, "deliver",
                        lambda url, title, body, notify_type: alerts.notify.Delivery("401: token NOTIFYTOKEN321 revoked"))
    assert send_pending(db, config).failed == 1
    (error,) = db.execute("SELECT last_error FROM notifications").fetchone()
    assert error == f"401: token {REDACTED} revoked"


def test_scraped_urls_and_ids_are_stored_without_secrets(monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_SITE_KEY", SITE_KEY)
    page = f"https://shop:pw7788@reviews.test/acme?key={SITE_KEY}"
    mention = item_to_mention({"source": "reviews", "external_id": page, "text": "acme is late",
                               "created_at": "2024-03-01T10:00:00Z", "url": f"{page}#1"}, "acme")
    assert SITE_KEY not in mention.url + mention.external_id and "pw7788" not in mention.url
    assert mention.url == f"https://{REDACTED}@reviews.test/acme?key={REDACTED}#1"
    assert _external_id(page, "r1", None, None, "text") == "reviews.test:r1"  # no user:password@


# --- end to end: the tester's scenario ----------------------------------------------------------------

class ReviewSite(LocalServer):
    """`/reviews/<shop>/broken` answers JSON (an unreadable listing), `/reviews/<shop>/good` one review."""

    def handle_get(self, request):
        with self.lock:
            self.requests.append(request.path)
        path = urllib.parse.urlsplit(request.path).path
        if path.endswith("/broken"):
            return self.reply(request, 200, b'{"error": "maintenance"}', "application/json")
        if path.endswith("/good"):
            body = f'<html lang="en"><body><div class="review"><p>{GOOD_REVIEW}</p></div></body></html>'
            return self.reply(request, 200, body.encode(), "text/html; charset=utf-8")
        return self.reply(request, 404, b"not found", "text/plain")


def _write_watchlist(folder, site_url: str):
    path = folder / "mentionwatch.yaml"
    urls = [f"{site_url}/reviews/${{ACME_SHOP_ID}}/{page}?key=${{MENTIONWATCH_SITE_KEY}}"
            for page in ("broken", "good")]
    path.write_text(f"""
database: mentionwatch.db
sentiment: {{model: builtin}}
service: {{score_interval: 1h, detect_interval: 1h, notify_retry_interval: 1h, jitter: 0.2s}}
watches:
  - name: acme
    query: {{any: [acme]}}
    sources:
      - type: reviews
        interval: 1h
        options:
          start_urls: {json.dumps(urls)}
          item: div.review
          text: p ::text
          min_interval: 0
""", encoding="utf-8")
    return path


def _mentionwatch(config_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mentionwatch", "--config", str(config_path), *args],
                          capture_output=True, text=True, timeout=180, cwd=config_path.parent,
                          env={**os.environ, **SECRET_ENV})


def _assert_no_secret(where: str, text: str | bytes) -> None:
    for secret in (SITE_KEY, SHOP_ID):
        found = secret.encode() in text if isinstance(text, bytes) else secret in text
        assert not found, f"{secret} in {where}"


def _assert_database_files_clean(folder) -> None:
    files = [path for path in folder.iterdir() if path.name.startswith("mentionwatch.db")]
    assert files
    for path in files:  # the WAL holds recent writes before a checkpoint
        _assert_no_secret(path.name, path.read_bytes())


def _assert_status_clean(config_path) -> None:
    for args in (("status",), ("status", "--json")):
        result = _mentionwatch(config_path, *args)
        assert result.returncode == 0, result.stderr
        _assert_no_secret(" ".join(args), result.stdout + result.stderr)
        assert f"?key={REDACTED}" in result.stdout


def _assert_the_site_got_the_secrets(site: ReviewSite) -> None:
    assert f"/reviews/{SHOP_ID}/broken?key={SITE_KEY}" in site.requests


def test_crawl_keeps_the_site_key_out_of_its_output_the_database_and_status(tmp_path):
    with ReviewSite() as site:
        config_path = _write_watchlist(tmp_path, site.url)
        crawl = _mentionwatch(config_path, "-vv", "crawl")
    _assert_the_site_got_the_secrets(site)
    assert crawl.returncode == 0, crawl.stderr  # one page was read: partial, not failed
    assert crawl.stdout.splitlines()[1].split()[:5] == ["acme", "reviews", "partial", "1", "1"]
    assert "spider:" in crawl.stderr  # the Scrapy child's log, relayed at -vv
    _assert_no_secret("crawl's output", crawl.stdout + crawl.stderr)
    assert f"acme/reviews: {site.url}/reviews/{REDACTED}/broken?key={REDACTED}: " in crawl.stderr
    _assert_database_files_clean(tmp_path)
    _assert_status_clean(config_path)


def test_an_address_read_whole_from_a_variable_is_hidden_also_without_its_scheme(tmp_path):
    """Error lines quote an address as host/path: `base_url: ${VAR}` must not leak through them."""
    with LocalServer() as closed:  # a port nothing listens on once the server is gone
        port = closed.url.rsplit(":", 1)[1]
    secret_path = "privateinstance9137"
    path = tmp_path / "mentionwatch.yaml"
    path.write_text("""
database: mentionwatch.db
watches:
  - name: acme
    query: {any: [acme]}
    sources:
      - {type: hackernews, base_url: "${PRIVATE_HN_URL}", options: {max_pages: 1}}
""", encoding="utf-8")
    env = {**os.environ, "PRIVATE_HN_URL": f"http://127.0.0.1:{port}/{secret_path}"}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "mentionwatch", "--config", str(path), *args],
                              capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env)

    crawl = run("crawl")
    assert crawl.returncode == 1 and "connection refused" in crawl.stderr, crawl.stderr
    assert f"GET {REDACTED}/search_by_date" in crawl.stderr
    for where, text in [("crawl", crawl.stdout + crawl.stderr), ("status", run("status", "--json").stdout),
                        *((p.name, p.read_bytes().decode("latin-1")) for p in tmp_path.glob("mentionwatch.db*"))]:
        assert secret_path not in text, where


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs POSIX signals")
@pytest.mark.parametrize("log_format", ["json", "text"])
def test_service_keeps_the_site_key_out_of_its_log_the_database_and_status(tmp_path, log_format):
    log_path = tmp_path / "service.log"
    with ReviewSite() as site:
        config_path = _write_watchlist(tmp_path, site.url)
        process = start_service(config_path, log_path, SECRET_ENV, "--log-format", log_format)
        try:
            wait_until(lambda: _collect_logged(process, log_path), 120, what="the collect job's log line")
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    _assert_the_site_got_the_secrets(site)
    log_text = log_path.read_text(encoding="utf-8")
    _assert_no_secret("the service's log", log_text)
    if log_format == "json":
        entries = [json.loads(line) for line in log_text.splitlines()]
        (run,) = [e for e in entries if str(e.get("job")).startswith("collect:") and "status" in e]
        assert run["status"] == "partial"
        assert run["errors"][0].startswith(f"{site.url}/reviews/{REDACTED}/broken?key={REDACTED}: ")
    else:
        assert f'errors="[\\"{site.url}/reviews/{REDACTED}/broken?key={REDACTED}: ' in log_text
    _assert_database_files_clean(tmp_path)
    _assert_status_clean(config_path)


def _collect_logged(process: subprocess.Popen, log_path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the service exited with {process.returncode}: "
                             f"{log_path.read_text(encoding='utf-8')[-2000:]}")
    return log_path.exists() and "job collect:acme:reviews" in log_path.read_text(encoding="utf-8")


@pytest.mark.parametrize("text, expected", [
    ("refused auth=Basic U0VDUkVUUklEMTExOlNFQ1JFVFJTRUMyMjI=", f"refused auth=Basic {REDACTED}"),
    ("Authorization: Bearer ghp_abc123defghijkl", f"Authorization: Bearer {REDACTED}"),
    ("plan changed from Basic 2024-06-01T12:00:00Z to Pro", "plan changed from Basic 2024-06-01T12:00:00Z to Pro"),
    ("Bearer 1000000000000 shares", "Bearer 1000000000000 shares"),
    ("basic training was hard", "basic training was hard"),
    ("authorization: bearer eyJhbGciOiJIUzI1NiJ9.abc123def456", f"authorization: bearer {REDACTED}"),
    ("Authorization: Bearer 0F3A9C77D1E24B6F8A0C", f"Authorization: Bearer {REDACTED}"),
    ("Authorization: Basic Ym9iOnB3MTIz", f"Authorization: Basic {REDACTED}"),
])
def test_an_echoed_authorization_header_is_hidden_and_ordinary_words_kept(text, expected):
    assert redact(text) == expected
