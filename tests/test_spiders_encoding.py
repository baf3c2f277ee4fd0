"""An HTML page that declares no encoding is read in its language's code page
(crawler/spiders/encoding.py): the source's `lang`, the page's `<html lang>`, the country of its
address, else windows-1252 unless the bytes show a non-Latin script. The crawls run the real Scrapy
engine against pages served as raw bytes from 127.0.0.1, into a real SQLite file."""
from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import pytest
from scrapy.http import HtmlResponse, Request, XmlResponse

from crawler.spiders.encoding import UndeclaredEncodingMiddleware
from test_spiders_walk_fixes import Site, crawl_reviews

REVIEWS = {
    "fr": ("cp1252", "Acme : très déçu, le vendeur n'a jamais répondu à mes relances. Ça arrive."),
    "de": ("cp1252", "Acme: Lieferung kam zwölf Tage zu spät, völlig unbrauchbar, Größe falsch."),
    "pl": ("cp1250", "Acme: zamówienie przyszło uszkodzone, obsługa klienta nie odpowiada, żałuję zakupu."),
    "ru": ("cp1251", "Acme: ужасный сервис, заказ не пришёл, деньги не вернули."),
}


class BytesSite(Site):
    """Serves `raw` ({path: HTML bytes}) as text/html with no charset."""

    def __init__(self, raw: dict[str, bytes]):
        super().__init__({})
        self.raw = raw

    def handle_get(self, request):
        if request.path == "/robots.txt":
            self.reply(request, 200, b"", "text/plain")
        else:
            self.reply(request, 200, self.raw[request.path], "text/html")


def _page(language: str, html_lang: bool) -> bytes:
    encoding, text = REVIEWS[language]
    lang = f' lang="{language}"' if html_lang else ""
    return (f'<html{lang}><body><div class="review" data-id="{language}"><p>{text}</p></div></body></html>'
            .encode(encoding))


def _stored_texts(db_path) -> dict[str, str]:
    rows = sqlite3.connect(db_path).execute("SELECT external_id, text FROM mentions").fetchall()
    return {external_id.rsplit(":", 1)[-1]: text for external_id, text in rows}


def _crawl(tmp_path, pages: dict[str, bytes], **options) -> dict[str, str]:
    with BytesSite(pages) as site:
        result = crawl_reviews(site, tmp_path / "x.db", start=next(iter(pages)),
                               start_urls=[site.url + path for path in pages], **options)
    assert result["errors"] == [], result["errors"]
    return _stored_texts(tmp_path / "x.db")


def test_pages_naming_their_language_are_read_in_its_code_page(tmp_path):
    texts = _crawl(tmp_path, {f"/{language}": _page(language, html_lang=True) for language in REVIEWS})
    assert texts == {language: text for language, (_encoding, text) in REVIEWS.items()}


def test_with_no_language_western_pages_read_as_windows_1252_and_cyrillic_as_guessed(tmp_path):
    texts = _crawl(tmp_path, {f"/{language}": _page(language, html_lang=False) for language in ("fr", "de", "ru")})
    assert texts == {language: REVIEWS[language][1] for language in ("fr", "de", "ru")}


def test_the_sources_lang_option_says_the_language_of_pages_that_name_none(tmp_path):
    texts = _crawl(tmp_path, {"/pl": _page("pl", html_lang=False)}, lang="pl")
    assert texts == {"pl": REVIEWS["pl"][1]}


# the middleware on its own, for what a local server cannot show (an address in .pl) -----------

def _read(url: str, body: bytes, headers: dict | None = None, lang: str | None = None,
          response_class=HtmlResponse) -> str:
    spider = SimpleNamespace(options=SimpleNamespace(lang=lang), logger=SimpleNamespace(debug=lambda *a: None))
    middleware = UndeclaredEncodingMiddleware(SimpleNamespace(spider=spider))
    response = response_class(url, body=body, headers=headers or {}, request=Request(url))
    return middleware.process_response(response.request, response).text


POLISH = "Zamówienie przyszło uszkodzone, żałuję. Ścieżka źle."


@pytest.mark.parametrize("encoding", ["cp1250", "iso8859_2"])
def test_a_polish_address_reads_cp1250_or_iso_8859_2(encoding):
    body = f"<html><body><p>{POLISH}</p></body></html>".encode(encoding)
    assert POLISH in _read("https://sklep.example.pl/opinie", body)


def test_iso_8859_2_without_the_bytes_cp1250_uses_for_letters():
    text = "Zamówienie przyszło, żałuję."  # ł, ż, ó: no byte in 0x80-0x9F in either code page
    body = f"<html><body><p>{text}</p></body></html>".encode("iso8859_2")
    assert text in _read("https://sklep.example.pl/opinie", body)


def test_a_declared_encoding_utf8_and_xml_are_left_as_they_are():
    french = REVIEWS["fr"][1]
    declared = f'<html lang="pl"><head><meta charset="windows-1252"></head><p>{french}</p></html>'.encode("cp1252")
    assert french in _read("https://example.pl/", declared)
    in_header = f'<html lang="pl"><p>{french}</p></html>'.encode("cp1252")
    assert french in _read("https://example.pl/", in_header, {"Content-Type": "text/html; charset=windows-1252"})
    assert POLISH in _read("https://example.com/", f'<html lang="fr"><p>{POLISH}</p></html>'.encode("utf-8"))
    japanese = "アクメの対応は最悪でした。二度と買いません。"
    feed = f'<?xml version="1.0"?><rss><channel><title>{japanese}</title></channel></rss>'.encode("utf-8")
    assert japanese in _read("https://example.fr/feed", feed, response_class=XmlResponse)


JAPANESE = "アクメの対応は最悪でした。二度と買いません。返金もありません。"


@pytest.mark.parametrize("encoding", ["shift_jis", "euc_jp"])
def test_a_japanese_page_reads_in_either_japanese_code_page(encoding):
    """Alone, the bytes of this short Shift_JIS text pass for Korean (cp949): the page's language
    decides; EUC-JP, which the bytes show, is kept."""
    body = f'<html lang="ja"><body><p>{JAPANESE}</p></body></html>'.encode(encoding)
    assert JAPANESE in _read("https://example.com/reviews", body)


def test_a_page_naming_no_language_keeps_a_non_latin_guess():
    russian = REVIEWS["ru"][1]
    assert russian in _read("https://example.com/", f"<html><p>{russian}</p></html>".encode("koi8_r"))
    longer = JAPANESE + "配送も遅く、カスタマーサポートは電話に出ません。本当にがっかりしました。"
    assert longer in _read("https://example.com/", f"<html><p>{longer}</p></html>".encode("shift_jis"))


# what a review of the first version found: a language or a country taken as certain over the bytes

RUSSIAN = REVIEWS["ru"][1]
ENGLISH = "I don’t recommend it — the café was “fine” but the staff didn’t care. Won’t return."


@pytest.mark.parametrize("address", ["https://example.lv/", "https://example.il/", "https://example.az/"])
def test_a_cyrillic_page_on_another_countrys_address_keeps_its_script(address):
    assert RUSSIAN in _read(address, f"<html><p>{RUSSIAN}</p></html>".encode("cp1251"))


@pytest.mark.parametrize("address", ["https://example.jp/", "https://example.ru/", "https://example.cn/"])
def test_an_english_page_on_a_non_latin_countrys_address_stays_western(address):
    assert ENGLISH in _read(address, f"<html><p>{ENGLISH}</p></html>".encode("cp1252"))


def test_a_templates_lang_en_over_a_russian_page_keeps_cyrillic():
    assert RUSSIAN in _read("https://example.com/", f'<html lang="en"><p>{RUSSIAN}</p></html>'.encode("cp1251"))


def test_a_language_code_the_table_does_not_know_keeps_the_guess_and_jp_means_japanese():
    longer = JAPANESE + "配送も遅く、カスタマーサポートは電話に出ません。本当にがっかりしました。"
    assert longer in _read("https://example.com/", f'<html lang="jp"><p>{longer}</p></html>'.encode("shift_jis"))
    cantonese = "呢間餐廳啲嘢食好難食，侍應又冇禮貌，等咗成個鐘先有得食，以後都唔會再嚟。"
    assert cantonese in _read("https://example.hk/", f'<html lang="yue"><p>{cantonese}</p></html>'.encode("big5hkscs"))


def test_a_meta_charset_after_the_first_4_kb_is_honoured():
    style = "<style>" + "p { margin: 0 } " * 400 + "</style>"  # pushes the meta past 4096 bytes
    body = (f'<html lang="en"><head>{style}<meta charset="windows-1251"></head><p>{RUSSIAN}</p></html>'
            .encode("cp1251"))
    assert body.index(b"<meta") > 4096 and RUSSIAN in _read("https://example.com/", body)


def test_polish_cp1250_with_only_a_with_ogonek_is_told_from_iso_8859_2():
    text = "Paczka doszła po tygodniu, ale towar zgodny z opisem. Ceny są dobre, obsługa miła."
    assert text in _read("https://sklep.example.pl/", f"<html><p>{text}</p></html>".encode("cp1250"))
    assert text in _read("https://sklep.example.pl/", f"<html><p>{text}</p></html>".encode("iso8859_2"))


# what a second review found

FRENCH = REVIEWS["fr"][1]


def test_a_meta_in_a_comment_or_a_script_after_4_kb_declares_nothing():
    style = "<style>" + "p { margin: 0 } " * 400 + "</style>"
    for hidden in ("<!-- <meta charset=\"utf-8\"> -->", "<script>d.write('<meta charset=\"utf-8\">')</script>"):
        body = f'<html lang="fr"><head>{style}{hidden}</head><p>{FRENCH}</p></html>'.encode("cp1252")
        assert FRENCH in _read("https://example.com/", body), hidden


def test_english_menus_around_two_russian_posts_keep_cyrillic():
    posts = "".join(f"<div class=post><p>{RUSSIAN}</p><a>Quote</a> <a>Report</a></div>" for _ in range(2))
    page = (f'<html lang="en"><nav>Board index Search Members Login Register FAQ</nav>{posts}'
            "<footer>Powered by phpBB Forum Software. Privacy | Terms. All times are UTC.</footer></html>")
    assert RUSSIAN in _read("https://forum.example.com/", page.encode("cp1251"))


@pytest.mark.parametrize("text, encoding", [
    ("Berbat hizmet, sipariş gelmedi, parayı iade etmediler. Bir daha asla almam, çok üzgünüm.", "cp1254"),
    ("Baisus aptarnavimas, užsakymas neatėjo, pinigų negrąžino. Daugiau niekada, gaila. Prekė buvo "
     "sugadinta, o pardavėjas neatsakė į žinutes. Labai nusivyliau šia parduotuve.", "cp1257")])
def test_a_turkish_or_baltic_page_naming_no_language_keeps_its_guess(text, encoding):
    assert text in _read("https://example.com/", f"<html><p>{text}</p></html>".encode(encoding))


def test_serbian_in_latin_letters_is_central_european():
    text = "Užasna usluga, porudžbina nije stigla, novac nisu vratili. Nikad više, šteta što ću čekati."
    body = f"<html><p>{text}</p></html>".encode("cp1250")
    assert text in _read("https://example.com/", body.replace(b"<html>", b'<html lang="sr-Latn">'))
    assert text in _read("https://prodavnica.example.rs/", body)


# what a third review found

def test_icelandic_and_faroese_pages_stay_western():
    text = "Þjónustan var hræðileg, pöntunin kom aldrei og þeir endurgreiddu ekki. Það er óásættanlegt."
    for address in ("https://example.com/", "https://example.is/"):
        assert text in _read(address, f"<html><p>{text}</p></html>".encode("cp1252")), address


@pytest.mark.parametrize("text", ["Acme Pro kit: 2 × 500 ml bottles, tray 30 × 40 cm, box of 6 × 2 filters.",
                                  "Il servizio è pessimo: è arrivato tardi, è rotto. Acme non risponde."])
def test_latin_text_with_times_signs_or_one_letter_words_on_a_cyrillic_address_stays_western(text):
    assert text in _read("http://shop.example.ru/p", f"<html><p>{text}</p></html>".encode("cp1252"))


@pytest.mark.parametrize("comment", ["<!-->", "<!--->"])
def test_an_empty_comment_hides_nothing_after_it(comment):
    posts = "".join(f"<div><p>{RUSSIAN}</p></div>" for _ in range(3))
    page = f'<html lang="en"><nav>Home Search Login</nav>{comment}{posts}</html>'
    assert RUSSIAN in _read("https://forum.example.com/", page.encode("cp1251"))


def test_a_late_meta_naming_pythons_undefined_codec_is_no_crash():
    body = f'<html lang="fr"><p>{FRENCH}</p>'.encode("cp1252") + b" " * 5000 + b'<meta charset="undefined">'
    assert FRENCH in _read("https://example.com/", body)
