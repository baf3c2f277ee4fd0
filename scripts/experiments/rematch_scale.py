"""`mentionwatch rematch` on a large database: how long the preview (matching every stored mention
against the watches' queries) and the apply take, and the longest write transaction meanwhile.
Prints the figures the README gives (Configuration, "Editing a query").

    .venv/bin/python scripts/experiments/rematch_scale.py 1000000   # mentions (about 1.5 min)

Watch acme gains an `exclude: [refund]`, watch globex is widened to `any: [globex, crash]`, over
synthetic mentions (storage/benchdata.py, one in ten Chinese) linked to both as the generator says.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from mentionwatch.config import parse_config  # noqa: E402
from storage import open_db, save_mentions  # noqa: E402
from storage import rematch  # noqa: E402
from storage.benchdata import synthetic_mentions  # noqa: E402

EDITED = """
watches:
  - name: acme
    query: {any: [acme], exclude: [refund]}
  - name: globex
    query: {any: [globex, crash]}
"""
STEP = 100_000


def stored(path: str, count: int):
    db = open_db(path)
    started = time.monotonic()
    for offset in range(0, count, STEP):
        chunk = synthetic_mentions(min(STEP, count - offset), seed=offset + 1, chinese_every=10)
        save_mentions(db, [dataclasses.replace(m, external_id=f"b{offset + i}") for i, m in enumerate(chunk)])
    print(f"stored {count:,} mentions in {time.monotonic() - started:.0f} s")
    return db


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    db = stored(os.path.join(tempfile.mkdtemp(), "mw.db"), count)
    rules = [rematch.WatchRule.of(watch, db) for watch in parse_config(EDITED).watches]
    for chosen, label in ((rules[:1], "1 watch"), (rules, "2 watches")):
        started = time.monotonic()
        plan = rematch.plan_rematch(db, chosen)
        seconds = time.monotonic() - started
        print(f"preview, {label}: {plan.mentions_read:,} mentions in {seconds:.1f} s "
              f"({plan.mentions_read / seconds:,.0f} mentions/s)")
    holds: list[float] = []
    atomic = db.atomic

    @contextlib.contextmanager
    def timed():
        started = time.monotonic()
        with atomic():
            yield db
        holds.append(time.monotonic() - started)

    db.atomic = timed
    started = time.monotonic()
    rematch.apply_rematch(db, plan)
    changes = sum(len(c.unlink) + len(c.link) for c in plan.watches)
    print(f"apply: {changes:,} link changes in {time.monotonic() - started:.1f} s, {len(holds)} transactions, "
          f"the longest {max(holds or [0]) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
