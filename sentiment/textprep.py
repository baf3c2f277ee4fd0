"""Turning a mention into the text a model reads, the same way in training and in scoring.

User names and links carry no sentiment and differ between corpora, so they are replaced by the
placeholders TweetEval uses (`@user`, `http`). Control characters, undecodable junk and lone
surrogates (which tokenizers reject) are dropped, and very long texts are cut to a few thousand
characters before tokenization (the model reads at most `max_length` tokens anyway; tokenizing 100k
characters would only waste time).

The built-in English encoder has no emoji in its vocabulary (each one becomes "unknown"), and its
training texts have none. A mention made only of emoji would read as a row of unknowns, the same
for "😡😡😡" as for "😍", so for such mentions `emoji_as_words` spells them out by their Unicode
names ("pouting face"), unless the Emoji Sentiment Ranking knows them all (sentiment.emoji_lexicon
scores those). Mentions with words of their own are left as they are: spelling out their
emoji too made the model worse on the emoji-bearing airline tweets (README, Sentiment). Hub
models, which often know emoji, always get them as they are.
"""
from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 2000  # far more than 128 tokens need, small enough to tokenize fast
CJK_SHARE_FOR_CHINESE = 0.3

_USER = re.compile(r"@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")
_JUNK = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd\ud800-\udfff]+")  # controls, junk, lone surrogates
_SPACES = re.compile(r"\s+")
# HTML left in a post by a page or an export ('<div class="content">太差了</div>'): its tag names are
# no words of the post, and would make a short Chinese post read as English. Only HTML's own element
# names, and attributes only as name=value or HTML's own valueless ones (nowrap), so '<3', '<sarcasm>'
# and '<I hate this airline>' stay;
# inline ones go without a space ('我很喜欢<b>小米</b>').
_INLINE_TAGS = ("a abbr b bdi bdo big cite code data del dfn em font i ins kbd mark nobr q s samp small span strike "
                "strong sub sup time tt u var wbr")
_BLOCK_TAGS = ("address article aside audio blockquote body br button canvas caption center col colgroup dd details "
               "dialog div dl dt embed fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 head header hr html "
               "iframe img input label legend li link main menu meta meter nav object ol optgroup option output p "
               "param picture pre progress section select source summary table tbody td textarea tfoot th thead "
               "tr track ul video")
# elements whose content is never shown as text: code, style sheets, notices for old browsers
_HIDDEN_ELEMENTS = re.compile(r"<(script|style|noscript|template)(?:\s[^<>]*)?>.*?</\1\s*>",
                              re.IGNORECASE | re.DOTALL)
# HTML's attributes that stand without a value ('<td nowrap>'); any other needs one, so that the
# words of '<I hate this airline>' are not read as attributes
_BOOLEAN_ATTRIBUTES = ("allowfullscreen|async|autofocus|autoplay|checked|controls|default|defer|disabled|download"
                       "|hidden|inert|itemscope|loop|multiple|muted|nomodule|novalidate|nowrap|open|playsinline"
                       "|readonly|required|reversed|selected")
_ATTRIBUTES = (r"""(?:\s+(?:[\w:-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+)|(?:"""
               + _BOOLEAN_ATTRIBUTES + r""")(?![\w:-])))*\s*/?>""")


def _tags(names: str) -> re.Pattern:
    return re.compile(r"<(?:" + "|".join(names.split()) + ")" + _ATTRIBUTES + r"|</(?:" + "|".join(names.split())
                      + r")\s*>", re.IGNORECASE)


_INLINE_MARKUP = _tags(_INLINE_TAGS)
_BLOCK_MARKUP = re.compile(r"<!--.*?-->|" + _tags(_BLOCK_TAGS).pattern, re.IGNORECASE | re.DOTALL)
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LETTER = re.compile(r"[^\W\d_]")
# pictographs, dingbats and other emoji symbols (not arrows, maths or box drawing); joiners, variation selectors, skin tones and flag
# letters are matched too so they can be dropped (they carry no sentiment and have long names)
_EMOJI = re.compile("[\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u3297\u3299\U0001F000-\U0001FAFF\u200d\ufe0e\ufe0f\U000E0020-\U000E007F]+")
_PLACEHOLDERS = re.compile(r"@user|\bhttp\b")
# a number (any script's digits, a keycap) or stars: a rating ("1⭐", "0 ❤️", "★☆☆☆☆"), whose sense
# the emoji alone do not carry
_RATING = re.compile("[\\d\u20e3\u2605\u2606\U0001F31F]")
_FLAG_LETTERS = re.compile("[\U0001F1E6-\U0001F1FF\U0001F3F4\U000E0020-\U000E007F]")  # 🇬🇧, 🏴 and its tags
SILENT_EMOJI_PARTS = re.compile("[\u200d\ufe0e\ufe0f\U0001F3FB-\U0001F3FF\U0001F1E6-\U0001F1FF\U000E0020-\U000E007F]")


def mention_text(text: str | None, title: str | None = None) -> str:
    """What is scored for a mention: its title and its text, when it has a title."""
    text = text or ""
    if title and title.strip() and title.strip() not in text:
        return f"{title.strip()}. {text}" if text else title.strip()
    return text


def clean(text: str | None) -> str:
    """Placeholders for users and links, no control characters or HTML tags, single spaces, bounded length."""
    if not text:
        return ""
    text = text[: MAX_CHARS * 2]
    text = _JUNK.sub(" ", text)
    text = _INLINE_MARKUP.sub("", _BLOCK_MARKUP.sub(" ", _HIDDEN_ELEMENTS.sub(" ", text)))
    text = _USER.sub("@user", text)
    text = _LINK.sub("http", text)
    return _SPACES.sub(" ", text).strip()[:MAX_CHARS]


def is_chinese(text: str) -> bool:
    """True when at least 30% of the letters are Chinese characters (user names, links and their
    placeholders left out: "@小王 垃圾！ https://t.cn/abc" is Chinese). Words written like names
    (a capital first, or a digit: 'Tesla Model Y', 'iPhone 15', 'M3') are left out too, unless the
    other words read as English (two different words such as the, in, is, I; one, like the 'IT' of
    '我们 IT 部门', is common in Chinese posts), as a brand says nothing of the language around it:
    "Tesla Model Y 太垃圾了" is Chinese, "Apple Opens Its First Store In 上海" English."""
    words = _PLACEHOLDERS.sub(" ", _LINK.sub(" ", _USER.sub(" ", text[:MAX_CHARS])))
    cjk = len(_CJK.findall(words))
    if not cjk:
        return False
    others = _OTHER_WORD.findall(_CJK.sub(" ", words))
    if len({word.lower() for word in others} & _ENGLISH_GLUE) < 2:  # two or more: English, names and all
        others = [word for word in others if word == "I" or not _LOOKS_LIKE_A_NAME.search(word)]
    other = sum(len(_LETTER.findall(word)) for word in others)
    return cjk / (cjk + other) >= CJK_SHARE_FOR_CHINESE


_OTHER_WORD = re.compile(r"[^\W_]+")  # a run of letters and digits between spaces and punctuation
_LOOKS_LIKE_A_NAME = re.compile(r"^[^\W\d_](?<=[A-Z])|\d|[a-z][A-Z]")  # Tesla, M3, iPhone
# words an English sentence has and a brand name does not: "Apple Opens Its First Store In 上海" and
# "I AM IN 北京" are English however they are capitalised
_ENGLISH_GLUE = frozenset("""a an the i am is are was were be been it its in on at to of for from by
with and or but not no my me we you he she they this that so""".split())


def emoji_as_words(text: str) -> str:
    """A cleaned mention with emoji and no words of its own, its emoji spelled out by their Unicode
    names ("😡😡" -> "pouting face pouting face"); any other text unchanged."""
    if not _EMOJI.search(text) or _has_words(text):
        return text
    return _SPACES.sub(" ", _EMOJI.sub(_spelled_out, text)).strip()


def emoji_of_wordless(text: str) -> str | None:
    """The emoji of a cleaned mention with emoji and no words of its own ("@user 🇬🇧❤️❤️!" ->
    "❤️❤️", flags left out: they carry no sentiment), else None; None too for flags alone, and for
    a mention with a number or stars, most likely a rating ("1⭐", "0 ❤️", "★☆☆☆☆", a keycap
    "1️⃣"), whose sense the emoji alone do not carry (so "❤️ 2026" goes to the model too)."""
    if not _EMOJI.search(text) or _has_words(text) or _RATING.search(text):
        return None
    emoji = _FLAG_LETTERS.sub("", "".join(_EMOJI.findall(text)))
    return emoji if SILENT_EMOJI_PARTS.sub("", emoji) else None


def _has_words(text: str) -> bool:
    """Letters outside emoji and the @user / http placeholders (see `clean`)."""
    return bool(_LETTER.search(_PLACEHOLDERS.sub(" ", _EMOJI.sub(" ", text))))


def _spelled_out(run: re.Match) -> str:
    names = [unicodedata.name(ch, "").lower() for ch in SILENT_EMOJI_PARTS.sub("", run.group())]
    return " " + " ".join(name for name in names if name) + " "
