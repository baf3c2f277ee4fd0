"""Why an alert fired: the negative mentions behind it, the terms that stand out, the sources.

The explanation is stored as JSON in `alerts.explanation`:
{"summary", "top_mentions": [{mention_id, source, author, author_reach, url, created_at, title, text,
p_negative}], "terms": [{term, count, baseline_rate, lift}], "sources": {source: count}}.
A top mention is shown as `entry_text` gives it: its title, then its text (a Hacker News story or a
Reddit link post has its words in the title alone). Explanations stored before the title was kept
have no "title": their text is shown.
Top mentions are ranked by reach (log scale) plus recency inside the alert window; terms are words
(in Chinese, pairs of neighbouring characters; in Japanese, words as Janome's dictionary splits them)
used by more of the alert's negative mentions than of the mentions in the baseline period before it.
"""
from __future__ import annotations

import functools
import math
import re
import threading
import unicodedata
from collections import Counter

TOP_MENTIONS = 10
TOP_TERMS = 10
TEXT_CHARS = 280

# words of three letters or more; in Korean (Hangul syllables) two, as most Korean words, brand
# names among them (삼성), are two syllables long
_WORD = re.compile(r"[^\W\d_][\w'’-]{2,}|[\uac00-\ud7a3]{2}", re.UNICODE)
# Han ideographs and kana. A run of them is a whole clause ("等了三个小时都没人理"), not a word, and
# finding words in it needs a dictionary; pairs of neighbouring characters are the usual stand-in
# (most Chinese words are two characters: 小时, 没人), and a pair that is no word rarely repeats
# across posts often enough to stand out. Korean is written with spaces, so its words are kept.
# The middle dot ・ separates words (雅虎・中国): it ends a run.
_CJK_RUN = re.compile(r"[\u3040-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_STOPWORDS = frozenset("""
a about after again all also am an and any are as at be because been before being but by can
could did do does doing don't for from get got had has have having he her here hers him his how
i i'm if in into is it it's its just me more most my no not now of off on once only or other our
out over own same she should so some such than that that's the their them then there these they
this those through to too under until up very was we were what when where which while who why
will with would you your yours http https www com amp rt via im dont cant its youre thats
""".split()) | frozenset(
    # "won't" says nothing of what an incident is about; written with ' or ’ or none (wont, didnt;
    # but not "ill" and "id" for i'll and i'd: "the food made me ill" is about the incident)
    spelled for word in """aren't can't couldn't didn't doesn't don't hadn't hasn't haven't isn't shouldn't
    wasn't weren't won't wouldn't i've i'll i'd you've you'll we're we've they're they've there's what's
    let's he's she's""".split()
    for spelled in (word, word.replace("'", "’"), "" if word in ("i'll", "i'd") else word.replace("'", "")) if spelled)


def negative_mentions(db, watch: str, model_id: str, since: str, until: str, source: str | None = None):
    """The watch's negative mentions created in [since, until), as dicts. The period's mentions are
    read first, by time (CROSS JOIN fixes SQLite's order: see alerts.postcrisis.negative_share)."""
    sql = """SELECT m.id, m.source, m.author, m.author_reach, m.url, m.created_at, m.title, m.text,
                    s.p_negative
             FROM mentions m
             CROSS JOIN mention_watches w ON w.watch = ? AND w.mention_id = m.id
             CROSS JOIN scores s ON s.mention_id = m.id AND s.model_id = ? AND s.label = 'negative'
             WHERE m.created_at >= ? AND m.created_at < ?"""
    params = [watch, model_id, since, until]
    if source is not None:
        sql += " AND m.source = ?"
        params.append(source)
    columns = ("mention_id", "source", "author", "author_reach", "url", "created_at", "title", "text",
               "p_negative")
    return [dict(zip(columns, row)) for row in db.execute(sql, params).fetchall()]


def baseline_texts(db, watch: str, since: str, until: str, source: str | None = None, limit: int = 5000):
    """Texts of the watch's mentions (any sentiment) in the baseline period before an alert."""
    sql = """SELECT coalesce(m.title, '') || ' ' || m.text FROM mentions m
             CROSS JOIN mention_watches w ON w.watch = ? AND w.mention_id = m.id
             WHERE m.created_at >= ? AND m.created_at < ?"""
    params: list = [watch, since, until]
    if source is not None:
        sql += " AND m.source = ?"
        params.append(source)
    sql += " ORDER BY m.created_at DESC LIMIT ?"
    params.append(limit)
    return [row[0] for row in db.execute(sql, params).fetchall()]


def rank_mentions(mentions: list[dict], since_epoch: float, until_epoch: float) -> list[dict]:
    """By log10(1 + reach) + recency (0 at the window's start, 1 at its end): a tenfold reach weighs
    as much as the whole window, so a late post passes an early one with up to 10x its reach."""
    from storage.timeutil import from_iso

    span = max(until_epoch - since_epoch, 1.0)

    def weight(mention: dict) -> float:
        recency = (from_iso(mention["created_at"]).timestamp() - since_epoch) / span
        return math.log10(1 + (mention["author_reach"] or 0)) + min(max(recency, 0.0), 1.0)

    return sorted(mentions, key=lambda m: (weight(m), m["created_at"]), reverse=True)


def words(text: str) -> set[str]:
    """The terms of a text: its words; for Chinese, which is written without spaces, each pair of
    neighbouring characters (see _CJK_RUN); for Japanese (a text with a kana beside a kana or a
    kanji, see _JAPANESE), its words as a dictionary splits them (see japanese_terms). Full-width letters count as the usual ones
    (ＩＲＩＡＭ is IRIAM)."""
    text = unicodedata.normalize("NFKC", text or "")
    latin = {w.lower().strip("'’-") for w in _WORD.findall(_CJK_RUN.sub(" ", text))} - _STOPWORDS
    if _is_japanese(text):
        return latin | japanese_terms(text[:JAPANESE_CHARS])
    return latin | _character_pairs(text)


def is_japanese(text: str) -> bool:
    """Whether words() splits the text with Janome (slow) rather than into character pairs."""
    return _is_japanese(unicodedata.normalize("NFKC", text or ""))


def _is_japanese(folded: str) -> bool:
    return bool(_JAPANESE.search(folded)) and all(_in_japanese_text(han) for han in set(_HAN.findall(folded)))


@functools.lru_cache(maxsize=None)
def _in_japanese_text(han: str) -> bool:
    for encoding in ("cp932", "shift_jis_2004"):  # Windows' Shift_JIS, and JIS X 0213's (剝, 頰, 鷗)
        try:
            han.encode(encoding)
            return True
        except UnicodeEncodeError:
            pass
    return False


def _character_pairs(text: str) -> set[str]:
    """Pairs of neighbouring characters, less those holding a kana: in a text read in pairs a kana is
    the の of 小米の手机 or of auの通信障害, or a kaomoji's, and pairs with it (の通, 米の) are no word."""
    return {pair for run in _CJK_RUN.findall(text) for pair in _bigrams(run) if not _KANA.search(pair)}


_KANA = re.compile("[\u3041-\u3096\u30a1-\u30fa]")


# Japanese: a kana letter other than の beside another or beside a kanji (東京都で, つながる), with no
# kanji that Japanese text cannot hold (one Shift_JIS cannot write, JIS X 0213's 剝 and 頰 included:
# the simplified 这, 卖, 账 …). So a lone kana in a Chinese post, as in the kaomoji (づ｡◕‿◕｡)づ, does
# not make it Japanese, nor the の Chinese posts write for 的 (小米の手机又死机了), nor a Japanese brand
# in one (ユニクロ退款一直没到账). A Japanese headline whose only kana is の (auの通信障害) is read in
# character pairs then, less those holding the kana (see _character_pairs).
_KANA_LETTER = "\u3041-\u306d\u306f-\u3096\u30a1-\u30fa"
_JAPANESE = re.compile(f"[{_KANA_LETTER}][{_KANA_LETTER}\u30fc\u3400-\u4dbf\u4e00-\u9fff]"
                       f"|[\u30fc\u3400-\u4dbf\u4e00-\u9fff][{_KANA_LETTER}]")  # ー: 遅ーい
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _bigrams(run: str) -> set[str]:
    return {run} if len(run) == 1 else {run[i:i + 2] for i in range(len(run) - 1)}


@functools.lru_cache(maxsize=20_000)  # a service's detect runs read mostly the same baseline posts
def japanese_terms(text: str) -> frozenset[str]:
    """The words of a Japanese text that can tell what it is about, split by Janome's dictionary
    (IPADIC): nouns of two characters or more (障害, アプリ, ログイン), verbs and adjectives in their
    dictionary form (落ちる, 遅い), and a verb with its negation as written (つながらない, できない:
    "cannot connect" is what an outage's posts share, not "connect"). Particles, auxiliaries and
    light verbs (する, なる, いる …) are no terms. words() hands it the first JAPANESE_CHARS
    characters only: a term that stands out is in the first lines of a post, and the cache holds
    no more of each."""
    tokens = _japanese_tokens(text)
    terms = set()
    for position, token in enumerate(tokens):
        kind, detail = token.part_of_speech.split(",")[:2]
        if not _CJK_RUN.search(token.surface):
            continue  # Latin letters and digits are found as words
        if kind == "名詞" and detail not in _NOUNS_NAMING_NOTHING and len(token.surface) > 1:
            terms.add(token.surface)
        elif kind in ("動詞", "形容詞") and detail == "自立":
            negation = _negation_after(tokens[position + 1:position + 3])
            if negation:  # 繋がらず and わからん counted with 繋がらない and わからない
                terms.add(token.surface + negation)
            elif token.base_form not in _LIGHT_VERBS:
                terms.add(token.base_form)
    return frozenset(terms)


def _negation_after(following: list) -> str | None:
    """'ない' after つながら (つながらない, つながらなかった, つながらず), 'ません' after わかり; else None."""
    auxiliaries = []
    for token in following:  # the auxiliaries right after the verb (書いてない: て comes between)
        if not token.part_of_speech.startswith("助動詞"):
            break
        auxiliaries.append(token.base_form)
    if auxiliaries[:1] and auxiliaries[0] in _NEGATIONS:
        return "ない"
    if auxiliaries[:2] == ["ます", "ん"]:
        return "ません"
    return None


JAPANESE_CHARS = 2_000
_NOUNS_NAMING_NOTHING = frozenset({"非自立", "代名詞", "数", "接尾"})  # こと, それ, 三, さん
_NEGATIONS = frozenset({"ない", "ぬ", "ん"})
_LIGHT_VERBS = frozenset("する なる ある いる できる しまう くる いく おる いう 思う みる くれる もらう "
                         "やる れる られる せる させる ない".split())  # ない: 返信ない, 意味ない
_JAPANESE_TOKENIZER = None
_JAPANESE_LOCK = threading.Lock()  # a Janome tokenizer is not to be shared between threads at once


def _japanese_tokens(text: str) -> list:
    global _JAPANESE_TOKENIZER
    with _JAPANESE_LOCK:
        if _JAPANESE_TOKENIZER is None:
            from janome.tokenizer import Tokenizer  # loaded when a Japanese post first needs it

            _JAPANESE_TOKENIZER = Tokenizer()
        return list(_JAPANESE_TOKENIZER.tokenize(text))


def over_represented_terms(alert_texts: list[str], baseline: list[str], ignore: set[str] = frozenset(),
                           limit: int = TOP_TERMS) -> list[dict]:
    """Words in at least 2 (and 10 %) of the alert's mentions, by lift over the baseline share."""
    alert_counts = Counter(w for text in alert_texts for w in words(text) if w not in ignore)
    baseline_counts = Counter(w for text in baseline for w in words(text))
    needed = max(2, math.ceil(0.1 * len(alert_texts)))
    terms = []
    for term, count in alert_counts.items():
        if count < needed:
            continue
        alert_rate = count / len(alert_texts)
        baseline_rate = baseline_counts[term] / len(baseline) if baseline else 0.0
        # add-one smoothing so a word never seen before gets a large but finite lift
        lift = alert_rate / ((baseline_counts[term] + 1) / (len(baseline) + 1))
        if lift > 1.5:
            terms.append({"term": term, "count": count, "baseline_rate": round(baseline_rate, 4),
                          "lift": round(lift, 2)})
    terms.sort(key=lambda t: (t["lift"] * math.log1p(t["count"]), t["count"]), reverse=True)
    return terms[:limit]


STANDING_OUT = "; standing out: "  # where a summary lists its terms (last, see alerts.detect._summary)


def without_erased_words(explanation: dict, erased_texts: list[str]):
    """The explanation less what erased posts gave its terms, and a function that rewrites a
    summary or timeline line's 'standing out' list the same way (`mentionwatch forget`).

    Each term's count loses the erased posts that used it; a term left in fewer than 2 posts goes
    (it may be the erased person's own name or words), and so does any word of the erased posts
    from the lists in older lines."""
    erased_counts = Counter(w for text in erased_texts for w in _terms_of_any_version(text))
    kept = []
    for term in explanation.get("terms") or []:
        # a term stored before words() folded width ('ｉｒｉａｍ') is compared as it folds now
        remaining = term["count"] - erased_counts[_width_folded(term["term"])]
        if remaining >= 2:
            kept.append({**term, "count": remaining})
    dropped = set(erased_counts) - {_width_folded(term["term"]) for term in kept}

    def rewrite(line: str) -> str:
        head, marker, listed = line.partition(STANDING_OUT)
        if not marker:
            return line
        remaining_terms = [term for term in listed.split(", ") if _width_folded(term) not in dropped]
        return head + (marker + ", ".join(remaining_terms) if remaining_terms else "")

    cleaned = {**explanation, "terms": kept} if "terms" in explanation else dict(explanation)
    if cleaned.get("summary"):
        cleaned["summary"] = rewrite(cleaned["summary"])
    return cleaned, rewrite


def _terms_of_any_version(text: str) -> set[str]:
    """The terms words() gives a text now, and those older versions gave it, which explanations
    stored before still hold: in Japanese, pairs of neighbouring characters (山田太郎さん: 田太,
    郎さ), whole katakana words and whole runs of hiragana."""
    folded = unicodedata.normalize("NFKC", text or "")
    runs = _CJK_RUN.findall(folded)
    return words(text) | {pair for run in runs for pair in _bigrams(run)} | set(runs) | {
        piece for run in runs for piece in re.findall(r"[\u30a0-\u30ff]{2,}|[\u3040-\u309f]{3,}", run)}


def _width_folded(term: str) -> str:
    return unicodedata.normalize("NFKC", term)


def query_words(watch) -> set[str]:
    """The watch's own query words: always frequent in its mentions, so never news."""
    query = watch.query
    return set().union(*(words(p) for p in [*query.phrases, *query.any, *query.all])) if watch else set()


ONGOING = "now (ongoing)"


def window_end_text(end: str | None, resolved_at: str | None, now: str) -> str | None:
    """The end of an alert's window as it should read at `now`: the stored end of a window still
    growing is the end of its current bucket (the hour), not a time already seen, so it reads as
    'now (ongoing)'; an alert resolved before that end is over, and its window ends at the
    resolution, then as later (the posts after it are the next alert's)."""
    if end is not None and resolved_at and resolved_at < end:
        return resolved_at
    if end is None or end <= now:
        return end
    return ONGOING


def peak_text(rule: str, observed, expected, score, peak: dict | None) -> str:
    """An alert's numbers in words. The spike rule compares the peak with the usual count; a
    threshold rule's `expected` is the rule's own count, stated with the rule's own window
    (`peak["rule_window"]`, seconds; the peak's span may be shorter, after a resolution)."""
    from storage.timeutil import from_iso

    span = when = ""
    peak = peak or {}
    expected_in = ""
    if peak.get("start") and peak.get("end"):
        seconds = (from_iso(peak["end"]) - from_iso(peak["start"])).total_seconds()
        span = f" in {readable_duration(seconds)}"
        when = f" ({peak['start']} -> {peak['end']})"
        bucket = peak.get("bucket")
        if bucket and readable_duration(seconds, down=True) != readable_duration(bucket):
            # seen before its bucket was over ('58 in 21s', where 2 are expected in 1h)
            span = f" in the first {readable_duration(seconds, down=True)} of {readable_duration(bucket)}"
            expected_in = f" in {readable_duration(bucket)}"
    text = f"{observed or 0:g} negative mentions{span} at peak{when}"
    if rule.startswith("threshold:"):
        window = f" in {readable_duration(peak['rule_window'])}" if peak.get("rule_window") else span
        return f"{text}, rule: at least {expected or 0:g}{window}"
    return f"{text}, {round(expected or 0, 1):g} expected{expected_in} ({score or 0:.1f} spreads above normal)"


def readable_duration(seconds: float, down: bool = False) -> str:
    """'1h' or '30m' for a whole unit, as a watchlist writes it; else in minutes: '51 min', '2 h 5 min'
    (`down`: whole minutes only, so that 59 min 40 s of an hour is not 'an hour')."""
    from mentionwatch.config import duration_text

    if seconds % 60 == 0 or seconds < 60:
        return duration_text(seconds)
    whole_minutes = math.floor(seconds / 60) if down else round(seconds / 60)
    if whole_minutes % 60 == 0:
        return duration_text(whole_minutes * 60)
    hours, minutes = divmod(whole_minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def build_explanation(ranked: list[dict], terms: list[dict], summary: str) -> dict:
    sources = Counter(m["source"] for m in ranked)
    top = [top_entry(mention) for mention in ranked[:TOP_MENTIONS]]
    return {"summary": summary, "top_mentions": top, "terms": terms, "sources": dict(sources.most_common())}


def top_entry(mention: dict) -> dict:
    """One of the explanation's top mentions, from a row with its columns (and `p_negative`); a row
    read without its title (an older query) gives a top mention without one."""
    return {
        "mention_id": mention["mention_id"], "source": mention["source"], "author": mention["author"],
        "author_reach": mention["author_reach"], "url": mention["url"],
        "created_at": mention["created_at"],
        "title": _cut(mention.get("title")) or None,
        "text": _cut(mention["text"]),
        "p_negative": round(float(mention["p_negative"] or 0.0), 4),
    }


def _cut(text: str | None) -> str:
    text = text or ""
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def entry_text(entry: dict) -> str:
    """What a top mention (or any post dict with `title` and `text`) says, as a reader expects it:
    its title, then its text, joined as the model read them (sentiment.textprep.mention_text). One
    stored without a "title" (before titles were kept) gives its text."""
    from sentiment.textprep import mention_text

    title, text = entry.get("title"), entry.get("text")
    return mention_text(None if text is None else str(text), None if title is None else str(title))
