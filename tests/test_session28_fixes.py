"""Fixes of the session of 2026-12-07 (twenty-eighth): each test fails without its fix."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from mentionwatch.config import SentimentConfig
from sentiment import load_scorer
from sentiment.textprep import clean, is_chinese
from storage import open_db
from storage.timeutil import parse_file_timestamp


# import, export and scoring (review of getting data in and out) ----------------------------------

@pytest.mark.parametrize("written, stored", [
    ("2015-02-24 11:35:52.000 -0800", "2015-02-24T19:35:52Z"),  # Java's yyyy-MM-dd HH:mm:ss.SSS Z
    ("2015-02-24 11:35:52.250 -08:00", "2015-02-24T19:35:52Z"),
    ("2015-02-24T10:00:00+01:00[Europe/Paris]", "2015-02-24T09:00:00Z"),  # Java's ZonedDateTime
    ("2015-02-24T10:00:00Z[UTC]", "2015-02-24T10:00:00Z"),
])
def test_times_with_a_fraction_and_a_spaced_offset_or_a_zone_after_the_offset_are_read(written, stored):
    assert parse_file_timestamp(written) == stored


def _import(cli, tmp_path, name: str, content: str, *options: str):
    (tmp_path / name).write_text(content, encoding="utf-8")
    return cli("import", name, "--source", "t", *options)


def _stored_texts(tmp_path) -> list[str]:
    db = open_db(tmp_path / "mentionwatch.db")
    try:
        return [row["text"] for row in db.query("SELECT text FROM mentions ORDER BY id")]
    finally:
        db.close()


def test_rows_ending_with_an_empty_field_or_a_header_ending_with_a_separator_are_imported(cli, tmp_path):
    rows = "1,a,2015-02-24 10:00,\n2,b,2015-02-24 10:00,\n3,c,2015-02-24 10:00,not empty\n"
    result = _import(cli, tmp_path, "trailing.csv", "id,text,created_at\n" + rows)
    assert "2 inserted" in result.stdout and "1 rejected" in result.stdout
    assert "trailing.csv:4: rejected: expected 3 fields, found 4" in result.stderr  # a real extra value
    result = _import(cli, tmp_path, "header.csv", "id,text,created_at,\n4,d,2015-02-24 10:00\n")
    assert result.exit_code == 0 and "1 inserted" in result.stdout
    assert _stored_texts(tmp_path) == ["a", "b", "d"]


def test_a_missing_column_error_lists_the_line_with_most_fields_after_a_preamble_of_pairs(cli, tmp_path):
    content = ('"Query Name","Acme"\r\n"Date range","2015"\r\n\r\n'
               '"Resource Id","Full Text","Date","Author"\r\n"1","Hello, world","2015-02-24 10:00","a"\r\n')
    result = _import(cli, tmp_path, "preamble.csv", content)
    assert result.exit_code == 2
    assert "preamble.csv:4: missing columns" in result.stderr
    assert "--id-col 'Resource Id'" in result.stderr and "--text-col 'Full Text'" in result.stderr


@pytest.mark.parametrize("document, problem", [
    (lambda rows: json.dumps(rows), "a JSON array"),
    (lambda rows: json.dumps(rows, indent=2), "a JSON array"),
    (lambda rows: json.dumps(rows[0], indent=2), "a JSON object written over several lines"),
])
def test_a_json_document_in_a_jsonl_file_is_one_clear_error(cli, tmp_path, document, problem):
    rows = [{"objectID": str(i), "comment_text": "x", "created_at": "2015-02-24T10:00:00Z"} for i in range(3)]
    result = _import(cli, tmp_path, "hits.jsonl", document(rows) + "\n", "--id-col", "objectID",
                     "--text-col", "comment_text")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and f"hits.jsonl:1: the file holds {problem}" in result.stderr
    assert "jq -c" in result.stderr


def test_an_array_written_one_object_a_line_is_refused_and_lines_of_arrays_are_rows(cli, tmp_path):
    rows = [json.dumps({"id": i, "text": "x", "created_at": "2015-02-24T10:00:00Z"}) for i in range(3)]
    result = _import(cli, tmp_path, "wrapped.jsonl", "[" + ",\n".join(rows) + "]\n")
    assert result.exit_code == 2 and "wrapped.jsonl:1: the file holds a JSON array" in result.stderr
    result = _import(cli, tmp_path, "lists.jsonl", '["1", "x", "2015-02-24T10:00:00Z"]\n["2", "y", "2015-02-24T10:00:00Z"]\n')
    assert result.exit_code == 3 and "lists.jsonl:1: rejected: expected a JSON object" in result.stderr
    assert "jq" not in result.stderr  # '.[]' would break each row into its values


def test_an_object_written_over_lines_is_refused_also_when_its_first_line_holds_a_key(cli, tmp_path):
    result = _import(cli, tmp_path, "pretty.jsonl", '{"id": 1,\n "text": "x",\n "created_at": "2015-02-24T10:00:00Z"}\n')
    assert result.exit_code == 2
    assert "pretty.jsonl:1: the file holds a JSON object written over several lines" in result.stderr


def test_an_invalid_json_line_names_the_column_where_it_breaks(cli, tmp_path):
    good = '{"id":1,"text":"a","created_at":"2015-02-24T10:00:00Z"}'
    result = _import(cli, tmp_path, "cut.jsonl", good + "\n" + good.replace("1", "2")[:-1] + "\n")
    assert "cut.jsonl:2: rejected: invalid JSON: Expecting ',' delimiter at column 55" in result.stderr


def test_mentionwatchs_own_csv_export_imports_without_its_formula_guards(cli, tmp_path):
    _import(cli, tmp_path, "posts.csv", "id,text,created_at,author\n1,@united lost my bag,2015-02-24 10:00,@bob\n"
            "2,=1+1 fun,2015-02-24 11:00,-x\n3,'quoted' word,2015-02-24 12:00,a\n"
            "4,'@united as I typed it,2015-02-24 13:00,'-dash\n5,''=) happy,2015-02-24 14:00,b\n")
    assert cli("export", "--out", "out.csv").exit_code == 0
    assert "'@united lost my bag" in (tmp_path / "out.csv").read_text(encoding="utf-8-sig")
    again = cli("--db", "copy.db", "import", "out.csv", "--source", "t", "--id-col", "mention_id")
    assert again.exit_code == 0, again.output
    copy = open_db(tmp_path / "copy.db")
    try:
        rows = [(row["text"], row["author"]) for row in copy.query("SELECT text, author FROM mentions ORDER BY id")]
    finally:
        copy.close()
    assert rows == [("@united lost my bag", "@bob"), ("=1+1 fun", "-x"), ("'quoted' word", "a"),
                    ("'@united as I typed it", "'-dash"), ("''=) happy", "b")]  # quotes of their own kept


def test_a_csv_that_is_not_our_export_keeps_a_leading_quote(cli, tmp_path):
    _import(cli, tmp_path, "other.csv", "id,text,created_at\n1,'@united lost my bag,2015-02-24 10:00\n")
    assert _stored_texts(tmp_path) == ["'@united lost my bag"]


@pytest.mark.parametrize("marked, plain", [
    ('<div class="content">太差了，不推荐</div>', "太差了，不推荐"),
    ('<span class="review">服务员态度恶劣</span>', "服务员态度恶劣"),
    ("我很喜欢<b>小米</b>的手机", "我很喜欢小米的手机"),
    ("<p>awful</p><!-- ad -->service", "awful service"),
])
def test_html_tags_are_no_words_of_a_post(marked, plain):
    assert clean(marked) == plain
    assert is_chinese(clean(marked)) == is_chinese(plain)


@pytest.mark.parametrize("marked, plain", [
    ("<td nowrap>太差了</td>", "太差了"),
    ('<a href="x.zip" download>下载</a>太慢了', "下载太慢了"),
    ('<iframe src="v" allowfullscreen></iframe>好', "好"),
])
def test_html_tags_with_attributes_that_stand_without_a_value_go_too(marked, plain):
    assert clean(marked) == plain


@pytest.mark.parametrize("text", ["I <3 it", "<sarcasm>great</sarcasm>", "x < y > z", "<I hate this airline>",
                                  "<a lot of> issues", "<b bold claim"])
def test_what_only_looks_like_a_tag_is_kept(text):
    assert clean(text) == text


def test_a_chinese_review_wrapped_in_html_is_scored_as_without_it():
    scorer = load_scorer(SentimentConfig())
    marked, plain = scorer.score_texts(['<div class="content">太差了，不推荐</div>', "太差了，不推荐"])
    assert marked.label == plain.label == "negative"
    assert marked.p_negative == pytest.approx(plain.p_negative, abs=1e-6)


# alerts (reviews of detection and of a new user's walkthrough) -----------------------------------

def _rule_finding(rule: str, window: tuple[str, str]):
    from alerts.detect import Finding

    return Finding(watch="acme", source=None, rule=rule, window_start=window[0], window_end=window[1],
                   observed=24.0, expected=20.0, score=1.2, severity="medium", opened_at=window[1],
                   opened_severity="medium", escalations=[], live=False, peak_start=window[0],
                   peak_end=window[1], rules=(rule,))


@pytest.mark.parametrize("spike_hour, alerts", [("2026-10-05T03:00:00Z", 1), ("2026-10-05T04:00:00Z", 2)])
def test_another_rule_firing_a_whole_cooldown_after_the_last_hot_hour_is_the_same_incident(spike_hour, alerts):
    """As the detector's own rule: an incident ends after MORE than `cooldown` quiet buckets. A spike
    whose hour ended 6 h after a threshold alert's window (cooldown 6 h) made a second alert."""
    from alerts.detect import merged_alerts
    from storage.timeutil import from_iso, to_iso

    threshold = _rule_finding("threshold:20 in 1h", ("2026-10-04T21:00:00Z", "2026-10-04T22:00:00Z"))
    spike_end = to_iso(from_iso(spike_hour) + dt.timedelta(hours=1))
    spike = _rule_finding("spike", (spike_hour, spike_end))
    assert len(merged_alerts([threshold, spike], cooldown=6 * 3600)) == alerts


def test_negative_contractions_are_no_terms_of_an_incident():
    from alerts.explain import words

    found = words("Bags won't arrive, they didn’t call, it doesnt work and I can't reach anyone; the food made me ill")
    assert {"won't", "didn’t", "doesnt", "can't"}.isdisjoint(found)
    assert {"bags", "arrive", "call", "work", "reach", "food", "ill"} <= found


@pytest.mark.parametrize("now", ["2026-12-07T17:55:00Z", "2026-12-07T18:30:00Z"])
def test_a_resolved_alerts_window_ends_at_its_resolution_whenever_it_is_read(now):
    from alerts.explain import window_end_text

    assert window_end_text("2026-12-07T18:00:00Z", "2026-12-07T17:51:24Z", now) == "2026-12-07T17:51:24Z"
    assert window_end_text("2026-12-07T18:00:00Z", "2026-12-07T19:10:00Z", now) == (
        "2026-12-07T18:00:00Z" if now > "2026-12-07T18:00:00Z" else "now (ongoing)")  # resolved after it ended


def test_an_acknowledgement_typed_again_after_a_takeover_adds_nothing(db):
    from alerts.lifecycle import acknowledge

    db.execute("""INSERT INTO alerts (id, watch, rule, window_start, window_end, status, severity, opened_at,
                  updated_at) VALUES (1, 'acme', 'spike', '2026-12-07T17:00:00Z', '2026-12-07T18:00:00Z', 'open',
                  'low', '2026-12-07T18:00:00Z', '2026-12-07T18:00:00Z')""")
    acknowledge(db, 1, "bo")
    assert acknowledge(db, 1, "ana", note="on it").taken_from == "bo"
    assert not acknowledge(db, 1, "ana", note="on it").changed
    assert acknowledge(db, 1, "ana", note="it").changed  # another note, though "on it" ends with it


def test_an_acknowledgement_whose_note_ends_as_the_last_one_did_is_a_new_step(db):
    from alerts.lifecycle import acknowledge

    db.execute("""INSERT INTO alerts (id, watch, rule, window_start, window_end, status, severity, opened_at,
                  updated_at) VALUES (1, 'acme', 'spike', '2026-12-07T17:00:00Z', '2026-12-07T18:00:00Z', 'open',
                  'low', '2026-12-07T18:00:00Z', '2026-12-07T18:00:00Z')""")
    assert acknowledge(db, 1, "ana", note="called the airline; waiting for reply").changed
    assert acknowledge(db, 1, "ana", note="waiting for reply").changed  # was taken for a repeat, and lost


def test_an_acknowledgement_typed_again_with_the_same_note_adds_nothing(db):
    from alerts.lifecycle import acknowledge, add_note

    db.execute("""INSERT INTO alerts (id, watch, rule, window_start, window_end, status, severity, opened_at,
                  updated_at) VALUES (1, 'acme', 'spike', '2026-12-07T17:00:00Z', '2026-12-07T18:00:00Z', 'open',
                  'low', '2026-12-07T18:00:00Z', '2026-12-07T18:00:00Z')""")
    assert acknowledge(db, 1, "ana", note="on it").changed
    assert not acknowledge(db, 1, "ana", note="on it").changed
    assert acknowledge(db, 1, "ana", note="calling them").changed
    add_note(db, 1, "bo", "press asked")
    assert acknowledge(db, 1, "ana", note="calling them").changed  # after another step: said again
    kinds = [row[0] for row in db.execute("SELECT kind FROM alert_events WHERE alert_id = 1 ORDER BY id")]
    assert kinds == ["acknowledged", "acknowledged", "note", "acknowledged"]


# pages that declare no encoding (a fresh install's charset-normalizer guesses otherwise; review) --

def _bare(text: str, lang: str = "") -> str:
    return f'<html{f" lang={lang!r}" if lang else ""}><body><div class="review"><p>{text}</p></div></body></html>'


@pytest.mark.parametrize("url, text, lang, encoding", [
    ("https://example.com/r", "呢間餐廳嘅服務好差", "zh-hk", "big5hkscs"),  # Hong Kong characters
    ("https://example.com/r", "裏面很乾淨", "zh-tw", "cp950"),
    ("https://example.com/r", "値段の割に品質が良いです。", "ja", "euc_jp"),  # guessed cp932
    ("https://example.com/r", "アクメの対応は最悪でした。二度と買いません。", "ja", "euc_jp"),  # guessed ascii
    ("https://shop.example.cn/r", "超级好吃！又快！！", "", "gbk"),  # guessed Korean
    ("https://shop.example.jp/r", "配送が遅くて最悪でした。", "", "shift_jis"),
    ("https://shop.example.tw/r", "服務態度很差，不會再來了。", "", "big5"),
    ("https://example.com/r", "Всё отлично, рекомендую!", "ru", "koi8_r"),
    ("https://example.com/r", "Ужасный сервис, заказ не пришёл.", "ru", "cp1251"),  # guessed Mac Cyrillic
    ("https://example.ua/r", "Все чудово, рекомендую їх!", "uk", "koi8_u"),
    ("https://example.ru/r", "Ужасный сервис, заказ не пришёл.", "", "cp1251"),
    ("https://example.com/r", "配送が遅くて最悪でした。", "ja", "iso2022_jp"),  # 7-bit: passes for UTF-8
    ("https://boutique.example.fr/r", "Ça marche très bien, merci.", "", "cp1252"),  # guessed Big5-HKSCS
])
def test_a_page_that_declares_no_encoding_is_read_in_its_own(url, text, lang, encoding):
    from tests.test_spiders_encoding import _read

    assert text in _read(url, _bare(text, lang).encode(encoding))


def test_a_shift_jis_page_is_not_read_as_euc_jp():
    from tests.test_spiders_encoding import _read

    text = "ｶｽﾀﾏｰｻｰﾋﾞｽ最悪です。二度と買いません。"
    assert text in _read("https://example.com/r", _bare(text, "ja").encode("shift_jis"))


@pytest.mark.parametrize("url, text, lang, encoding", [
    ("https://shop.example.ru/r", "ВНИМАНИЕ! МОШЕННИКИ! Не переводите деньги, это обман.", "", "cp1251"),
    ("https://shop.example.com/r", "Президент США и генсек НАТО обсудили ситуацию в ЕС и СНГ.", "ru", "cp1251"),
    ("https://shop.example.ru/r", "Ужасный сервис, НИКОМУ НЕ СОВЕТУЮ!!!", "", "cp1251"),
    ("https://shop.example.ru/r", "«Отлично» — сказал он… «Брал в „Эльдорадо“ — всё ок»", "", "cp1251"),
    ("https://www.example.jp/r", "배송이 너무 늦었고 고객센터는 전화를 받지 않았습니다.", "", "euc_kr"),
    ("https://www.example.cn/r", "배송이 너무 늦었고 고객센터는 전화를 받지 않았습니다.", "", "euc_kr"),
    ("https://www.example.kr/r", "酒店服务很差，前台态度恶劣，房间也很脏，不会再来了。", "", "gb18030"),
    ("https://www.example.cn/r", "Ужасный сервис, доставка опоздала на неделю, никому не советую.", "", "cp1251"),
    ("https://www.example.bg/r", "Πολύ κακή εξυπηρέτηση, η παράδοση άργησε μία εβδομάδα.", "", "cp1253"),
    ("https://www.example.ru/r", "บริการแย่มาก ส่งของช้าไปหนึ่งสัปดาห์ ไม่แนะนำเลย", "", "cp874"),
])
def test_capitals_and_other_scripts_keep_the_code_page_the_bytes_show(url, text, lang, encoding):
    """Review of the first version: capitals counted against windows-1251 (МВД read as Mac
    Cyrillic), and a country's address forced its code page on pages in another script."""
    from tests.test_spiders_encoding import _read

    assert text in _read(url, _bare(text, lang).encode(encoding))


def test_a_shift_jis_excerpt_cut_inside_a_character_is_still_shift_jis():
    from tests.test_spiders_encoding import _read

    text = "アクメの対応は最悪でした。二度と買いません。"
    body = _bare(text, "ja").encode("shift_jis").replace("</p>".encode(), "\x82</p>".encode("latin-1"))
    assert text in _read("https://example.com/r", body)


def test_a_broken_first_line_of_a_jsonl_file_is_one_rejected_row(cli, tmp_path):
    rows = ['{"id": 1, "text": "a", "created_at": "2015-02-24T10:00:00Z"',
            '{"id": 2, "text": "b", "created_at": "2015-02-24T10:00:00Z"}',
            '{"id": 3, "text": "c", "created_at": "2015-02-24T10:00:00Z"}']
    result = _import(cli, tmp_path, "cut.jsonl", "\n".join(rows) + "\n")
    assert result.exit_code == 3 and "2 inserted" in result.stdout and "cut.jsonl:1: rejected" in result.stderr
