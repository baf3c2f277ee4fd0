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


@pytest.mark.parametrize("term, text, expected", [
    ("McDonald's", "McDonald’s fries were cold again", True),   # a phone's curly apostrophe
    ("McDonald’s", "mcdonald's fries", True),                    # a term pasted from a word processor
    ("7-Eleven", "7‑Eleven (non-breaking hyphen)", True),
    ("7-Eleven", "the 7–Eleven on Main St", True),
    ("acme", "ACME™ launches a new rocket", True),               # NFKC alone reads ACME™ as 'acmetm'
    ("acme", "Acme℠ services", True),
    ("Nestlé", "Nestle boycott", True),                           # accents on Latin letters
    ("Citroen", "CITROËN C3", True),
    ("iş bankası", "İŞ BANKASI şubesi kapalı", True),             # Turkish dotted and dotless i
    ("Türk Hava Yolları", "TÜRK HAVA YOLLARI", True),
    ("мой", "мои", False),                                        # й is a letter of its own, not и + accent
    ("acme", "Acmeㅋㅋㅋ 최고", True),                              # Korean jamo end a Latin word
    ("acme", "Acme𠮷野家", True),                                  # an ideograph beyond the first plane
    ("acme", "Acmeမှာ ဝယ်တယ်", True),                               # Burmese
    ("acme", "ទិញAcmeនៅ", True),                                   # Khmer
    ("अमूल", "अमूल दूध", True),
    ("अमूल", "यह अमूल्य समय है", False),                             # a vowel sign continues the word
    ("acme", "I ❤️Acme", True),                                    # an emoji's variation selector
    ("acme", "1️⃣Acme", True),                                     # a keycap
    ("acme", "𝐀𝐂𝐌𝐄 rocks", True),                                  # styled capitals
    ("McDonald's", "McDonald´s", True),                           # ´ typed as an apostrophe
    ("Orsted", "Ørsted news", True),                              # letters with a stroke
    ("Dien May Xanh", "Điện Máy Xanh", True),
    ("acme", "Ac\u00adme", True),                                  # a soft hyphen inside the word
    ("acme", "acme\u200bcorp", True),                              # a zero-width space ends it
])
def test_spelling_variants_a_post_uses_still_match(term, text, expected):
    assert matches_query(Query(any=[term]), text) is expected


def test_a_phrase_does_not_run_from_the_title_into_the_text():
    query = Query(phrases=["ACME Corp"])
    assert not matches_query(query, "Corp. policy says no refunds", title="Our review of Acme")
    assert matches_query(query, "acme corp again", title="Review")
    assert matches_query(Query(all=["acme", "refund"]), "no refund", title="Acme")  # terms may be in either


@pytest.mark.parametrize("undetermined", ["und", "zxx"])
def test_a_post_whose_source_could_not_tell_its_language_is_kept(undetermined):
    assert matches_query(Query(any=["acme"], languages=["en"]), "acme", lang=undetermined)


@pytest.mark.parametrize("written", ["en", "en-GB", "en_US", "EN", "eng", "English"])
def test_the_ways_sources_write_english_count_as_english(written):
    assert matches_query(Query(any=["acme"], languages=["en"]), "acme", lang=written)
    assert not matches_query(Query(any=["acme"], languages=["de"]), "acme", lang=written)


def test_a_query_language_is_read_as_its_primary_code():
    assert Query(any=["acme"], languages=["en-US", "ENG", "zh_Hans"]).languages == ["en", "en", "zh"]
    assert matches_query(Query(any=["acme"], languages=["en-US"]), "acme", lang="en")


@pytest.mark.parametrize("query, message", [
    ({"any": [""]}, "a term cannot be blank"),
    ({"phrases": ["   "]}, "a term cannot be blank"),
    ({"any": ["acme"], "all": [""]}, "a term cannot be blank"),
    ({"any": [True]}, "put the word in quotes"),                  # YAML read `On` or `yes` as true
    ({"any": ["acme"], "languages": [False]}, "Norwegian is 'no'"),
    ({"any": ["acme"], "languages": ["en glish"]}, "is not a language code"),
    ({"any": ["\u200b"]}, "a term cannot be blank"),                # only an invisible character
])
def test_a_query_that_could_match_nothing_is_refused(query, message):
    with pytest.raises(ValueError, match=message):
        Query(**query)


@pytest.mark.parametrize("term", [7, 3.10])
def test_a_number_in_a_query_is_refused_not_rewritten(term):
    """YAML reads 007 as 7 and 3.10 as 3.1: taken as text, the watch would match other posts."""
    with pytest.raises(ValueError, match="as a number: put the term in quotes"):
        Query(any=[term])


def test_a_term_that_folds_to_nothing_is_refused():
    with pytest.raises(ValueError, match="a term cannot be blank"):
        Query(any=["™"])
    assert Query(any=["3M"]).any == ["3M"]
