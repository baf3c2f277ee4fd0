"""GitHub issues and pull requests through the issue search API (`/search/issues`).

Works without a token (10 searches a minute); with MENTIONWATCH_GITHUB_TOKEN set, 30 a minute.
The token is sent as a header only and never logged, and only to api.github.com: a `base_url` of
GitHub Enterprise or a proxy gets a token only from the variable `token_env` names (see
Poller.token_hosts). Later polls ask only for issues created after
the newest one read (`created:>...` in the query); more new ones than `max_pages` pages are read by
the next polls (`created:A..B` windows, see crawler.cursors.newest_first_pages). An answer with
`incomplete_results: true` (the search timed out and left matches out) is read for what it shows,
and the `created:A..B` window it covered is kept to be asked for again by the next polls.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from crawler.cursors import (Batch, Window, created_times, iso_cursor, iso_time, newest_first_pages,
                             required_id)
from crawler.pollers.base import Page, Poller, dig, optional_text, parse_items, text_of
from crawler.pollers.markdown import markdown_to_text
from storage import Mention

TOKEN_ENV = "MENTIONWATCH_GITHUB_TOKEN"
PAGE_SIZE = 100
MAX_RESULTS = 1_000  # the search API serves the first 1,000 results of a query, no more


class GitHubPoller(Poller):
    source = "github"
    description = "GitHub issues and pull requests (issue search API)"
    options_doc = {
        "query": "remote search text (default: built from the watch's query)",
        "qualifiers": "extra GitHub search qualifiers, e.g. 'repo:org/name is:issue'",
        "token_env": f"environment variable holding a token (default {TOKEN_ENV}, which is sent to "
                     "api.github.com only: name it here to send it to another base_url, e.g. GitHub "
                     "Enterprise)",
        "max_pages": "pages of 100 per poll (default 3): how far back the first poll reads; later polls "
                     "read up to this many of new posts, then of any backlog",
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
        self._headers = self.bearer_headers()
        return newest_first_pages(self, self._fetch, name="created", decode=iso_cursor, encode=iso_time)

    def _fetch(self, window: Window, token: str | None) -> Batch:
        """One page of the issues created in `window`, newest first (a `created:` qualifier)."""
        number = int(token or 1)
        if window.until is not None:  # a range counts both ends in
            created = f"created:{iso_time((window.after or 0) + 1)}..{iso_time(window.until)}"
        else:
            created = f"created:>{iso_time(window.after)}" if window.after is not None else ""
        query = " ".join(part for part in (self.search_terms(), self.option("qualifiers", ""), created)
                         if part)
        params = {"q": query, "sort": "created", "order": "desc", "per_page": PAGE_SIZE, "page": number}
        payload = self.fetcher.get_json(f"{self.base_url}/search/issues", params=params,
                                        headers=self._headers)
        # stored items are skipped, not stopped at: newest_first_pages decides where to stop
        page, _ = self.make_page(payload, dig(payload, "items"), stop_at_known=False)
        total = dig(payload, "total_count")
        total = total if isinstance(total, int) and not isinstance(total, bool) else None
        more = page.fetched >= PAGE_SIZE and not (total is not None and number * PAGE_SIZE >= total)
        capped = more and number * PAGE_SIZE >= MAX_RESULTS  # page 11 would be an error (HTTP 422)
        # the search timed out and left matches out: not a complete read of the window
        incomplete = dig(payload, "incomplete_results") is True
        return Batch(page, created_times(page.parsed), str(number + 1) if more and not capped else None,
                     total, capped, incomplete)


def _mention_from_issue(issue: dict) -> Mention:
    return Mention(
        source="github",
        external_id=required_id(issue.get("id"), "id"),
        text=markdown_to_text(text_of(issue.get("body")), github=True),
        title=optional_text(issue.get("title"), "title"),
        created_at=issue["created_at"],
        url=optional_text(issue.get("html_url"), "url"),
        author=optional_text(dig(issue, "user", "login"), "author"),
    )
