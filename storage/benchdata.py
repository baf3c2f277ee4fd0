"""Synthetic mentions for benchmarks: deterministic, realistic lengths, a few repeats and watches."""
from __future__ import annotations

import datetime as dt
import random

from storage.mentions import Mention
from storage.timeutil import to_iso

_WORDS = ("service flight delayed refund great terrible support app crash love hate customer "
          "waiting hours price update broken thanks awful amazing order delivery late rude staff "
          "helpful checkout payment failed login bug fixed cancel").split()
# Chinese review words, written without spaces as Chinese is (for `bench search`)
_CHINESE_WORDS = ("外卖 送餐 太慢 好吃 味道 服务 态度 酒店 房间 干净 很脏 价格 便宜 太贵 骑手 迟到 退款 "
                  "客服 电话 不错 满意 失望 下次 还会 一般 早餐 前台 分量 包装 凉了").split()


def synthetic_mentions(count: int, seed: int = 7, *, watches=("acme", "globex"),
                       start: dt.datetime | None = None, chinese_every: int = 0) -> list[Mention]:
    """`count` mentions 7 s apart; with `chinese_every` N, every Nth one is a Chinese review."""
    rng = random.Random(seed)
    start = start or dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    mentions = []
    for index in range(count):
        if chinese_every and index % chinese_every == 0:
            words = _chinese_review(rng)
        else:
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


def _chinese_review(rng: random.Random) -> str:
    """4-24 words in runs of 2-6 between Chinese commas, ending with a full stop."""
    runs = ["".join(rng.choice(_CHINESE_WORDS) for _ in range(rng.randint(2, 6)))
            for _ in range(rng.randint(2, 4))]
    return "，".join(runs) + "。"
