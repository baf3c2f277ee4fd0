"""Watchlist mistakes found in the fourth first-time-user review: a made-up language code and a
notification URL with its token written in the file were both accepted. Each is now one config error
line naming the file, the setting and what to write instead (never the token)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from mentionwatch.config import (ISO_639_1, KEEP_UNSET_IN_SOURCES, ConfigError, language_code,
                                 language_problem, parse_config)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "Zq8TokR4secretX"  # unique to this file: no other test remembers it as a known secret


def _languages(*codes: str) -> str:
    return ("watches:\n  - name: acme\n    query:\n      any: [acme]\n"
            f"      languages: [{', '.join(codes)}]\n")


def _source(source: str) -> str:
    return "watches:\n  - name: acme\n    query: {any: [acme]}\n    sources:\n" + f"      - {source}\n"


def _notification(url: str) -> str:
    return f'notifications:\n  - name: team\n    url: "{url}"\n' + "watches:\n  - {name: a, query: {any: [x]}}\n"


def _refusal(text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as refused:
        parse_config(text, "w.yaml", **kwargs)
    return str(refused.value)


def _only_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


# --- languages -------------------------------------------------------------------------------------

def test_the_language_list_is_iso_639_1():
    assert len(ISO_639_1) == 184
    assert all(re.fullmatch(r"[a-z]{2}", code) for code in ISO_639_1)
    assert {"en", "de", "zh", "no", "nb", "he", "id", "sw"} <= set(ISO_639_1)
    assert not {"xx", "iw", "in", "sh", "jw"} & set(ISO_639_1)  # made up, or withdrawn
    # every alias a source may write leads to a listed code
    for alias in ("eng", "English", "deu", "chinese", "iw", "in", "nob"):
        assert language_code(alias) in ISO_639_1


USE_ISO = "use a two-letter ISO 639-1 code such as en, de, zh (or en-GB, pt_BR)"


@pytest.mark.parametrize("code, expected", [
    ("xx", f"'xx' is not a language code: {USE_ISO}"),
    ("qq", f"'qq' is not a language code: {USE_ISO}"),
    ("abcd", f"'abcd' is not a language code: {USE_ISO}"),  # three letters may be a real ISO 639-3 code (fil)
    ("en-XX", "'en-XX' is not a language code: 'XX' is not a country, region or script (did you mean 'en'?)"),
    ("en-UK", "'en-UK' is not a language code: 'UK' is not a country, region or script (did you mean 'en-GB'?)"),
    ("de_ZZ", "'de_ZZ' is not a language code: 'ZZ' is not a country, region or script (did you mean 'de'?)"),
    ("swahili", "'swahili' is not a language code (did you mean 'sw'?)"),
    ("Englisch", "'Englisch' is not a language code (did you mean 'en'?)"),
    ("chinse", "'chinse' is not a language code (did you mean 'zh'?)"),
])
def test_a_made_up_query_language_is_one_line_with_the_closest_code(code, expected):
    assert _refusal(_languages("en", code)) == f"w.yaml:5: watches[0].query.languages[1]: {expected}"


@pytest.mark.parametrize("written, code", [
    ("en", "en"), ("EN", "en"), ("en-US", "en"), ("en_GB", "en"), ("eng", "en"), ("English", "en"),
    ("zh_Hans", "zh"), ("zh-Hant-TW", "zh"), ("es-419", "es"), ("pt-BR", "pt"), ("nb", "no"),
    ("iw", "he"), ("de-CH-1901", "de"), ("'no'", "no"), ("sw", "sw"),
])
def test_every_form_the_readme_names_is_still_a_language(written, code):
    assert parse_config(_languages(written)).watches[0].query.languages == [code]


@pytest.mark.parametrize("source, expected", [
    ("{type: googleplay, options: {app_id: com.acme.app, lang: english}}",
     "options.lang: 'english' is not a language code (did you mean 'en'?)"),
    ("{type: googleplay, options: {app_id: com.acme.app, lang: eng_GB}}",
     "options.lang: 'eng_GB' is not a language code (did you mean 'en_GB'?)"),
    ("{type: bluesky, options: {lang: en-XX}}",
     "options.lang: 'en-XX' is not a language code: 'XX' is not a country, region or script"),
    ("{type: bluesky, options: {lang: 12}}", "options.lang: '12' is not a language code"),
    ("{type: reviews, options: {start_urls: ['https://example.org/r'], item: div, text: p, lang: xx}}",
     "options.lang: 'xx' is not a language code: use a two-letter ISO 639-1 code"),
])
def test_a_made_up_source_lang_option_is_refused(source, expected):
    """A source's `lang` is sent to the site (or put on every item) as written: there the aliases
    a query takes ('eng', 'english') are refused too, with the code to write."""
    assert f"w.yaml:5: watches[0].sources[0].{expected}" in _refusal(_source(source))


@pytest.mark.parametrize("source", [
    "{type: googleplay, options: {app_id: com.acme.app, lang: en, country: us}}",
    "{type: googleplay, options: {app_id: com.acme.app, lang: pt_BR}}",
    "{type: bluesky, options: {lang: zh-TW}}",
    "{type: bluesky, options: {lang: '${MW_R4_UNSET_LANG}'}}",
    "{type: reviews, options: {start_urls: ['https://example.org/r'], item: div, text: p, lang: de}}",
])
def test_a_real_source_lang_option_is_kept(source):
    parse_config(_source(source), keep_unset_env=KEEP_UNSET_IN_SOURCES)


def test_the_languages_in_the_starter_file_and_the_readme_are_real():
    assert parse_config((ROOT / "mentionwatch" / "starter.yaml").read_text(encoding="utf-8"),
                        keep_unset_env=True).watches[0].query.languages == ["en"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    written = re.findall(r"languages: \[([^\]]*)\]", readme) + re.findall(r"\blang: ([\w-]+)", readme)
    codes = [code.strip() for listed in written for code in listed.split(",") if code.strip()]
    assert codes and all(language_problem(code, aliases=True) is None for code in codes), codes


def test_the_cli_refuses_a_made_up_language_in_one_line(cli, tmp_path):
    (tmp_path / "mentionwatch.yaml").write_text(_languages("english", "xx"), encoding="utf-8")
    result = cli("stats")
    assert result.exit_code == 2, result.output
    line = _only_line(result.output)
    assert "mentionwatch.yaml:5: watches[0].query.languages[1]: 'xx' is not a language code" in line


# --- notification URLs with a token ----------------------------------------------------------------

@pytest.mark.parametrize("url, why", [
    (f"slack://T0ACME/B0ACME/{TOKEN}/#pr-team", "slack:// URLs are made of tokens"),
    (f"discord://123456/{TOKEN}", "discord:// URLs are made of tokens"),
    (f"msteams://acme/{TOKEN}/b/c", "msteams:// URLs are made of tokens"),
    (f"tgram://123456:{TOKEN}/-100200", "tgram:// URLs are made of tokens"),
    (f"pover://user@{TOKEN}", "pover:// URLs are made of tokens"),
    (f"pbul://{TOKEN}", "pbul:// URLs are made of tokens"),
    (f"gotify://push.example.org/{TOKEN}", "gotify:// URLs are made of tokens"),
    (f"mmost://chat.example.org/{TOKEN}", "mmost:// URLs are made of tokens"),
    (f"Zulip://bot@acme/{TOKEN}", "zulip:// URLs are made of tokens"),
    (f"ntfy://{TOKEN}@ntfy.sh/alerts", "the part before @ of an ntfy URL is an access token"),
    (f"ntfys://{TOKEN}:@ntfy.sh/alerts", "the part before @ of an ntfy URL is an access token"),
    (f"https://hooks.slack.com/services/T0ACME/B0ACME/{TOKEN}", "a Slack web hook address carries its token"),
    (f"https://discord.com/api/webhooks/123/{TOKEN}", "a Discord web hook address carries its token"),
    (f"https://discordapp.com/api/webhooks/123/{TOKEN}", "a Discord web hook address carries its token"),
    (f"https://acme.webhook.office.com/webhookb2/{TOKEN}", "a Microsoft Teams web hook address carries its token"),
    (f"https://outlook.office.com/webhook/{TOKEN}", "a Microsoft Teams web hook address carries its token"),
    (f"https://api.telegram.org/bot{TOKEN}/sendMessage", "a Telegram bot address carries its token"),
    (f"json://127.0.0.1:8080/hook?token={TOKEN}", "its token= parameter is a secret"),
])
def test_a_token_written_in_the_url_is_refused_without_showing_it(url, why):
    line = _refusal(_notification(url))
    assert line == (f"w.yaml:3: notifications[0].url: notification 'team': this URL holds a token ({why}): "
                    "give it with url_env (an environment variable) or url_file (a file) instead, "
                    "not in the watchlist")
    assert TOKEN not in line and url not in line


@pytest.mark.parametrize("url", [
    "json://localhost:8080/hook", "json://127.0.0.1:8080/", "jsons://127.0.0.1:8443/hook?lang=en",
    "https://example.org/hook", "https://hooks.example.com/services/T000/B000", "mailto://example.com",
    "mailto://pr@example.com?to=team@example.com", "ntfy://acme-alerts", "ntfys://ntfy.example.org/alerts",
    "ntfy://acme-alerts?email=pr@example.com",
    "form://127.0.0.1:9/hook?keyword=acme",
])
def test_a_url_without_a_secret_stays_accepted(url):
    assert parse_config(_notification(url)).notifications[0].url == url


@pytest.mark.parametrize("url", ["${MW_R4_HOOK}", "slack://${MW_R4_TOKENS}",
                                 "https://hooks.slack.com/services/${MW_R4_TOKENS}",
                                 "json://127.0.0.1:8080/hook?token=${MW_R4_TOKEN}",
                                 "ntfys://${MW_R4_TOKEN}@ntfy.sh/acme-alerts",
                                 "ntfy://pr:${MW_R4_TOKEN}@ntfy.example.org/acme-alerts",
                                 "ntfys://${MW_R4_TOKEN}@ntfy.sh/acme-alerts?auth=token"])
def test_a_token_read_from_the_environment_is_not_in_the_file(monkeypatch, url):
    monkeypatch.setenv("MW_R4_HOOK", f"slack://T0ACME/B0ACME/{TOKEN}")
    monkeypatch.setenv("MW_R4_TOKENS", f"T0ACME/B0ACME/{TOKEN}")
    monkeypatch.setenv("MW_R4_TOKEN", TOKEN)
    assert TOKEN in parse_config(_notification(url)).notifications[0].url


def test_a_variable_left_unread_is_not_taken_for_a_token():
    """`report` and the like read the watchlist without the service's secrets."""
    config = parse_config(_notification("slack://${MW_R4_UNSET_TOKENS}"), keep_unset_env=KEEP_UNSET_IN_SOURCES)
    assert config.notifications[0].url == "slack://${MW_R4_UNSET_TOKENS}"


def test_the_cli_refuses_a_literal_token_url_in_one_line_without_the_token(cli, tmp_path):
    url = f"https://hooks.slack.com/services/T0ACME/B0ACME/{TOKEN}"
    (tmp_path / "mentionwatch.yaml").write_text(_notification(url), encoding="utf-8")
    result = cli("stats")
    assert result.exit_code == 2, result.output
    line = _only_line(result.output)
    assert "mentionwatch.yaml:3: notifications[0].url: notification 'team': this URL holds a token" in line
    assert "url_env" in line and "url_file" in line
    assert TOKEN not in result.output and "hooks.slack.com" not in result.output
