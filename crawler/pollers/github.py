"""GitHub issues and pull requests through the issue search API (`/search/issues`).

Works without a token (10 searches a minute); with MENTIONWATCH_GITHUB_TOKEN set, 30 a minute.
The token is sent as a header only and never logged. Later polls ask only for issues created after
the newest stored one (`created:>...` in the query).
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.pollers.base import Page, Poller, dig, parse_items, text_of
from storage import Mention

TOKEN_ENV = "MENTIONWATCH_GITHUB_TOKEN"
PAGE_SIZE = 100


class GitHubPoller(Poller):
    source = "github"
    description = "GitHub issues and pull requests (issue search API)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "qualifiers": "extra GitHub search qualifiers, e.g. 'repo:org/name is:issue'",
        "max_pages": "pages of 100 read on the first poll (default 3)",
    }
    default_base_url = "https://api.github.com"
    default_max_pages = 3
    min_interval = 6.0  # 10 searches a minute without a token
    credentials = {TOKEN_ENV: "a personal access token"}
    extra_headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

    @classmethod
    def searches_remotely(cls, options: dict) -> bool:
        return True

    @staticmethod
    def parse(payload: Any, problems: list[str] | None = None) -> list[Mention]:
        """An issue search response ({items: [issue]}) -> mentions."""
        return parse_items(dig(payload, "items"), _mention_from_issue, "github", problems)

    def pages(self) -> Iterator[Page]:
        headers = self.bearer_headers()
        since = self.cursors.get("created")
        query = " ".join(part for part in (self.search_terms(), self.option("qualifiers", ""),
                                           f"created:>{since}" if since else "") if part)
        newest = None
        for number in range(1, self.max_pages + 1):
            params = {"q": query, "sort": "created", "order": "desc", "per_page": PAGE_SIZE,
                      "page": number}
            payload = self.fetcher.get_json(f"{self.base_url}/search/issues", params=params,
                                            headers=headers)
            page, hit_known = self.make_page(payload, dig(payload, "items"))
            if number == 1:
                newest = max((m.created_at for m in page.parsed), default=None)  # stored ones too
            total = dig(payload, "total_count")
            last = (hit_known or page.fetched < PAGE_SIZE or number == self.max_pages
                    or (isinstance(total, int) and number * PAGE_SIZE >= total))
            if last and newest:
                page.cursors = {"created": newest}
            yield page
            if last:
                break


def _mention_from_issue(issue: dict) -> Mention:
    user = issue.get("user") or {}
    return Mention(
        source="github",
        external_id=str(issue["id"]),
        text=text_of(issue.get("body")),
        title=text_of(issue.get("title")) or None,
        created_at=issue["created_at"],
        url=text_of(issue.get("html_url")) or None,
        author=text_of(user.get("login")) or None if isinstance(user, dict) else None,
    )
