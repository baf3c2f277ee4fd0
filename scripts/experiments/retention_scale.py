"""Retention (`service.keep_mentions`) on a large database: how long erasing the old history takes,
and the longest write transaction (one batch) it holds meanwhile. Prints the figures the README gives.

    .venv/bin/python scripts/experiments/retention_scale.py 1000000 300   # mentions, alerts (about 1 min)
"""
import sys, time, tempfile, os, datetime as dt, json
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2]))
from storage import open_db, save_mentions, Mention
from storage import erasure
import logging; logging.disable(logging.WARNING)
N, ALERTS = int(sys.argv[1]), int(sys.argv[2])
d = tempfile.mkdtemp(); db = open_db(os.path.join(d, "mw.db"))
now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
old = now - dt.timedelta(days=500)
words = "acme outage refund broken slow great love hate app support login billing".split()
def gen():
    for i in range(N):
        t = old + dt.timedelta(seconds=i * (499 * 86400 // N))
        yield Mention("reddit", f"p{i}", f"acme {words[i % 12]} {words[(i * 7) % 12]} post number {i}", t,
                      url=f"https://reddit.com/r/x/{i}", author=f"user{i % 5000}", watches=("acme",))
t = time.monotonic(); save_mentions(db, gen()); print(f"stored {N} in {time.monotonic()-t:.1f}s")
old_ids = [i for (i,) in db.execute("SELECT id FROM mentions WHERE created_at < ?", [(now - dt.timedelta(days=100)).isoformat()[:19] + "Z"])]
with db.atomic():
    for a in range(ALERTS):
        aid = db.execute("INSERT INTO alerts (watch, rule, severity, window_start, window_end, opened_at, updated_at, explanation) "
                         "VALUES ('acme','spike','high','2024-01-01T00:00:00Z','2024-01-02T00:00:00Z','2024-01-01T00:00:00Z','2024-01-01T00:00:00Z', ?)",
                         [json.dumps({"summary": "x; standing out: outage, refund", "terms": [{"term": "outage", "count": 30}], "top_mentions": []})]).lastrowid
        db.conn.executemany("INSERT INTO alert_mentions (alert_id, mention_id) VALUES (?, ?)", [(aid, i) for i in old_ids[a * 40: a * 40 + 40]])
longest = [0.0]
orig = erasure._Step.erase_batch
def timed(self, ids, remember):
    t = time.monotonic(); orig(self, ids, remember); longest[0] = max(longest[0], time.monotonic() - t)
erasure._Step.erase_batch = timed
t = time.monotonic(); n = erasure.erase_old_mentions(db, 100 * 86400, now=now)
print(f"erased {n} in {time.monotonic()-t:.1f}s; longest batch {longest[0]:.2f}s")
t = time.monotonic(); plan = erasure.plan_erasure(db, erasure.Selection(url="https://reddit.com/r/x/199999/")); print(f"url plan {time.monotonic()-t:.2f}s found {len(plan.mention_ids)}")
t = time.monotonic(); plan = erasure.plan_erasure(db, erasure.Selection(author="USER7")); print(f"author plan {time.monotonic()-t:.2f}s found {len(plan.mention_ids)}")
db.close()
__import__("shutil").rmtree(d)
