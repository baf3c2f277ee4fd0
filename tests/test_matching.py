"""Local query matching used by every collector."""
import pytest

from crawler.matching import matches_query
from mentionwatch.config import Query


def test_phrase_any_all_exclude_language():
    query = Query(phrases=["ACME Corp"], any=["@acme"], all=[], exclude=["acme anvil"], languages=["en"])
    assert matches_query(query, "Terrible service from acme  corp today")
    assert matches_query(query, "hey @ACME where is my order?")
    assert not matches_query(query, "acmeCorp is not a word match")
    assert not matches_query(query, "ACME Corp sells the acme anvil")
    assert not matches_query(query, "ACME Corp ist schlecht", lang="de")
    assert matches_query(query, "ACME Corp ok", lang="en-US")


def test_all_terms_and_cjk_substrings():
    query = Query(all=["refund", "delay"])
    assert matches_query(query, "Delay again and no refund.")
    assert not matches_query(query, "no refund")
    zh = Query(any=["小米"])
    assert matches_query(zh, "我的小米手机坏了")
    assert matches_query(Query(any=["ＡＣＭＥ"]), "acme rocks")


@pytest.mark.parametrize("text, expected", [
    ("Acmeのアプリは最高です", True),   # Japanese writes a brand on to the next word
    ("我喜欢Acme手机", True),           # so does Chinese
    ("Acme를 샀어요", True),            # a Korean particle on the brand
    ("ร้าน Acmeดีมาก", True),           # Thai has no spaces between words
    ("Acme のアプリ", True),
    ("acmecorp rocks", False),          # a Latin letter, digit or _ still continues the word
    ("acme2 is out", False),
    ("my_acme", False),
])
def test_a_latin_brand_written_on_to_chinese_japanese_korean_or_thai_text_matches(text, expected):
    assert matches_query(Query(any=["acme"]), text) is expected
