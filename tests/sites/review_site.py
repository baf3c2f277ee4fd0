"""A local review site and news site for the spider tests, served by http.server in a thread.

The content is defined as data (REVIEWS, ARTICLES) and rendered to HTML, so tests compute what
should be stored from the same data instead of hard-coding counts. The server records every path
requested, so tests can prove what was (not) fetched.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape

from mentionwatch.local_servers import LocalServer

# One review per dict. `page` is the listing page it sits on. Keys left out are left out of the HTML.
REVIEWS = [
    {"page": 1, "id": "r1", "author": "Dana", "date": "2024-03-01T10:00:00Z", "stars": "1",
     "text": "Acme support ignored my ticket for two weeks."},
    {"page": 1, "id": "r2", "author": "Lee", "date": "2024-03-01T11:30:00+01:00", "stars": "4.5",
     "text": "Acme delivery was quick and the parcel intact."},
    {"page": 1, "id": "r3", "author": "Sam", "date": "2024-03-02T09:00:00Z", "stars": "2",
     "text": "", "malformed": "text"},  # no text: rejected
    {"page": 1, "id": "r4", "author": "Kim", "date": "sometime last week", "stars": "3",
     "text": "Acme app crashes at login.", "malformed": "date"},  # unreadable date: rejected
    {"page": 2, "id": None, "author": "Ana", "date": "2024-03-03T08:00:00Z", "stars": "5",
     "text": "Best Acme purchase I made this year.", "permalink": "/acme/review/ana-2024"},
    {"page": 2, "id": None, "author": "Bo", "date": "2024-03-03T12:00:00Z", "stars": "1",
     "text": "Refund from Acme still not here."},  # no id, no permalink: hashed id
    {"page": 2, "id": "r7", "author": "Cy", "date": "2024-03-04T12:00:00Z", "stars": "3",
     "text": "The competitor's blender is fine.", "off_topic": True},  # filtered by the query
    {"page": 3, "id": "r8", "author": "Dee", "date": "2024-03-05T12:00:00Z", "stars": "2",
     "text": "Acme  charged me\n twice.", "title": "Double charge"},
    {"page": 3, "id": "r2", "author": "Lee", "date": "2024-03-01T11:30:00+01:00", "stars": "4.5",
     "text": "Acme delivery was quick and the parcel intact."},  # repeated across pages
]
LAST_PAGE = 3  # its "next" link points at a page that always answers 500
FLAKY_PAGE = 2  # answers 500 once, then works (Scrapy retries it)

# The same shop after a redesign: no `div.review` any more, so the usual selectors match nothing.
REDESIGNED_PAGE = "/acme/redesigned.html"
# A short list: page 1 holds one review and links to page 2, which says there are no more.
SHORT_LIST = ("/shop/reviews-1.html", "/shop/reviews-2.html")
SHORT_LIST_REVIEW = {"page": 1, "id": "s1", "author": "Eve", "date": "2024-03-06T12:00:00Z",
                     "stars": "4", "text": "Acme kettle works well."}

# A forum listed in its own sitemap (no lastmod): thread pages whose posts carry no date, and one
# thread page after a redesign, where the posts are no longer `div.post`.
FORUM_SITEMAP = "/forum/sitemap.xml"
FORUM_THREADS = {  # path: [(author, text), ...]
    "/forum/t/acme-kettle.html": [("Eve", "My Acme kettle leaks."),
                                  ("Finn", "Acme replaced mine for free.")],
}
FORUM_REDESIGNED = "/forum/t/acme-redesigned.html"

ARTICLES = {
    # path: (title, date meta or None, lastmod in the sitemap, body)
    "/news/acme-outage.html": ("Acme outage hits thousands", "2024-04-02T08:00:00Z", "2024-04-02",
                               "Customers of Acme could not log in for six hours."),
    "/news/acme-recall.html": ("Acme recalls kettles", None, "2024-04-05",
                               "Acme announced a recall of its kettles after complaints."),
    "/news/weather.html": ("Sunny weekend ahead", "2024-04-03T08:00:00Z", "2024-04-03",
                           "No brand news here, only sunshine."),  # filtered by the query
    "/private/acme-leak.html": ("Acme leak", "2024-04-04T08:00:00Z", "2024-04-04",
                                "Acme internal memo."),  # disallowed by robots.txt
    "/blog/acme-review.html": ("Acme review", "2024-04-06T08:00:00Z", None,
                               "A long Acme review on the blog."),  # listed in the RSS feed only
}


def good_reviews(keep_off_topic: bool = False) -> list[dict]:
    """The reviews a correct crawl stores: well-formed, on topic (unless kept), each once."""
    seen, good = set(), []
    for review in REVIEWS:
        key = (review["author"], review["text"])
        off_topic = review.get("off_topic") and not keep_off_topic
        if review.get("malformed") or off_topic or key in seen:
            continue
        seen.add(key)
        good.append(review)
    return good


def _review_html(review: dict) -> str:
    parts = [f'<div class="review"{_attr("data-id", review.get("id"))}>']
    if review.get("title"):
        parts.append(f"<h3>{escape(review['title'])}</h3>")
    parts.append(f'<span class="author">{escape(review["author"])}</span>')
    parts.append(f'<time datetime="{escape(review["date"])}">a while ago</time>')
    parts.append(f'<span class="stars" data-rating="{review["stars"]}">*</span>')
    if review.get("permalink"):
        parts.append(f'<a class="permalink" href="{review["permalink"]}">link</a>')
    body = "<br>".join(escape(line) for line in review["text"].split("\n"))
    parts.append(f'<p class="body">{body}</p>' if review["text"] else "")
    parts.append("</div>")
    return "\n".join(parts)


def _attr(name: str, value) -> str:
    return f' {name}="{escape(value)}"' if value else ""


def listing_page(number: int) -> str:
    reviews = "\n".join(_review_html(r) for r in REVIEWS if r["page"] == number)
    next_link = f'<a class="next" href="/acme/reviews-{number + 1}.html">next</a>'
    return (f'<html lang="en"><head><title>Acme reviews, page {number}</title></head><body>'
            f'<a href="/private/acme-internal.html">staff</a>{reviews}{next_link}</body></html>')


def redesigned_page() -> str:
    return ('<html lang="en"><body><article class="rv"><p>Acme support ignored my ticket.</p>'
            '</article></body></html>')


def short_list_page(path: str) -> str:
    if path == SHORT_LIST[0]:
        return (f'<html lang="en"><body>{_review_html(SHORT_LIST_REVIEW)}'
                f'<a class="next" href="{SHORT_LIST[1]}">next</a></body></html>')
    return '<html lang="en"><body><p>No more reviews.</p></body></html>'


def article_page(path: str) -> str:
    title, date, _, body = ARTICLES[path]
    date_meta = f'<meta property="article:published_time" content="{date}">' if date else ""
    return (f'<html lang="en"><head><title>{escape(title)} | News</title>'
            f'<meta property="og:title" content="{escape(title)}">{date_meta}'
            f'<meta name="author" content="Newsdesk"></head>'
            f'<body><nav><p>Menu</p></nav><article><h1>{escape(title)}</h1>'
            f'<p>{escape(body)}</p></article></body></html>')


def forum_page(path: str) -> str:
    if path == FORUM_REDESIGNED:
        return '<html lang="en"><body><article class="msg"><p>Acme again.</p></article></body></html>'
    posts = "".join(f'<div class="post"><span class="author">{escape(author)}</span>'
                    f'<p>{escape(text)}</p></div>' for author, text in FORUM_THREADS[path])
    return f'<html lang="en"><body>{posts}</body></html>'


def forum_sitemap(base: str) -> str:
    urls = "".join(f"<url><loc>{base}{path}</loc></url>" for path in (*FORUM_THREADS, FORUM_REDESIGNED))
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')


def sitemap_index(base: str) -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f'<sitemap><loc>{base}/sitemap-news.xml</loc></sitemap></sitemapindex>')


def news_sitemap(base: str) -> str:
    urls = "".join(
        f"<url><loc>{base}{path}</loc>" + (f"<lastmod>{lastmod}</lastmod>" if lastmod else "") + "</url>"
        for path, (_, _, lastmod, _) in ARTICLES.items() if lastmod)
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>')


def blog_feed(base: str) -> str:
    return ('<?xml version="1.0"?>\n<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>\n'
            '<rss version="2.0"><channel><title>Blog</title>'
            f'<item><title>Acme review</title><link>{base}/blog/acme-review.html</link>'
            '<pubDate>Sat, 06 Apr 2024 08:00:00 +0000</pubDate></item></channel></rss>')


ROBOTS = "User-agent: *\nDisallow: /private/\n"


@dataclass
class SiteServer:
    """The running server: its base URL and every path requested so far."""

    base: str = ""
    requests: list[str] = field(default_factory=list)
    user_agents: set[str] = field(default_factory=set)
    failures: Counter = field(default_factory=Counter)

    def count(self, path: str) -> int:
        return sum(1 for requested in self.requests if requested == path)

    def requested_under(self, prefix: str) -> list[str]:
        return [path for path in self.requests if path.startswith(prefix)]


def _route(site: SiteServer, path: str) -> tuple[int, str, str]:
    """(status, content type, body) for a path."""
    html, xml = "text/html; charset=utf-8", "application/xml"
    if path == "/robots.txt":
        return 200, "text/plain", ROBOTS
    if path.startswith("/acme/reviews-"):
        number = int(path.removeprefix("/acme/reviews-").removesuffix(".html"))
        if number > LAST_PAGE:
            return 500, html, "<h1>Internal Server Error</h1>"
        if number == FLAKY_PAGE and site.failures[path] == 0:
            site.failures[path] += 1
            return 500, html, "<h1>try again</h1>"
        return 200, html, listing_page(number)
    if path == REDESIGNED_PAGE:
        return 200, html, redesigned_page()
    if path in SHORT_LIST:
        return 200, html, short_list_page(path)
    if path in ARTICLES:
        return 200, html, article_page(path)
    if path in FORUM_THREADS or path == FORUM_REDESIGNED:
        return 200, html, forum_page(path)
    if path == FORUM_SITEMAP:
        return 200, xml, forum_sitemap(site.base)
    if path == "/sitemap.xml":
        return 200, xml, sitemap_index(site.base)
    if path == "/sitemap-news.xml":
        return 200, xml, news_sitemap(site.base)
    if path == "/blog/feed.rss":
        return 200, "application/rss+xml", blog_feed(site.base)
    return 404, html, "<h1>Not found</h1>"


@contextmanager
def serve_site() -> Iterator[SiteServer]:
    """Serve the site on 127.0.0.1 while the block runs."""
    site = SiteServer()

    class Site(LocalServer):
        def handle_get(self, request):
            with self.lock:
                site.requests.append(request.path)
                site.user_agents.add(request.headers.get("User-Agent", ""))
                status, content_type, body = _route(site, request.path)
            self.reply(request, status, body.encode("utf-8"), content_type)

    with Site() as server:
        site.base = server.url
        yield site
