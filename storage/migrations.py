"""Schema of the mentionwatch database, as sqlite-utils migrations applied whenever it is opened.

Add a new function at the end to change the schema; never edit one that has shipped.
"""
from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("mentionwatch")


@migrations()
def m001_mentions(db: Database) -> None:
    """Mentions, the watches each one matched, and full-text search over their text."""
    db.executescript(
        """
        CREATE TABLE mentions (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            url TEXT,
            author TEXT,
            author_reach INTEGER,
            title TEXT,
            text TEXT NOT NULL,
            lang TEXT,
            rating REAL,
            created_at TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            UNIQUE (source, external_id)
        );
        CREATE INDEX idx_mentions_created_at ON mentions (created_at);

        -- one mention may match several watches (customers, brands, topics)
        CREATE TABLE mention_watches (
            watch TEXT NOT NULL,
            mention_id INTEGER NOT NULL REFERENCES mentions (id),
            matched_at TEXT NOT NULL,
            PRIMARY KEY (watch, mention_id)
        ) WITHOUT ROWID;
        CREATE INDEX idx_mention_watches_mention ON mention_watches (mention_id);

        CREATE VIRTUAL TABLE mentions_fts USING fts5 (
            title, text, content = 'mentions', content_rowid = 'id'
        );
        -- no insert trigger: save_mentions (the only writer) indexes each batch in one statement
        CREATE TRIGGER mentions_fts_delete AFTER DELETE ON mentions BEGIN
            INSERT INTO mentions_fts (mentions_fts, rowid, title, text)
            VALUES ('delete', old.id, old.title, old.text);
        END;
        CREATE TRIGGER mentions_fts_update AFTER UPDATE OF title, text ON mentions BEGIN
            INSERT INTO mentions_fts (mentions_fts, rowid, title, text)
            VALUES ('delete', old.id, old.title, old.text);
            INSERT INTO mentions_fts (rowid, title, text) VALUES (new.id, new.title, new.text);
        END;
        """
    )


@migrations()
def m002_scores(db: Database) -> None:
    """Sentiment scores: one row per (mention, model)."""
    db.executescript(
        """
        CREATE TABLE scores (
            mention_id INTEGER NOT NULL REFERENCES mentions (id),
            model_id TEXT NOT NULL,
            label TEXT NOT NULL CHECK (label IN ('negative', 'neutral', 'positive')),
            p_negative REAL NOT NULL,
            p_neutral REAL NOT NULL,
            p_positive REAL NOT NULL,
            scored_at TEXT NOT NULL,
            PRIMARY KEY (mention_id, model_id)
        );
        CREATE INDEX idx_scores_model_label ON scores (model_id, label);
        """
    )


@migrations()
def m003_alerts(db: Database) -> None:
    """Alerts, their lifecycle events, the mentions behind them and their notifications."""
    db.executescript(
        """
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            watch TEXT NOT NULL,
            source TEXT,              -- NULL: all sources of the watch together
            rule TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'open'
                CHECK (status IN ('open', 'acknowledged', 'resolved')),
            severity TEXT NOT NULL,
            score REAL,
            window_start TEXT NOT NULL,
            window_end TEXT NOT NULL,
            observed REAL,
            expected REAL,
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            acknowledged_at TEXT,
            resolved_at TEXT,
            owner TEXT,
            explanation TEXT          -- JSON: top mentions, over-represented terms, sources
        );
        CREATE INDEX idx_alerts_watch_status ON alerts (watch, status);

        CREATE TABLE alert_events (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            at TEXT NOT NULL,
            actor TEXT,
            kind TEXT NOT NULL,       -- opened, updated, escalated, acknowledged, resolved, note ...
            detail TEXT
        );
        CREATE INDEX idx_alert_events_alert ON alert_events (alert_id);

        CREATE TABLE alert_mentions (
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            mention_id INTEGER NOT NULL REFERENCES mentions (id),
            rank INTEGER,
            PRIMARY KEY (alert_id, mention_id)
        ) WITHOUT ROWID;
        CREATE INDEX idx_alert_mentions_mention ON alert_mentions (mention_id);

        -- target is the notification's name from the config, never its URL (a secret)
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            target TEXT NOT NULL,
            state TEXT NOT NULL,      -- the alert state it announces, e.g. 'opened:high'
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            UNIQUE (alert_id, target, state)
        );
        """
    )


@migrations()
def m004_crawling(db: Database) -> None:
    """Crawl runs (one per watch and source per collection) and the cursors that make polls incremental."""
    db.executescript(
        """
        CREATE TABLE crawl_runs (
            id INTEGER PRIMARY KEY,
            watch TEXT NOT NULL,
            source TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'ok', 'partial', 'failed')),
            fetched INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            duplicates INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            errors TEXT,              -- JSON list of error lines
            seconds REAL
        );
        CREATE INDEX idx_crawl_runs_source ON crawl_runs (watch, source, started_at);

        CREATE TABLE cursors (
            watch TEXT NOT NULL,
            source TEXT NOT NULL,
            name TEXT NOT NULL,
            value TEXT,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (watch, source, name)
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m005_triage_and_jobs(db: Database) -> None:
    """Triage marks on mentions, and the service's job-run log."""
    db.executescript(
        """
        CREATE TABLE triage (
            mention_id INTEGER PRIMARY KEY REFERENCES mentions (id),
            state TEXT NOT NULL CHECK (state IN ('flagged', 'handled', 'ignored')),
            actor TEXT,
            at TEXT NOT NULL,
            note TEXT
        );

        CREATE TABLE job_runs (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,     -- running, ok, error, skipped
            detail TEXT,
            seconds REAL
        );
        CREATE INDEX idx_job_runs_job ON job_runs (job_id, started_at);
        """
    )


@migrations()
def m006_service_state(db: Database) -> None:
    """What the running service tells `mentionwatch status`: its process and each job's schedule."""
    db.executescript(
        """
        CREATE TABLE service_process (
            id INTEGER PRIMARY KEY CHECK (id = 1),   -- one service per database
            pid INTEGER,
            host TEXT,
            config_path TEXT,
            state TEXT NOT NULL,                     -- starting, running, stopping, stopped
            started_at TEXT NOT NULL,
            heartbeat_at TEXT NOT NULL
        );

        CREATE TABLE service_jobs (
            job_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,                      -- collect, score, detect, notify, watchlist
            watch TEXT,
            source TEXT,
            interval_seconds REAL,
            next_run_at TEXT,
            failures INTEGER NOT NULL DEFAULT 0,     -- consecutive failed runs (collect jobs back off)
            backoff_until TEXT,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m007_notification_claims(db: Database) -> None:
    """When a sender claimed a notification: two processes sending at once never send one row twice."""
    db.executescript(
        """
        -- set (with attempts + 1) just before sending, cleared when the row is marked sent or failed;
        -- a claim older than alerts.notify.CLAIM_TIMEOUT belongs to a sender that died: due again
        ALTER TABLE notifications ADD COLUMN claimed_at TEXT;
        """
    )


@migrations()
def m008_alert_model(db: Database) -> None:
    """Which sentiment model's scores an alert was (last) counted from, so that its evaluation
    counts with the same model."""
    db.executescript("ALTER TABLE alerts ADD COLUMN model_id TEXT;")


@migrations()
def m009_fts_automerge(db: Database) -> None:
    """Let the full-text index merge its segments less often while mentions are written.

    FTS5 starts merging once a level holds 4 segments; at 16 (its maximum) storing mentions is 7-16%
    faster (200,000 and 1,000,000 mentions) and searches measured no slower. The setting is kept in
    the database, so it is made here.
    """
    db.execute("INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('automerge', 16)")


@migrations()
def m010_service_view(db: Database) -> None:
    """What the running service sees of its watchlist, for `mentionwatch status` (which may run in
    another environment, without the service's secrets, and read the file differently)."""
    db.executescript(
        """
        ALTER TABLE service_process ADD COLUMN watchlist_problem TEXT;      -- its last change it rejected
        ALTER TABLE service_process ADD COLUMN notification_problems TEXT;  -- JSON list of lines, no URLs
        ALTER TABLE service_process ADD COLUMN model_id TEXT;               -- the sentiment model it uses
        """
    )


@migrations()
def m011_notification_outcomes(db: Database) -> None:
    """Two more outcomes of a notification: 'superseded' (not sent: the alert was resolved first, a
    later escalation replaced it, or its target never heard of the alert) and 'unconfirmed' (sent,
    but the target did not answer in time; not sent again, so it is not repeated)."""
    db.executescript(
        """
        CREATE TABLE notifications_new (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            target TEXT NOT NULL,     -- the notification's name from the config, never its URL
            state TEXT NOT NULL,      -- the alert state it announces, e.g. 'opened:high'
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'failed', 'superseded', 'unconfirmed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,          -- for 'superseded' and 'unconfirmed': why
            next_attempt_at TEXT,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            claimed_at TEXT,
            UNIQUE (alert_id, target, state)
        );
        INSERT INTO notifications_new (id, alert_id, target, state, status, attempts, last_error,
                                       next_attempt_at, created_at, sent_at, claimed_at)
            SELECT id, alert_id, target, state, status, attempts, last_error, next_attempt_at, created_at,
                   sent_at, claimed_at FROM notifications;
        DROP TABLE notifications;
        ALTER TABLE notifications_new RENAME TO notifications;
        """
    )


@migrations()
def m012_erasures(db: Database) -> None:
    """Erasing mentions on request (`mentionwatch forget`): a log of each erasure, and what must
    never be stored again. No name, text or post id is kept: only keyed hashes of them."""
    db.executescript(
        """
        CREATE TABLE erasures (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT,
            what TEXT NOT NULL,           -- e.g. 'one author on reddit', never the author's name
            mentions INTEGER NOT NULL,    -- how many stored mentions were erased
            highest_mention_id INTEGER,   -- new mentions get ids above it: an erased id never returns
            created_before TEXT           -- set when history before it is kept out of later storing
        );

        -- posts and authors that are not stored again when a source or an import brings them back
        CREATE TABLE forgotten (
            key TEXT PRIMARY KEY,         -- sha256 of the post's (source, id) or the author's (source, name)
            kind TEXT NOT NULL CHECK (kind IN ('post', 'author')),
            erasure_id INTEGER NOT NULL REFERENCES erasures (id)
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m013_mastodon_full_accounts(db: Database) -> None:
    """Mastodon authors as 'user@host' throughout: the API writes an account of the instance asked as
    plain 'user', which names a different person on every instance. Stored ones get the host of their
    post's address (https://mastodon.social/@halcy/1104... -> halcy@mastodon.social), read as the
    poller reads the account's address (crawler.pollers.mastodon._full_account)."""
    import urllib.parse

    rows = db.execute("SELECT id, author, url FROM mentions WHERE source = 'mastodon' "
                      "AND author IS NOT NULL AND instr(author, '@') = 0").fetchall()
    updates = []
    for mention_id, author, url in rows:
        try:
            host = urllib.parse.urlsplit(url or "").hostname
        except ValueError:  # an address Python cannot read (a bad port, say): left as it is
            host = None
        if host:
            updates.append((f"{author}@{host}", mention_id))
    db.conn.executemany("UPDATE mentions SET author = ? WHERE id = ?", updates)


@migrations()
def m014_link_origin(db: Database) -> None:
    """How each watch link was made (`linked_by`): 'query' (a collector matched the watch's query)
    or 'import' (`mentionwatch import --watch`, which links every row of the file unchecked).
    `mentionwatch rematch` applies an edited query to the first kind only.

    The column's default is 'query', so the collectors' insert does not name it. Links stored before
    this migration get NULL: whether an import made them is not known (rematch treats them as query
    links and counts them apart)."""
    # db.execute, not executescript (which commits first): both steps stay in the migration's transaction
    db.execute("ALTER TABLE mention_watches ADD COLUMN linked_by TEXT DEFAULT 'query' "
               "CHECK (linked_by IN ('query', 'import'))")
    db.execute("UPDATE mention_watches SET linked_by = NULL")


@migrations()
def m015_scores_model_time_index(db: Database) -> None:
    """Scores by model and time, for choosing the model whose scores a report or an export reads
    (mentionwatch.triage.query.choose_model_id): each model's latest score is then one index
    look-up instead of a read of all its rows (0.54 s -> 0.10 s with a million scores)."""
    # db.execute, not executescript (which commits first): it stays in the migration's transaction
    db.execute("CREATE INDEX idx_scores_model_time ON scores (model_id, scored_at)")


# Characters the full-text index splits words at, besides spaces and punctuation: emoji, and the
# scripts written without spaces between words, whose words search finds as text instead
# (mentionwatch.triage.fulltext). SQLite's tokenizer keeps emoji newer than Unicode 6.1 in the word
# before them ('sad🥺') and a Latin word in the Chinese run around it ('酒店的wifi很好'), so a
# search for `sad` or `wifi` missed those posts. Only the scripts in daily use: each character
# listed makes a connection's first use of the index slower (0.04 s for these, see fts_tokenizer);
# the rarer CJK extensions, which would triple that, are left out (crawler.matching splits at them).
FTS_SEPARATOR_RANGES = (
    (0x0E00, 0x0EFF),    # Thai, Lao
    (0x1000, 0x109F),    # Myanmar
    (0x1100, 0x11FF),    # Hangul Jamo
    (0x1780, 0x17FF),    # Khmer
    (0x3040, 0x30FF),    # Hiragana, Katakana
    (0x3130, 0x318F),    # Hangul compatibility Jamo ('Acmeㅋㅋㅋ')
    (0x4E00, 0x9FFF),    # CJK unified ideographs
    (0xA960, 0xA97F),    # Hangul Jamo extended A
    (0xAC00, 0xD7FF),    # Hangul syllables (a particle is written onto a Latin name: 'Acme는')
    (0xF900, 0xFAFF),    # CJK compatibility ideographs
    (0xFF66, 0xFF9F),    # halfwidth Katakana
    (0x1F000, 0x1FAFF),  # emoji and other pictographs
)


def fts_tokenizer() -> str:
    """The `tokenize` argument of mentions_fts: unicode61, splitting at FTS_SEPARATOR_RANGES too."""
    # highest first: SQLite files each one into a sorted list, searching it from the lowest, and
    # in rising order that search grows with the list (0.25 s at each connection's first use of the
    # index, against 0.04 s this way)
    separators = "".join(chr(code) for low, high in reversed(FTS_SEPARATOR_RANGES)
                         for code in range(high, low - 1, -1))
    return f"unicode61 separators '{separators}'"  # no quote character among them


@migrations()
def m016_fts_script_separators(db: Database) -> None:
    """Build the full-text index again, splitting words at emoji and at Chinese, Japanese and Korean
    characters (FTS_SEPARATOR_RANGES), so that a word written against them is found. The index
    holds nothing else (its text is read from `mentions`), so it is made afresh: about 5 s per
    million mentions, once. Its triggers name it and stay as they are."""
    db.execute("DROP TABLE mentions_fts")
    db.execute(f"""CREATE VIRTUAL TABLE mentions_fts USING fts5 (
                       title, text, content = 'mentions', content_rowid = 'id', tokenize = "{fts_tokenizer()}")""")
    db.execute("INSERT INTO mentions_fts (mentions_fts) VALUES ('rebuild')")
    db.execute("INSERT INTO mentions_fts (mentions_fts, rank) VALUES ('automerge', 16)")  # as m009 set it


@migrations()
def m017_alert_opening_within_its_window(db: Database) -> None:
    """Before 2026-12-05 an alert's opened_at was the time the run that raised it ran, which for
    history imported and then detected, a replay, or a service back after a while, is days after
    its window; since then it is the end of its first hot bucket, inside the window, and the rule
    that finds one incident's stored alert (alerts.detect._same_incident) measures from it. Such an
    older alert is moved to its window's end, the latest time now possible, so the first run after
    the upgrade updates it instead of opening a second alert for the same incident (a resolved one
    included). Its timeline keeps the times it was recorded at."""
    db.execute("UPDATE alerts SET opened_at = window_end WHERE opened_at > window_end")


@migrations()
def m018_rescore_requests(db: Database) -> None:
    """Mentions whose scores `import --update` deleted (their text changed): the lowest id of them,
    for the service's score job, whose place in the mentions (`Service._score_after`) has moved
    past them; it reads on from there once, then deletes the request."""
    db.execute("CREATE TABLE rescore_requests (id INTEGER PRIMARY KEY CHECK (id = 1), "
               "lowest_mention_id INTEGER NOT NULL)")


@migrations()
def m019_thread_titles(db: Database) -> None:
    """A comment is stored with its thread's title (a Reddit comment, a Hacker News comment): shown
    with it, but not matched against a watch's query on it, or every 'thanks' in a thread about a
    brand would be a mention of the brand. `title_is_thread` says which titles are such context.
    Reddit comments stored before are marked by their id ('t1_…'); Hacker News gives its comments
    ids like its stories', so those stored before keep being matched on their title."""
    db.execute("ALTER TABLE mentions ADD COLUMN title_is_thread INTEGER NOT NULL DEFAULT 0")
    db.execute("UPDATE mentions SET title_is_thread = 1 WHERE source = 'reddit' "
               "AND external_id >= 't1_' AND external_id < 't1`' AND title IS NOT NULL")


@migrations()
def m020_crawl_run_process(db: Database) -> None:
    """The process ('host:pid') that runs a crawl, so a run left 'running' by a killed `mentionwatch
    crawl` is known as such (storage.crawl_processes) and no longer blocks `rename` for hours."""
    db.execute("ALTER TABLE crawl_runs ADD COLUMN process TEXT")
