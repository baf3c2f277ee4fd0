"""After the ninth walkthrough (a brand team in Shanghai and Tokyo): Chinese and Japanese files
saved by Excel in their local encodings, Korean words among an alert's terms, Chinese and
Japanese times, and the hints a China-based user gets for time zones and languages."""
from __future__ import annotations

import sqlite3

import pytest

from mentionwatch.legacy_text import CHINESE_OR_KOREAN, east_asian_encoding

HEADER = "id,text,created_at\n"


@pytest.fixture(autouse=True)
def _database_named(tmp_path, monkeypatch):
    monkeypatch.setenv("MENTIONWATCH_DB", str(tmp_path / "mentionwatch.db"))


def _stored_texts(tmp_path) -> list[str]:
    return [row[0] for row in sqlite3.connect(tmp_path / "mentionwatch.db").execute(
        "SELECT text FROM mentions ORDER BY id")]


@pytest.mark.parametrize("encoding, language, text", [
    ("gbk", "Chinese", "我在汉庭酒店住了三晚，服务太差了"),
    ("shift_jis", "Japanese", "このアプリはすぐに落ちます、ひどい"),
])
def test_a_local_excel_csv_gets_the_encoding_that_reads_it_and_that_one_stores_it_whole(
        cli, tmp_path, encoding, language, text):
    path = tmp_path / "reviews.csv"
    path.write_bytes((HEADER + f"1,{text},2024-03-05T06:00:00Z\n").encode(encoding))
    refused = cli("import", path)
    assert refused.exit_code == 3
    hinted, named = {"Chinese": ("gb18030", CHINESE_OR_KOREAN), "Japanese": ("cp932", ("cp932", "Japanese"))}[language]
    assert refused.stderr.splitlines() == [
        f"{path}:2: rejected: not UTF-8 text (it reads as {named[1]} text: try --encoding {named[0]})"]
    assert cli("import", path, "--encoding", hinted).exit_code == 0
    assert _stored_texts(tmp_path) == [text]


def test_reading_a_chinese_file_as_cp1252_is_said_to_garble_it(cli, tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes((HEADER + "1,我在汉庭酒店住了三晚,2024-03-05T06:00:00Z\n").encode("gbk"))
    result = cli("import", path, "--encoding", "cp1252")
    assert (f"the file looks like {CHINESE_OR_KOREAN[1]} text, which --encoding cp1252 garbles: "
            f"try --encoding {CHINESE_OR_KOREAN[0]}") in result.stderr


@pytest.mark.parametrize("encoding, text, found", [
    ("cp949", "서비스가 너무 나빠요 정말", CHINESE_OR_KOREAN),  # Korean reads as Chinese in gb18030
    ("big5", "這個產品品質很差", CHINESE_OR_KOREAN),
    ("cp932", "東京電力株式会社", CHINESE_OR_KOREAN),  # kanji only: no kana to tell
    ("cp1250", "Źdźbło trawy jest zielone i ładne", None),  # a few pairs among Latin letters
    ("cp1254", "Türkçe çok güzel şey", None),
])
def test_east_asian_bytes_are_told_by_kana_and_by_their_share_of_the_text(encoding, text, found):
    assert east_asian_encoding((HEADER + f"1,{text},2024-03-05T06:00:00Z\n").encode(encoding)) == found


def test_a_french_cp1252_file_still_gets_the_cp1252_hint(cli, tmp_path):
    path = tmp_path / "avis.csv"
    path.write_bytes((HEADER + "1,très déçu: le café était froid à l'arrivée,2024-03-05T06:00:00Z\n")
                     .encode("cp1252"))
    refused = cli("import", path)
    assert refused.stderr.splitlines() == [f"{path}:2: rejected: not UTF-8 text (try --encoding cp1252)"]


def test_korean_two_syllable_words_and_full_width_letters_are_terms():
    from alerts.explain import over_represented_terms, words

    assert words("삼성 갤럭시 배터리 문제") == {"삼성", "갤럭시", "배터리", "문제"}
    assert words("ＩＲＩＡＭ crashed") == words("IRIAM crashed") == {"iriam", "crashed"}
    # half-width kana read as kana, a katakana word whole (since 2026-12-07: its pairs were fragments)
    assert "ｲﾘｱﾑ" not in words("ｲﾘｱﾑ 落ちる") and "イリアム" in words("ｲﾘｱﾑ 落ちる")
    alert = ["삼성 배터리 문제 심각", "삼성 배터리 또 문제", "배터리 문제 있어요 삼성"]
    baseline = ["오늘 날씨 좋아요", "커피 맛있어요"] * 10
    assert {term["term"] for term in over_represented_terms(alert, baseline)} >= {"삼성", "배터리", "문제"}


@pytest.mark.parametrize("written, hint", [
    ("CST", "(did you mean 'America/Chicago' (US Central) or 'Asia/Shanghai' (China)?)"),
    ("IST", "(did you mean 'Asia/Kolkata' (India), 'Europe/Dublin' (Ireland) or 'Asia/Jerusalem' (Israel)?)"),
    ("NZST", "(did you mean 'Pacific/Auckland'?)"),
    ("UTC+8", ": a time zone is a place, not an offset (did you mean 'Asia/Shanghai' or 'Etc/GMT-8', which is UTC+8 all year?)"),
    ("+0530", ": a time zone is a place, not an offset (did you mean 'Asia/Kolkata'?)"),
    ("Beijing", "(did you mean 'Asia/Shanghai'?)"),
    ("UTC+99", ": a time zone is a place, not an offset: use a time zone name such as Europe/Paris, "
               "America/New_York or UTC"),  # no Etc/GMT-99 suggested: there is none
    ("UTC+0", "(did you mean 'UTC'?)"),
])
def test_time_zone_hints_for_a_team_in_china_and_for_offsets(written, hint):
    from mentionwatch.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as refused:
        parse_config(f"alerts:\n  timezone: '{written}'\nwatches:\n  - {{name: a, query: {{any: [x]}}}}\n")
    assert str(refused.value).endswith(f"alerts.timezone: {written!r} is not a time zone {hint}".replace(" :", ":"))


@pytest.mark.parametrize("written, meant", [("jp", "ja"), ("cn", "zh"), ("中文", "zh"), ("日本語", "ja")])
def test_a_country_code_or_a_languages_own_name_gets_its_language_code(written, meant):
    from mentionwatch.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match=f"is not a language code \\(did you mean '{meant}'\\?\\)"):
        parse_config(f"watches:\n  - {{name: a, query: {{any: [x], languages: [{written}]}}}}\n")


def test_a_latin_exclusion_beside_a_chinese_term_is_no_refusal():
    """Review: '東京Acme' matches inside '東京Acmeshop', where the exclusion 'acme' (a word of its
    own) does not: the watch can match, and was refused."""
    from mentionwatch.config import ConfigError, parse_config

    parse_config("watches:\n  - {name: a, query: {any: [東京Acme], exclude: [acme]}}\n")
    with pytest.raises(ConfigError, match="exclude '東京' is in every post"):
        parse_config("watches:\n  - {name: a, query: {any: [東京Acme], exclude: [東京]}}\n")


@pytest.mark.parametrize("written, stored", [
    ("2024年3月5日 14時05分", "2024-03-05T14:05:00Z"),
    ("2024年3月5日 14时05分30秒", "2024-03-05T14:05:30Z"),
    ("2024年3月5日(火) 14:05", "2024-03-05T14:05:00Z"),
    ("2024年3月5日（周二）14:05 +0800", "2024-03-05T06:05:00Z"),
])
def test_chinese_and_japanese_times_are_read(written, stored):
    from storage.timeutil import parse_file_timestamp, parse_timestamp

    assert parse_timestamp(written) == parse_file_timestamp(written) == stored


def test_forget_takes_an_erased_authors_full_width_term_out_of_an_older_explanation():
    """Review: terms stored before full-width letters were folded ('ｉｒｉａｍ') stayed after the
    posts that gave them were erased."""
    from alerts.explain import STANDING_OUT, without_erased_words

    explanation = {"terms": [{"term": "ｉｒｉａｍ", "count": 3}, {"term": "crash", "count": 5}],
                   "summary": f"9 negative mentions{STANDING_OUT}ｉｒｉａｍ, crash"}
    cleaned, _ = without_erased_words(explanation, ["ＩＲＩＡＭ crash"] * 2)
    assert [term["term"] for term in cleaned["terms"]] == ["crash"]
    assert cleaned["summary"].endswith(f"{STANDING_OUT}crash")


def test_a_watch_of_languages_the_built_in_model_cannot_read_is_warned_about(cli, tmp_path):
    """Walkthrough 9: of 39 Japanese App Store reviews, 15 of the 17 one- and two-star ones came out
    neutral, and nothing said the built-in model reads English and Chinese only."""
    from mentionwatch.config import parse_config
    from sentiment.scorer import unreadable_watches

    text = ("sentiment: {model: builtin}\nwatches:\n  - {name: tokyo, query: {any: [アプリ], languages: [ja]}}\n"
            "  - {name: shanghai, query: {any: [美团], languages: [zh]}}\n  - {name: anywhere, query: {any: [x]}}\n")
    [line] = unreadable_watches(parse_config(text))
    assert line.startswith("watch tokyo takes only ja posts, which the built-in sentiment model cannot read")
    from storage import open_db

    open_db(tmp_path / "mentionwatch.db").close()  # the database this module's tests name
    (tmp_path / "w.yaml").write_text(text, encoding="utf-8")
    result = cli("--config", tmp_path / "w.yaml", "score")
    assert result.exit_code == 0, result.output
    assert "Warning: watch tokyo takes only ja posts" in result.stderr
