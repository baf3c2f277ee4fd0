"""Local query matching used by every collector."""
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
