"""The one item pipeline: check each scraped item, match it against the watch, store it in batches.

A malformed item (no text, a date that cannot be read, ...) is logged with the page it came from and
counted as rejected; the crawl goes on. Items that do not match the watch's query (or only its
languages, with `options.match_query: false`) are counted as filtered. The rest go to
`storage.save_mentions` every `MENTIONWATCH_BATCH_SIZE` items and when the spider closes, so a crash
loses at most one batch. The counts land in the crawl stats under `mentionwatch/...`, where the
runner reads them.

The spider is told what became of its items (the `note_...` methods of
crawler.spiders.common.MentionSpiderMixin): stored, dropped (filtered or rejected), or not stored
because the database failed. A batch the database refuses is an error line of the run, never a
silent loss: the spider then leaves its pages for the next crawl to read again.
"""
from __future__ import annotations

import logging
import re

from scrapy.exceptions import DropItem

from crawler.dates import item_created_at
from crawler.matching import wanted
from mentionwatch.logging_setup import redact
from storage import Mention, open_db, save_mentions

logger = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 100
_NUMBER = re.compile(r"[-+]?\d+(?:[.,]\d+)?")


def item_to_mention(item, watch_name: str, warnings: list[str] | None = None) -> Mention:
    """A checked `Mention` from a scraped item; ValueError names the field that is wrong.

    Only the id, the text and the date make an item unusable: an optional field that cannot be read
    (a rating with no number in it) is left empty, with a line added to `warnings` when given.
    """
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text: missing")
    mention = Mention(
        source=item.get("source"),
        external_id=_without_secrets(item.get("external_id")),
        earlier_id=_without_secrets(item.get("earlier_id")),
        text=text.strip(),
        created_at=item_created_at(item.get("created_at"), item.get("date_format")),
        url=_without_secrets(item.get("url")),
        author=item.get("author"),
        title=item.get("title"),
        lang=item.get("lang"),
        rating=_optional(_rating, "rating", warnings, item.get("rating"), item.get("rating_out_of")),
        watches=(watch_name,),
    )
    return mention.normalized()


def _without_secrets(value):
    """A page's address may carry the site's key (`?key=${SITE_KEY}`): never stored. The paths of
    secret URLs are left alone here: another site's address may share one (`/feeds/2024-rss`)."""
    return redact(value, paths=False) if isinstance(value, str) else value


def _optional(read, field: str, warnings: list[str] | None, *raw):
    """An optional field's value, or None (with a warning) when it cannot be read."""
    try:
        return read(*raw)
    except ValueError as exc:
        if warnings is not None:
            warnings.append(f"{field}: {exc}; kept without it")
        return None


# star glyphs as sites draw a rating: filled, half and empty ones
_FILLED_STARS = set("\u2605\u2b50\u272a\u272b\u272c\u272d\u272e\u272f\U0001f31f")  # ★ ⭐ ✪ … ✯ 🌟
_HALF_STARS = set("\u2be8\u2be9\u2bea\u2beb\u2bd2")  # ⯨ ⯩ ⯪ ⯫ ⯒
_EMPTY_STARS = set("\u2606\u2729\u2730")  # ☆ ✩ ✰
_STAR_GLYPHS = _FILLED_STARS | _HALF_STARS | _EMPTY_STARS


def _rating(raw, out_of: float | None = None) -> float | None:
    """'4.5', '4,5 / 5', 'Rated 4 out of 5' -> the first number; '★★☆☆☆' (only star glyphs) -> the
    filled stars (a half star counts 0.5); as stars out of 5 when the site rates out of something
    else ('width: 80%' out of 100 -> 4.0). None when there is no rating; ValueError when there is
    text with neither a number nor only stars in it."""
    if raw is None:
        return None
    if isinstance(raw, (int, float)):
        number = float(raw)
    else:
        match = _NUMBER.search(str(raw))
        if match is not None:
            number = float(match.group().replace(",", "."))
        else:
            number = _stars(str(raw))
            if number is None:
                raise ValueError(f"no number in {str(raw)[:30]!r}")
    return round(number * 5 / out_of, 2) if out_of else number


def _stars(text: str) -> float | None:
    """The filled stars of a text made only of star glyphs (and spaces), else None."""
    glyphs = [char for char in text if not char.isspace() and char != "\ufe0f"]  # ⭐️'s selector
    if not glyphs or any(char not in _STAR_GLYPHS for char in glyphs):
        return None
    return sum(1.0 if char in _FILLED_STARS else 0.5 if char in _HALF_STARS else 0.0
               for char in glyphs)


class StoreMentionsPipeline:
    """Validate -> match -> store in batches; counts go to the crawl stats."""

    def __init__(self, crawler):
        self.crawler = crawler
        self.stats = crawler.stats
        self.batch_size = crawler.settings.getint("MENTIONWATCH_BATCH_SIZE", DEFAULT_BATCH_SIZE)
        self.batch: list[Mention] = []
        self.batch_items: list = []  # the scraped items of the pending batch, in the same order
        self.stored_pages: set[str] = set()  # pages with mentions committed to the database
        self.db = None

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler)

    def open_spider(self) -> None:
        spider = self.crawler.spider
        self.watch = spider.watch
        self.match_query = spider.options.match_query
        self.db = open_db(spider.db_path)
        for key in ("fetched", "new", "duplicates", "rejected", "filtered", "pages_stored"):
            self.stats.set_value(f"mentionwatch/{key}", 0)

    def process_item(self, item):
        self.stats.inc_value("mentionwatch/fetched")
        warnings: list[str] = []
        try:
            mention = item_to_mention(item, self.watch.name, warnings)
        except (ValueError, TypeError) as exc:
            self.stats.inc_value("mentionwatch/rejected")
            self._tell_spider("note_item_dropped", item, "rejected")
            raise DropItem(f"malformed item on {item.get('page_url')}: {exc}",
                           log_level="WARNING") from None
        for warning in warnings:
            logger.warning("item %s on %s: %s", mention.external_id, item.get("page_url"), warning)
        if not wanted(self.watch.query, mention.text, lang=mention.lang, title=mention.own_title,
                      match_terms=self.match_query):
            self.stats.inc_value("mentionwatch/filtered")
            self._tell_spider("note_item_dropped", item, "filtered")
            raise DropItem(f"{mention.url}: does not match watch {self.watch.name!r}",
                           log_level="DEBUG")
        self.batch.append(mention)
        self.batch_items.append(item)
        if len(self.batch) >= self.batch_size:
            self.flush()
        return item

    def flush(self) -> None:
        """Store the pending batch (one transaction); duplicates of stored items are counted. A
        batch the database refuses goes to the spider's `note_storage_failed` (an error line)."""
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        items, self.batch_items = self.batch_items, []
        try:
            result = save_mentions(self.db, batch)
        except Exception as exc:  # whatever the database raised: reported, not dropped silently
            if not self._tell_spider("note_storage_failed", items, exc):
                logger.error("could not store %d mention(s): %s: %s", len(items),
                             type(exc).__name__, exc)
            return
        # a page counts as stored once its mentions are committed, new or stored by an earlier
        # crawl: the run's status ('partial' or 'failed' after an error) depends on it. The spider
        # adds the pages it did not fetch again because they are stored (sitemap `skip_known`).
        pages = {item.get("page_url") or mention.url for item, mention in zip(items, batch)}
        self.stored_pages |= pages
        if not self._tell_spider("note_pages_in_database", pages):
            self.stats.set_value("mentionwatch/pages_stored", len(self.stored_pages))
        self._tell_spider("note_items_stored", items)
        self.stats.inc_value("mentionwatch/new", result.inserted)
        self.stats.inc_value("mentionwatch/duplicates", result.present + result.forgotten)
        self.stats.inc_value("mentionwatch/rejected", result.rejected)
        self.stats.inc_value("mentionwatch/batches")

    def _tell_spider(self, method: str, *args) -> bool:
        """Call the spider's `method` if it has one (both mentionwatch spiders do); False if not."""
        note = getattr(self.crawler.spider, method, None)
        if note is None:
            return False
        note(*args)
        return True

    def close_spider(self) -> None:
        try:
            self.flush()
        finally:
            if self.db is not None:
                self.db.close()
                self.db = None
