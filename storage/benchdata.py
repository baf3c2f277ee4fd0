"""Synthetic mentions for benchmarks: deterministic, realistic lengths, a few repeats and watches."""
from __future__ import annotations

import datetime as dt
import random

from storage.mentions import Mention
from storage.timeutil import to_iso

_WORDS = ("service flight delayed refund great terrible support app crash love hate customer "
          "waiting hours price update broken thanks awful amazing order delivery late rude staff "
          "helpful checkout payment failed login bug fixed cancel").split()


def synthetic_mentions(count: int, seed: int = 7, *, watches=("acme", "globex"),
                       start: dt.datetime | None = None) -> list[Mention]:
    rng = random.Random(seed)
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    mentions = []
    for index in range(count):
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 40)))
        watch = watches[index % len(watches)]
        mentions.append(Mention(
            source="bench",
            external_id=f"b{index}",
            text=f"@{watch} {words}",
            created_at=to_iso(start + dt.timedelta(seconds=index * 7)),
            author=f"user{rng.randint(1, 50_000)}",
            url=f"https://example.org/post/{index}",
            watches=(watch,),
        ))
    return mentions
