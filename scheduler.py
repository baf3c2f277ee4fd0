"""The background service behind `mentionwatch run`: scheduled collection, scoring, detection, alerts.

One APScheduler 3 `BlockingScheduler` is all the process does. Its jobs, each with an explicit id,
`max_instances=1`, `coalesce=True` and the configured misfire grace time:

- `collect:<watch>:<source key>`: one per enabled source of each watch, at the source's interval
  plus jitter. A source whose poll fails backs off exponentially (capped by service.max_backoff);
  the others carry on. A source that said its rate limit ends later than that (the crawl run's
  `retry_at`) is polled again only once it has ended. New mentions wake the scoring job.
- `score`: drains unscored mentions in small committed chunks with one model, loaded once and kept,
  walking forward by mention id: one that cannot be scored is logged and passed over (tried again
  at the next start), so it never holds back newer ones. New scores wake the detection job.
- `detect`: spike detection (also on its own interval); a new or updated alert is notified at once.
- `notify`: retries notifications that failed or are due.
- `watchlist`: reloads the watchlist when its file changes (SIGHUP does the same at once); an
  invalid file, or a sentiment model that cannot be loaded, is rejected with one log line and the
  old jobs (and model) keep running. What the service sees of the watchlist (a rejected change, its
  notification targets that cannot send, its model) is recorded for `mentionwatch status`.
- `heartbeat`: tells `mentionwatch status` that the service is alive and when each job runs next.
  It runs on a worker thread of its own, so slow collections filling the pool never delay it.
- `maintenance`: prunes old job and crawl runs (hourly) and erases old mentions
  (`service.keep_mentions`, daily), never on the heartbeat's thread, so that a long erasure never
  holds it up.

Collections share one pool of MAX_WORKERS threads; score, detect, notify, the watchlist check and
maintenance have a pool of their own, a thread each, so that collections waiting out slow or
rate-limiting sites never hold up scoring, alerts and their notifications.

Before every job run and heartbeat the database file is checked: deleted or replaced by another
file, the service logs an ERROR and stops (exit code 1) instead of writing on into the old one.
So it does when the heartbeat finds the database migrated by a newer mentionwatch (an upgrade
whose first command ran while this older service still did).

Every job run is logged as one structured line and stored in `job_runs`. A locked database or a full
disk is one clear log line and a retry at the job's next run, never a crash. SIGTERM/SIGINT stop
the scheduler, let running jobs finish (bounded wait) and exit 0.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import random
import signal
import socket
import sqlite3
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from apscheduler.events import (
    EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from alerts.notify import settle_interrupted_sends, warn_about_targets
from mentionwatch.config import KEEP_UNSET_IN_URLS, Config, ConfigError, SourceConfig, Watch, load_config
from mentionwatch.logging_setup import redact
from mentionwatch.service_state import (
    JobSchedule, close_interrupted_runs, finish_job_run, heartbeat, load_failures, mark_process,
    prune_crawl_runs, prune_job_runs, record_service_view, recorded_service, save_schedules, start_job_run,
)
from sentiment.scorer import ModelLoadError, configured_model_id, missing_model_folder, unreadable_watches
from sentiment.store import ScoringFailed
from storage import open_db
from storage.db import NewerSchemaError, database_problem, refuse_newer_schema
from storage.erasure import erase_old_mentions, wipe_log
from storage.timeutil import from_iso, to_iso

log = logging.getLogger("mentionwatch.service")

HEARTBEAT_SECONDS = 15.0
DEFAULT_RELOAD_CHECK_SECONDS = 10.0
DEFAULT_STOP_TIMEOUT_SECONDS = 10.0
SCORE_CHUNK = 256  # mentions scored and committed per step: a stop request waits for one step only
FIRST_COLLECT_SPREAD_SECONDS = 10.0  # first polls after a start are spread over this many seconds
MAX_WORKERS = 6  # collections at once
HEARTBEAT_EXECUTOR = "heartbeat"  # the heartbeat's own one-thread pool: never queued behind jobs
# score, detect, notify, the watchlist check and maintenance: a pool of their own, a thread each, so
# that collections waiting out a slow or rate-limiting site (up to minutes each) never hold up alerts
PIPELINE_EXECUTOR = "pipeline"
PIPELINE_KINDS = ("score", "detect", "notify", "watchlist", "maintenance")
HOUSEKEEPING_KINDS = ("watchlist", "heartbeat", "maintenance")  # no job_runs row, no log line
MAX_BACKOFF_DOUBLINGS = 64  # 2**64 times any interval is past every cap; more would overflow a float
JOB_RUNS_KEEP_DAYS = 30  # `job_runs` history kept; alerts are never pruned
CRAWL_RUNS_KEEP_DAYS = 90  # `crawl_runs` history kept (and each source's last run, success and error)
PRUNE_EVERY_SECONDS = 3600.0
RETENTION_EVERY_SECONDS = 86400.0  # `service.keep_mentions`: old mentions are erased once a day
STOP_WRITE_TIMEOUT_MS = 2000  # the last writes of a stop wait this long for a lock held by a job
UTC = dt.timezone.utc
WAL_SUFFIXES = ("-wal", "-shm")  # SQLite's files beside a WAL-mode database
RATE_LIMITED_UNTIL = "rate_limited_until"  # a collect run's detail: when the source's rate limit ends
HELD = "held"  # a collect run's detail: it asked nothing, the site being in a pause it asked for


@dataclass(frozen=True)
class CollectTarget:
    """One (watch, source) pair the service polls, under a job id stable across reloads."""

    job_id: str
    watch: Watch
    source_cfg: SourceConfig
    source_index: int


def collect_targets(config: Config) -> dict[str, CollectTarget]:
    """job id -> target for every enabled source; the id hashes all the source's settings, so editing
    one source's options makes it a new job while reordering the list changes nothing."""
    from crawler.source_types import settings_key

    targets = {}
    for watch in config.watches:
        seen: Counter[str] = Counter()
        for index, source_cfg in enumerate(watch.sources):
            if not source_cfg.enabled:
                continue
            key = f"{source_cfg.type}:{settings_key(source_cfg)}"
            seen[key] += 1
            if seen[key] > 1:  # the same source listed twice: keep both, with distinct ids
                key = f"{key}.{seen[key]}"
            job_id = f"collect:{watch.name}:{key}"
            targets[job_id] = CollectTarget(job_id, watch, source_cfg, index)
    return targets


def backoff_seconds(interval: float, failures: int, cap: float) -> float:
    """Wait before the next poll of a source that failed `failures` times in a row."""
    if failures <= 0:
        return interval
    # the exponent is bounded first: a source failing for months counts thousands of failures
    return min(interval * 2.0 ** min(failures, MAX_BACKOFF_DOUBLINGS), max(cap, interval))


def describe_db_error(exc: BaseException) -> str | None:
    """One line for the database problems that must not crash the service; None for others."""
    problem = database_problem(exc)
    return None if problem is None else f"{problem}; will retry at the job's next run"


class ServiceAlreadyRunning(Exception):
    """Another live service already works on this database (two would poll everything twice)."""


def other_live_service(db) -> str | None:
    """'pid N on HOST' when another service is alive on this database (see `live_service`), or
    its process is still there on this host, however old its heartbeat: a hung service still
    holds the database and may go on writing at any moment."""
    service = recorded_service(db, dt.datetime.now(UTC))
    if "pid" not in service or (service["pid"] == os.getpid() and service["host"] == socket.gethostname()):
        return None
    if service["alive"]:
        return f"pid {service['pid']} on {service['host']}"
    if service.get("hung"):
        return (f"pid {service['pid']} on {service['host']}, not responding: its last heartbeat is "
                f"{service['heartbeat_age_seconds']}s old, but the process is still there (hung?)")
    return None


class Service:
    """The scheduler, its jobs and their shared state. `run()` blocks until SIGTERM/SIGINT."""

    def __init__(self, config_path: str | Path, db_path: str | Path | None = None, *,
                 blocking: bool = True,
                 reload_check: float = DEFAULT_RELOAD_CHECK_SECONDS,
                 stop_timeout: float = DEFAULT_STOP_TIMEOUT_SECONDS,
                 connect: Callable[[Path], object] | None = None,
                 collect_options: dict | None = None):
        self.config_path = Path(config_path)
        # ConfigError: the caller says it. A notification url whose ${VAR} is unset cannot send (and
        # is named as such); the other targets go on
        self.config: Config = load_config(self.config_path, keep_unset_env=KEEP_UNSET_IN_URLS)
        problem = missing_model_folder(self.config.sentiment.model)
        if problem:
            raise ConfigError(f"{self.config_path}: sentiment.model: {problem}")
        self.db_path = Path(db_path) if db_path else self.config.database
        self.exit_code = 0  # 1 when the service stopped on its own because of a problem
        self._db_identity: tuple[int, int] | None = None  # the database file the service opened
        self._db_gone = False  # that file was deleted or replaced: nothing more is written
        self._db_damaged = False  # SQLite found the file malformed: nothing more is written
        self._db_upgraded = False  # a newer mentionwatch migrated the file: the service stops
        self._trouble_lock = threading.Lock()  # one thread (of several that find it) says it and stops
        self._wal_identities: dict[str, tuple[int, int] | None] = {}  # its -wal/-shm files
        self._set_aside: list[Path] = []  # those files, renamed once the database was replaced
        self.reload_check = reload_check
        self.stop_timeout = stop_timeout
        self._connect = connect or open_db
        self._collect_options = collect_options or {}
        self._local = threading.local()
        self._connections: list = []
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()
        # (watch, source type, place in the watch's list) -> a lock held while that source is polled:
        # an option edit makes a new job (collect_targets), which must not poll the site beside the
        # old job's crawl still going. Not per watch and type: a watch's feeds are polled side by side
        self._source_locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._scorer = None
        self._scorer_lock = threading.Lock()
        # the scorer this service loaded from the watchlist (see `_get_scorer`); a weak reference,
        # so that a replaced model is not kept in memory by it
        self._loaded_scorer: Callable[[], object] = lambda: None
        # model id -> the highest mention id the score job has read. Ids only grow, so the
        # mentions below it that are still unscored failed to score: they are retried once per
        # start of the service (and by `mentionwatch score`), never ahead of newer mentions.
        self._score_after: dict[str, int] = {}
        # the same, for the first pass of each score run: the mentions detection reads (see _job_score)
        self._recent_score_after: dict[str, int] = {}
        self._notify_lock = threading.Lock()
        self._running: set[str] = set()  # job runs under way (finish() waits for them)
        self._housekeeping_runs = 0  # watchlist checks, reloads, heartbeats under way (likewise)
        # jobs APScheduler still counts as running: from the start of a run until its executed (or
        # error) event, which comes after APScheduler counts the run as over. A run asked for in
        # between (request_run) waits for that event: asked for sooner, APScheduler would skip it
        # as a second instance and the job would wait a whole interval.
        self._busy: set[str] = set()
        self._rerun: set[str] = set()
        self._idle = threading.Condition()
        self._failures: dict[str, int] = {}
        self._backoff_until: dict[str, str | None] = {}
        self._intervals: dict[str, tuple[float, float]] = {}
        self._stopping = threading.Event()
        self._claimed = False  # start() recorded this process as the database's service
        self._stop_write_failed = False  # a write of the stop could not be made (logged once)
        self._schedules_unsaved = False  # a reload's job list is not in the database yet
        self._next_prune = 0.0  # job_runs are pruned at the first maintenance run, then hourly
        self._next_retention = 0.0  # likewise, old mentions (when keep_mentions is set), then daily
        self._wiped_erasure: int | None = None  # the latest erasure whose old pages are gone from the files
        self._stamp = _file_stamp(self.config_path)
        self.blocking = blocking
        scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
        self.scheduler = scheduler_class(
            executors={"default": ThreadPoolExecutor(MAX_WORKERS),
                       PIPELINE_EXECUTOR: ThreadPoolExecutor(len(PIPELINE_KINDS)),
                       HEARTBEAT_EXECUTOR: ThreadPoolExecutor(1)},
            job_defaults={"max_instances": 1, "coalesce": True,
                          "misfire_grace_time": _whole_seconds(self.config.service.misfire_grace)},
            timezone=UTC,
        )
        self.scheduler.add_listener(self._on_scheduler_event,
                                    EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
                                    | EVENT_SCHEDULER_STARTED)
        self.scheduler.add_listener(self._on_run_over, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)

    # --- database: one connection per thread -----------------------------------------------------

    def db(self):
        db = getattr(self._local, "db", None)
        if db is None:
            # a thread's first connection to a deleted file would create a new, empty database there
            if self._db_gone or self._database_file_replaced():
                raise sqlite3.OperationalError("the database file was deleted or replaced: the service stops")
            db = self._connect(self.db_path)
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _close_thread_connection(self) -> None:
        """Close this thread's connection (a short-lived thread's, such as a SIGHUP reload's:
        kept, each would hold a file descriptor until the process ends)."""
        db = getattr(self._local, "db", None)
        if db is None:
            return
        self._local.db = None
        with self._lock:
            ours = any(c is db for c in self._connections)  # else finish() took it, and closes it
            self._connections = [c for c in self._connections if c is not db]
        if ours:
            try:
                db.close()
            except Exception:  # nothing left to do about it
                pass

    def _close_connections(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            try:
                db.close()
            except Exception:  # closing at exit: nothing left to do about it
                pass

    # --- lifecycle -----------------------------------------------------------------------------

    def run(self) -> int:
        """Start, block until a stop signal, wait for running jobs, return the exit code (0, or 1
        when the service stopped on a database problem: its file deleted, replaced or damaged)."""
        self._install_signal_handlers()
        self.start()
        return self.finish()

    def start(self) -> None:
        """Prepare the database and the jobs, then start the scheduler (blocks when blocking)."""
        db = self.db()
        self._db_identity = _file_identity(self.db_path)
        self._wal_identities = {suffix: _file_identity(_sibling(self.db_path, suffix))
                                for suffix in WAL_SUFFIXES}
        with db.atomic():  # checked and claimed at once: of two services started together, one runs
            other = other_live_service(db)
            if other:
                raise ServiceAlreadyRunning(f"another mentionwatch service ({other}) is running on "
                                            f"{self.db_path.resolve()}; stop it first")
            interrupted = close_interrupted_runs(db)
            mark_process(db, "starting", str(self.config_path.resolve()))
        self._claimed = True  # from now on the process row is this service's to update
        if interrupted:
            log.warning("%d job run(s) were interrupted by the previous stop of the service "
                        "(their committed work is kept)", interrupted)
        self._record_view(self.config)
        for job_id, (failures, until) in load_failures(db).items():
            self._failures[job_id], self._backoff_until[job_id] = failures, self._at_most_a_day(job_id, until)
        summary = self._apply_config(self.config, first=True)
        if not summary["collect"]:
            log.warning("the watchlist %s has no watch with a source to collect: nothing will be collected "
                        "until it has one", self.config_path, extra={"fields": {"event": "nothing_to_collect"}})
        mark_process(db, "running")
        log.info("service started: %d collection jobs, database %s, watchlist %s", summary["collect"],
                 self.db_path, self.config_path,
                 extra={"fields": {"event": "started", "pid": os.getpid(), **summary}})
        warn_about_targets(self.config)
        for line in unreadable_watches(self.config):
            log.warning("%s", line)
        if not self._stopping.is_set():  # a stop signal during the preparation: do not start
            self.scheduler.start()

    def stop(self, reason: str = "stop requested") -> None:
        """Stop scheduling new runs; `finish()` then waits for the running ones."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        log.info("%s: no new job runs; waiting up to %.0fs for %d running job(s)", reason,
                 self.stop_timeout, len(self._running),
                 extra={"fields": {"event": "stopping", "running": sorted(self._running)}})
        self._record_state("stopping")  # before finish() can write 'stopped'; bounded (see there)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def finish(self) -> int:
        """After the scheduler stopped: bounded wait for running jobs, record the stop, exit code."""
        self._database_file_replaced()  # replaced after the last check: its old log is set aside too
        with self._idle:
            finished = self._idle.wait_for(lambda: not self._running and not self._housekeeping_runs,
                                           timeout=self.stop_timeout)
            still_running = sorted(self._running) + (["a watchlist reload or heartbeat"]
                                                     if self._housekeeping_runs else [])
        if not finished:
            self._close_unfinished_runs()
        self._record_state("stopped")
        if not finished:
            log.warning("stopped while %s still ran (over %.0fs); its committed work is kept and "
                        "the rest is redone at the next start", ", ".join(still_running),
                        self.stop_timeout, extra={"fields": {"event": "stopped", "unfinished": still_running}})
            if self.blocking:  # `mentionwatch run`: the process is the service's own
                logging.shutdown()
                os._exit(self.exit_code)  # worker threads would otherwise be joined at exit, without a bound
            return self.exit_code  # a service inside another program (tests): never end that program
        log.info("service stopped", extra={"fields": {"event": "stopped"}})
        checkpointed = self._db_gone and self._checkpoint_old_database()
        self._close_connections()
        if checkpointed:
            self._remove_set_aside_files()
        return self.exit_code

    def _record_state(self, state: str) -> None:
        """Record the stop ('stopping', 'stopped') in the process row, waiting only briefly for a
        lock another program holds: a stop must end within its bound (systemd kills after
        TimeoutStopSec). Nothing is written before start() claimed the row: a stop signal during
        the start-up must not record this process as the database's service (another one may be)."""
        if not self._claimed:
            return
        if self._db_gone or self._db_damaged:  # a new connection would create (or write into) the file now at the path
            return
        try:
            db = self.db()
            with _short_busy_timeout(db):
                mark_process(db, state)
        except sqlite3.DatabaseError as exc:
            _rollback(self._local)
            if self._stop_write_failed:
                log.debug("could not record the state %r either: %s", state, exc)
                return
            self._stop_write_failed = True
            log.warning("could not record the stop (%s); stopping all the same: `mentionwatch status` "
                        "tells that the process is gone once it has exited", database_problem(exc),
                        extra={"fields": {"event": "stop_not_recorded", "state": state}})

    def _close_unfinished_runs(self) -> None:
        """Job runs (and their crawl runs) that overstayed the stop are recorded as interrupted now:
        the process exits without waiting for them, and `status` must not show them as running.
        A notification cut short mid-send is released, for the next start to send (see
        alerts.notify.settle_interrupted_sends)."""
        if self._db_gone or self._db_damaged:
            return
        try:
            db = self.db()
            # this and the state changes wait briefly for a lock a job may hold: a stop must not hang
            with _short_busy_timeout(db):
                close_interrupted_runs(db)
                settle_interrupted_sends(db)  # sent at the next start, not CLAIM_TIMEOUT later
        except sqlite3.DatabaseError as exc:  # the next start closes them
            _rollback(self._local)
            log.warning("could not record the unfinished runs: %s; the next start records them",
                        database_problem(exc) or exc)

    def _database_file_replaced(self) -> bool:
        """True when the database file was deleted or replaced since the start: then an ERROR is
        logged and the service stops (exit code 1), since all it would write from now on goes
        into a file nobody can open any more, and a second service could start on the new one."""
        if self._db_identity is None or _file_identity(self.db_path) == self._db_identity:
            return False
        with self._trouble_lock:  # jobs on several threads may find it at once: one line, one stop
            first = not self._db_gone
            if first:
                self._db_gone = True
                self._set_aside_old_wal()  # done before any caller goes on (finish() checkpoints after)
        if first and not self._stopping.is_set():
            self.exit_code = 1
            log.error("the database file %s was deleted or replaced while the service ran; stopping, "
                      "so that nothing more goes into the old file (start the service again to use "
                      "the file now at that path)", self.db_path.resolve(),
                      extra={"fields": {"event": "database_replaced"}})
            self.stop("database file deleted or replaced")
        return True

    def _schema_upgraded_meanwhile(self) -> bool:
        """True when a newer mentionwatch has migrated the database while this service ran (the code
        was upgraded, and a command of the new version opened the file): this older code knows
        nothing of the new tables and columns, so it stops (ERROR, exit code 1) instead of writing on."""
        try:
            refuse_newer_schema(self.db())
            return False
        except NewerSchemaError as exc:
            problem = str(exc)
        # the file is sound, and the tables a stop writes (its state, the runs it cuts short) are in
        # every version: the stop is recorded as usual, only no new job starts
        with self._trouble_lock:  # one line, one stop
            first, self._db_upgraded = not self._db_upgraded, True
        if first and not self._stopping.is_set():
            self.exit_code = 1
            log.error("the database was upgraded by a newer mentionwatch while this service ran (%s); "
                      "stopping: start the service again with the new version", problem,
                      extra={"fields": {"event": "database_upgraded"}})
            self.stop("database upgraded by a newer mentionwatch")
        return True

    def _set_aside_old_wal(self) -> None:
        """Rename the replaced database's -wal and -shm away from the path, at once: SQLite would
        apply that old log to the new file when it next opens it, and damage it. SQLite itself
        neither checkpoints nor deletes them when the database file has moved.

        Only files with the (device, inode) seen at the start are renamed: the service's open
        connections keep those inodes alive, so a file with that identity cannot be a new one."""
        stamp = dt.datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for suffix, identity in self._wal_identities.items():
            path = _sibling(self.db_path, suffix)
            if identity is None or _file_identity(path) != identity:
                continue  # gone with the old file, or one of the new file's
            aside = path.with_name(f"{path.name}.replaced-{stamp}")
            try:
                path.rename(aside)
            except OSError as exc:
                log.error("could not move %s away from the restored database: %s; delete it "
                          "before the service starts again", path, exc)
                continue
            self._set_aside.append(aside)
            log.warning("moved the replaced database's %s to %s, so that it is not applied to the "
                        "file now at %s", path.name, aside.name, self.db_path,
                        extra={"fields": {"event": "wal_set_aside", "file": str(aside)}})

    def _checkpoint_old_database(self) -> bool:
        """Write the set-aside log into the replaced file (still open here, perhaps kept under
        another name); True when nothing is left in the log."""
        with self._lock:
            connection = self._connections[0] if self._connections else None
        if connection is None or not self._set_aside:
            return False
        try:
            busy, _frames, _done = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.DatabaseError:
            busy = 1
        if busy:
            log.warning("the replaced database's log was not fully written back; it stays in %s",
                        ", ".join(str(path) for path in self._set_aside))
        return not busy

    def _remove_set_aside_files(self) -> None:
        for path in self._set_aside:
            try:
                path.unlink()
            except OSError:
                pass  # already gone, or not ours to remove: harmless beside the database

    def _stop_if_damaged(self, exc: BaseException) -> bool:
        """A malformed database file: every write from now on could damage it further, so the
        service stops (one ERROR line, exit code 1) instead of retrying forever."""
        if not _is_corruption(exc):
            return False
        with self._trouble_lock:  # jobs on several threads may find it at once: one line, one stop
            first, self._db_damaged = not self._db_damaged, True
        if first:
            self.exit_code = 1
            log.error("the database file %s is damaged (%s); stopping. Restore a backup "
                      "(mentionwatch restore FILE --yes), then start the service again",
                      self.db_path.resolve(), exc,
                      extra={"fields": {"event": "database_damaged"}})
            self.stop("database file damaged")
        return True

    def _install_signal_handlers(self) -> None:
        # Handlers only set things in motion on another thread: the main thread may be inside
        # the scheduler's or logging's locks when a signal arrives.
        def on_stop(signum, _frame):
            name = signal.Signals(signum).name
            threading.Thread(target=self.stop, args=(f"{name} received",), daemon=True).start()

        def on_hup(_signum, _frame):
            threading.Thread(target=self._reload_on_signal, daemon=True).start()

        signal.signal(signal.SIGTERM, on_stop)
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:  # a service a script started in the
            signal.signal(signal.SIGINT, on_stop)  # background outlives a Ctrl-C meant for the script
        if hasattr(signal, "SIGHUP"):
            signal.signal(signal.SIGHUP, on_hup)

    # --- jobs from the watchlist -----------------------------------------------------------------

    def _apply_config(self, config: Config, first: bool = False) -> dict:
        """Make the scheduled jobs match `config`; returns counts of what changed."""
        now = dt.datetime.now(UTC)
        service = config.service
        wanted: dict[str, tuple[str, float, float]] = {  # job id -> (kind, interval, jitter)
            "score": ("score", service.score_interval, 0.0),
            "detect": ("detect", service.detect_interval, 0.0),
            "notify": ("notify", service.notify_retry_interval, 0.0),
            "watchlist": ("watchlist", self.reload_check, 0.0),
            "heartbeat": ("heartbeat", HEARTBEAT_SECONDS, 0.0),
            "maintenance": ("maintenance", HEARTBEAT_SECONDS, 0.0),
        }
        for job_id, target in collect_targets(config).items():
            interval = target.source_cfg.interval
            wanted[job_id] = ("collect", interval, min(service.jitter, interval / 2))
        existing = {job.id for job in self.scheduler.get_jobs()}
        summary = Counter(collect=sum(1 for kind, _, _ in wanted.values() if kind == "collect"))
        for job_id in sorted(existing - wanted.keys()):
            self.scheduler.remove_job(job_id)
            self._intervals.pop(job_id, None)
            summary["removed"] += 1
        first_runs = {"score": 1.0, "detect": 2.0, "notify": 3.0,
                      "watchlist": self.reload_check, "heartbeat": HEARTBEAT_SECONDS,
                      "maintenance": HEARTBEAT_SECONDS}
        for job_id, (kind, interval, jitter) in wanted.items():
            trigger = IntervalTrigger(seconds=interval, jitter=jitter or None, timezone=UTC)
            if job_id not in existing:
                delay = first_runs.get(job_id)
                if delay is None:  # a collection job: now (spread a little), or after its back-off
                    delay = random.uniform(0, min(FIRST_COLLECT_SPREAD_SECONDS, jitter or 0.5))
                    delay = max(delay, self._seconds_until_backoff_ends(job_id, now))
                self.scheduler.add_job(
                    self._run_job, trigger, args=(job_id, kind), id=job_id, name=job_id,
                    next_run_time=now + dt.timedelta(seconds=delay), replace_existing=True,
                    misfire_grace_time=_whole_seconds(service.misfire_grace),
                    executor=_executor_of(kind))
                summary["added"] += 0 if first else 1
            else:
                if self._intervals.get(job_id) != (interval, jitter):
                    job = self.scheduler.reschedule_job(job_id, trigger=trigger)
                    wait = self._seconds_until_backoff_ends(job_id, now)
                    if wait and job.next_run_time and job.next_run_time < now + dt.timedelta(seconds=wait):
                        # a new interval does not end a back-off or a rate limit early
                        self.scheduler.modify_job(job_id, next_run_time=now + dt.timedelta(seconds=wait))
                    summary["rescheduled"] += 1
                self.scheduler.modify_job(job_id, misfire_grace_time=_whole_seconds(service.misfire_grace))
            self._intervals[job_id] = (interval, jitter)
        if first:
            self._save_all_schedules(replace_all=True)
            return dict(summary)
        try:
            self._save_all_schedules(replace_all=True)
            self._schedules_unsaved = False
        except sqlite3.DatabaseError as exc:  # the jobs are updated all the same: recorded at the next heartbeat
            _rollback(self._local)
            if self._stop_if_damaged(exc):
                return dict(summary)
            self._schedules_unsaved = True
            log.warning("the reloaded jobs could not be recorded for `mentionwatch status` yet (%s); "
                        "the next heartbeat records them", database_problem(exc),
                        extra={"fields": {"event": "schedules_not_recorded"}})
        return dict(summary)

    def _at_most_a_day(self, job_id: str, until: str | None) -> str | None:
        """A stored back-off end no later than a site may make a pause (a day) or the service's
        `max_backoff`: an older version took a 'Retry-After: <a date in 2099>' as it came."""
        from crawler.pollers.base import MAX_SITE_PAUSE

        longest = max(MAX_SITE_PAUSE, self.config.service.max_backoff)
        latest = dt.datetime.now(UTC) + dt.timedelta(seconds=longest)
        try:
            if until is None or from_iso(until) <= latest:
                return until
        except ValueError:  # unreadable: _seconds_until_backoff_ends would fail on it too
            return None
        log.warning("source %s was held until %s; asked again from %s instead", job_id, until, to_iso(latest))
        return to_iso(latest)

    def _seconds_until_backoff_ends(self, job_id: str, now: dt.datetime) -> float:
        until = self._backoff_until.get(job_id)
        if not until:
            return 0.0
        return max(0.0, (from_iso(until) - now).total_seconds())

    def _reload_on_signal(self) -> None:
        """A SIGHUP's thread: reload, say any problem in one log line (never a bare traceback on
        stderr, past the log's format and its secret filter), and close the thread's connection."""
        try:
            self.reload("SIGHUP")
        except Exception as exc:  # a bug: logged with its traceback, through the service's log
            log.error("the SIGHUP reload failed with an unexpected %s; the previous jobs keep running",
                      type(exc).__name__, exc_info=True, extra={"fields": {"event": "reload_failed"}})
        finally:
            self._close_thread_connection()

    def reload(self, reason: str = "watchlist file changed") -> bool:
        """Re-read the watchlist and update the jobs; an invalid file changes nothing."""
        with self._housekeeping_run() as allowed:
            if not allowed:
                return False
            try:
                return self._reload(reason)
            except sqlite3.DatabaseError as exc:
                _rollback(self._local)
                if not self._stop_if_damaged(exc):
                    log.warning("watchlist reload (%s): %s", reason, describe_db_error(exc),
                                extra={"fields": {"event": "reload_failed"}})
                return False

    def _reload(self, reason: str) -> bool:
        with self._reload_lock:
            self._stamp = _file_stamp(self.config_path)
            if _holds_nothing(self.config_path):
                # an editor that empties the file before writing it, caught in between: taken as it
                # stands, it would stop every collection until the next check
                return self._reject(reason, f"{self.config_path}: the file is empty (to stop collecting, "
                                            "stop the service, or write watches: [])")
            try:
                new_config = load_config(self.config_path, keep_unset_env=KEEP_UNSET_IN_URLS)
            except ConfigError as exc:
                return self._reject(reason, str(exc))
            except Exception as exc:  # a bug in a check: the old jobs go on, and `status` says why
                log.error("reading the watchlist failed with an unexpected %s", type(exc).__name__, exc_info=True,
                          extra={"fields": {"event": "reload_failed"}})
                return self._reject(reason, f"{self.config_path}: could not be read ({type(exc).__name__}: {exc})")
            old_config = self.config
            if _model_key(new_config) != _model_key(old_config):
                try:  # loaded now, so that a model that cannot be used never replaces one that works
                    new_scorer = self._load_model(new_config)
                except ModelLoadError as exc:
                    return self._reject(reason, f"{self.config_path}: sentiment.model: {exc}")
                with self._scorer_lock:  # with its config: _get_scorer compares the two
                    self._install_scorer(new_scorer)
                    self.config = new_config
            self.config = new_config
            if Path(new_config.database).resolve() != Path(old_config.database).resolve():
                log.warning("the watchlist names another database; restart the service to use it")
            summary = self._apply_config(new_config)
            log.info("watchlist reloaded (%s): %d collection jobs, %d added, %d removed, %d rescheduled",
                     reason, summary.get("collect", 0), summary.get("added", 0),
                     summary.get("removed", 0), summary.get("rescheduled", 0),
                     extra={"fields": {"event": "reloaded", **summary}})
            self._record_view(new_config)
            warn_about_targets(new_config)
            return True

    def _reject(self, reason: str, problem: str) -> bool:
        """A watchlist change that cannot be used: one log line, recorded for `status`; the
        previous watchlist keeps running."""
        log.error("watchlist rejected (%s), the previous jobs keep running: %s", reason, problem,
                  extra={"fields": {"event": "reload_rejected"}})
        self._record_view(self.config, watchlist_problem=problem)
        return False

    def _record_view(self, config: Config, watchlist_problem: str | None = None) -> None:
        """What `mentionwatch status` shows as the service sees it: status runs in another
        environment (no secrets set, another user) and may not read the watchlist as it does."""
        from alerts.notify import target_problems

        model_id = configured_model_id(config.sentiment)  # None: the score job reports the problem
        try:
            record_service_view(self.db(), watchlist_problem=watchlist_problem,
                                notification_problems=target_problems(config), model_id=model_id)
        except sqlite3.DatabaseError as exc:
            _rollback(self._local)
            log.warning("could not record the watchlist's state for status: %s", describe_db_error(exc))

    def request_run(self, job_id: str) -> None:
        """Run a job as soon as possible (or right after its current run)."""
        with self._idle:
            if job_id in self._busy:
                self._rerun.add(job_id)  # run again once this run is over (see _on_run_over)
                return
        self._run_soon(job_id)

    def _on_run_over(self, event) -> None:
        """APScheduler counts the job's run as over: a run asked for meanwhile can start now."""
        with self._idle:
            self._busy.discard(event.job_id)
            again = event.job_id in self._rerun
            self._rerun.discard(event.job_id)
        if again:
            self._run_soon(event.job_id)

    def _run_soon(self, job_id: str, delay: float = 0.0, at: dt.datetime | None = None) -> None:
        """Run the job after `delay` seconds, or at `at`."""
        if self._stopping.is_set():
            return
        try:
            self.scheduler.modify_job(job_id, next_run_time=at or dt.datetime.now(UTC) + dt.timedelta(seconds=delay))
        except JobLookupError:
            pass  # removed by a reload meanwhile

    # --- running one job -------------------------------------------------------------------------

    def _run_job(self, job_id: str, kind: str) -> None:
        """What the scheduler calls: run the job's body, record and log the run, never crash."""
        if kind in HOUSEKEEPING_KINDS:  # housekeeping: no job_runs row, no log line
            self._housekeeping(kind)
            return
        if self._database_file_replaced():
            return
        with self._idle:
            # Checked and counted under one lock: finish() closes the database connections once
            # nothing is counted, and a run starting after that would use a closed connection.
            if self._stopping.is_set():
                return
            self._running.add(job_id)
            self._busy.add(job_id)
        started = time.monotonic()
        status, detail, run_id, unexpected = "error", {}, None, None
        try:
            db = self.db()
            run_id = start_job_run(db, job_id)
            status, detail = getattr(self, f"_job_{kind}")(db, job_id)
        except Exception as exc:
            status = "error"
            problem = _known_problem(exc)
            # redacted before it is cut: a known secret cut in two would no longer be recognised
            detail = {"error": problem or f"{type(exc).__name__}: {redact(str(exc))[:300]}"}
            if problem is None:
                unexpected = exc
            _rollback(self._local)
            self._stop_if_damaged(exc)
        finally:
            seconds = time.monotonic() - started
            self._record_run(run_id, status, detail, seconds)
            self._log_run(job_id, kind, status, detail, seconds)
            self._after_run(job_id, kind, status, detail)
        if unexpected is not None:
            raise unexpected  # the scheduler's EVENT_JOB_ERROR listener logs the traceback

    def _record_run(self, run_id, status, detail, seconds) -> None:
        if run_id is None:
            return
        try:
            finish_job_run(self.db(), run_id, status, detail, seconds)
        except sqlite3.DatabaseError as exc:
            _rollback(self._local)
            log.debug("could not record the job run: %s", exc)

    def _log_run(self, job_id, kind, status, detail, seconds) -> None:
        level = {"ok": logging.INFO, "skipped": logging.INFO, "partial": logging.WARNING,
                 "failed": logging.WARNING}.get(status, logging.ERROR)
        summary = detail.get("error") or ", ".join(
            f"{k} {v}" for k, v in detail.items() if isinstance(v, (int, float)) and not isinstance(v, bool))
        if detail.get("errors"):
            summary += f"; {detail['errors'][0]}"
        log.log(level, "job %s: %s in %.2fs%s", job_id, status, seconds, f" ({summary})" if summary else "",
                extra={"fields": {"job": job_id, "kind": kind, "status": status,
                                  "seconds": round(seconds, 3), **detail}})

    def _after_run(self, job_id: str, kind: str, status: str, detail: dict | None = None) -> None:
        try:
            if kind == "collect":
                self._update_backoff(job_id, status, (detail or {}).get(RATE_LIMITED_UNTIL),
                                     held=bool((detail or {}).get(HELD)))
            try:
                self._save_schedule(job_id)
            except sqlite3.DatabaseError:
                _rollback(self._local)
        finally:  # whatever failed above, the run is over: finish() must not wait for it
            with self._idle:
                self._running.discard(job_id)
                self._idle.notify_all()

    def _update_backoff(self, job_id: str, status: str, rate_limited_until: str | None = None,
                        held: bool = False) -> None:
        """A failed poll pushes the next one out exponentially; any success resets it. A source
        rate-limiting us until `rate_limited_until` (ISO, UTC) is not polled again before then. A
        poll `held` by a pause the site asked for (of another source on it, say) did not fail: it
        comes back when the pause ends, its failures neither counted nor reset."""
        if status not in ("ok", "partial", "failed"):
            return  # skipped, or an error of the database or the job itself: not the source's fault
        interval = self._intervals.get(job_id, (900.0, 0.0))[0]
        now = dt.datetime.now(UTC)
        limit = 0.0 if not rate_limited_until else (from_iso(rate_limited_until) - now).total_seconds()
        if status == "failed" and held:
            until = from_iso(to_iso(now + dt.timedelta(seconds=max(limit, 1.0))))
            self._backoff_until[job_id] = to_iso(until)
            self._run_soon(job_id, at=until)
            return
        if status in ("ok", "partial"):
            self._failures[job_id], self._backoff_until[job_id] = 0, None
            delay = interval
        else:
            failures = self._failures.get(job_id, 0) + 1
            delay = backoff_seconds(interval, failures, self.config.service.max_backoff)
            self._failures[job_id] = failures
            if delay > interval and delay >= limit:
                log.warning("source %s failed %d time(s) in a row; next try in %.0fs", job_id,
                            failures, delay, extra={"fields": {"job": job_id, "event": "backoff",
                                                               "failures": failures, "delay": delay}})
        if limit > delay:  # the rate limit ends after the usual wait: a try before would prolong it
            delay = limit
            log.warning("source %s is rate limited until %s; next try then (in %.0fs)", job_id,
                        rate_limited_until, delay,
                        extra={"fields": {"job": job_id, "event": "rate_limited", "delay": delay,
                                          "until": rate_limited_until}})
        elif status != "failed":
            return  # the job's next run is the trigger's, an interval from now
        # one moment for both, so the stored end of the back-off is the next run's time exactly
        until = from_iso(to_iso(now + dt.timedelta(seconds=delay)))
        self._backoff_until[job_id] = to_iso(until)
        self._run_soon(job_id, at=until)

    @contextmanager
    def _housekeeping_run(self):
        """Count housekeeping as under way, as `_run_job` counts runs; yields False when stopping."""
        with self._idle:
            allowed = not self._stopping.is_set()
            self._housekeeping_runs += allowed
        try:
            yield allowed
        finally:
            if allowed:
                with self._idle:
                    self._housekeeping_runs -= 1
                    self._idle.notify_all()

    def _housekeeping(self, kind: str) -> None:
        with self._housekeeping_run() as allowed:
            if allowed:
                self._housekeeping_step(kind)

    def _housekeeping_step(self, kind: str) -> None:
        if self._db_damaged:  # nothing more is written; the stop's ERROR line has said why
            return
        try:
            if kind == "watchlist":
                if _file_stamp(self.config_path) != self._stamp:
                    self.reload()
            elif self._database_file_replaced() or self._schema_upgraded_meanwhile():
                pass
            elif kind == "heartbeat":  # on its own thread: kept short, never waits for the pool
                heartbeat(self.db())
                unsaved = self._schedules_unsaved
                self._save_all_schedules(replace_all=unsaved)
                if unsaved:
                    self._schedules_unsaved = False
                self._wipe_after_erasures()  # never waits for a lock (see wipe_log)
            else:  # maintenance: may take long (an erasure), in the pipeline's pool
                if time.monotonic() >= self._next_prune:
                    self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                    prune_job_runs(self.db(), JOB_RUNS_KEEP_DAYS)
                    prune_crawl_runs(self.db(), CRAWL_RUNS_KEEP_DAYS)
                if self.config.service.keep_mentions and time.monotonic() >= self._next_retention:
                    self._next_retention = time.monotonic() + RETENTION_EVERY_SECONDS
                    erase_old_mentions(self.db(), self.config.service.keep_mentions)
        except sqlite3.DatabaseError as exc:
            _rollback(self._local)
            # damage found meanwhile by a job: what this step met then is part of it, said once
            if not self._stop_if_damaged(exc) and not self._db_damaged:
                log.warning("%s: %s", kind, describe_db_error(exc))

    def _wipe_after_erasures(self) -> None:
        """After an erasure (`mentionwatch forget` in another process, or retention), copy the
        write-ahead log into the database file and empty it, as soon as no program reads an older
        state of the file: until then older copies of the erased pages are in one or the other."""
        db = self.db()
        latest = db.execute("SELECT max(id) FROM erasures").fetchone()[0]
        if latest is not None and latest != self._wiped_erasure:
            if wipe_log(db):
                self._wiped_erasure = latest

    # --- the job bodies: each returns (status, detail) ---------------------------------------------

    def _job_collect(self, db, job_id: str) -> tuple[str, dict]:
        from crawler.collect import collect_source

        config = self.config
        target = collect_targets(config).get(job_id)
        if target is None:
            return "skipped", {"reason": "source no longer in the watchlist"}
        source_lock = self._source_lock(target)
        while not source_lock.acquire(timeout=1.0):  # the old settings' crawl of this source goes on
            if self._stopping.is_set():
                return "skipped", {"reason": "the service stopped while this source's previous crawl still ran"}
        try:
            if self._stopping.is_set():
                return "skipped", {"reason": "the service stopped before this crawl began"}
            config = self.config  # read again: the watchlist may have changed while this job waited
            target = collect_targets(config).get(job_id)
            if target is None:
                return "skipped", {"reason": "the source's settings changed while this job waited"}
            result = collect_source(db, config, target.watch, target.source_cfg,
                                    source_index=target.source_index, **self._collect_options)
        finally:
            source_lock.release()
        detail = {"watch": target.watch.name, "source": result.source,
                  "crawl_run": result.run_id, "fetched": result.fetched, "new": result.new,
                  "duplicates": result.duplicates, "filtered": result.filtered, "rejected": result.rejected}
        if result.errors:
            detail["errors"] = result.errors[:3]
        if result.retry_at is not None and result.retry_at > dt.datetime.now(UTC):
            until = to_iso(_whole_second_after(result.retry_at))
            detail[RATE_LIMITED_UNTIL] = until
            # first, so that `mentionwatch status` shows it as the job's note
            detail["errors"] = [f"rate limited until {until}: waiting for the rate limit to end "
                                f"before the next try", *result.errors[:2]]
        if result.held and result.status == "failed":  # it waited for the site's pause: no failure of its own
            detail[HELD] = True
        if result.new:
            self.request_run("score")
        return result.status, detail

    def _source_lock(self, target: CollectTarget) -> threading.Lock:
        """The lock of the source `target` polls, whatever its options: the job of its settings
        before a watchlist edit may still be crawling when the job of its new settings starts."""
        with self._lock:
            return self._source_locks.setdefault(
                (target.watch.name, target.source_cfg.type, target.source_index), threading.Lock())

    def _job_score(self, db, _job_id: str) -> tuple[str, dict]:
        """Score the backlog in committed chunks, each starting after the last mention the one
        before read: mentions that cannot be scored are passed over, never read again by this
        process for this model in that pass (see `_score_after`), and stay in the unscored backlog.

        The mentions detection reads (created within `_detection_reach` of now) are scored first, and
        detection is asked for as soon as they are: after a model change, every stored mention
        waits for a score from the new model, and oldest first the newest would wait for the whole
        history (hours for a large database). Between chunks of the history, what has come in since
        is scored first again. Each pass goes in the order the mentions were stored, so that
        detection does not see recent posts scored against a baseline that is not scored yet."""
        scorer = self._get_scorer()
        self._read_again_where_asked(db)
        recent_since = to_iso(dt.datetime.now(dt.timezone.utc) - _detection_reach(self.config))
        scored = skipped = 0
        unseen_by_detection = 0  # history scored since detection was last asked for
        history_left = True
        while history_left and not self._stopping.is_set():
            recent_scored, recent_skipped, _ = self._score_chunks(db, scorer, self._recent_score_after,
                                                                  recent_since, until_end=True)
            if recent_scored:
                self.request_run("detect")
                unseen_by_detection = 0
            history_scored, history_skipped, history_left = self._score_chunks(db, scorer, self._score_after,
                                                                               None, until_end=False)
            unseen_by_detection += history_scored
            scored += recent_scored + history_scored
            skipped += recent_skipped + history_skipped
        if unseen_by_detection:
            self.request_run("detect")
        return "ok", {"scored": scored, "skipped": skipped, "model": scorer.model_id}

    def _read_again_where_asked(self, db) -> None:
        """Move the score job's places back to the lowest mention whose scores `import --update`
        deleted since (storage.migrations.m018): they lie behind them, and would wait for a restart."""
        with db.atomic():
            row = db.execute("SELECT lowest_mention_id FROM rescore_requests WHERE id = 1").fetchone()
            if row is None:
                return
            db.execute("DELETE FROM rescore_requests WHERE id = 1")
        for cursors in (self._score_after, self._recent_score_after):
            for model_id, place in cursors.items():
                cursors[model_id] = min(place, row[0] - 1)

    def _score_chunks(self, db, scorer, cursors: dict[str, int], created_since: str | None,
                      until_end: bool) -> tuple[int, int, bool]:
        """(scored, skipped, more left) after one chunk, or all of them (`until_end`), of the mentions
        after `cursors`' place for the model (and created at `created_since` or later)."""
        from sentiment import score_unscored

        scored = skipped = 0
        while not self._stopping.is_set():
            step = score_unscored(db, scorer, limit=SCORE_CHUNK, after_id=cursors.get(scorer.model_id, 0),
                                  created_since=created_since)
            cursors[scorer.model_id] = step.last_id
            scored += step.scored
            skipped += step.skipped
            if step.scored + step.skipped < SCORE_CHUNK:  # the end of the backlog
                return scored, skipped, False
            if not until_end:
                break
        return scored, skipped, True

    def _job_detect(self, db, _job_id: str) -> tuple[str, dict]:
        from alerts.detect import run_detection

        config = self.config
        result = run_detection(db, config, notify=True)
        detail = {"checked": result.checked, "opened": len(result.opened), "updated": len(result.updated)}
        if result.opened or result.updated or result.queued:
            detail.update(self._send_notifications(db, config))
        return "ok", detail

    def _job_notify(self, db, _job_id: str) -> tuple[str, dict]:
        detail = self._send_notifications(db, self.config)
        return ("failed" if detail["failed"] and not detail["sent"] else "ok"), detail

    def _send_notifications(self, db, config: Config) -> dict:
        from alerts.notify import send_pending

        with self._notify_lock:  # detect and notify both send: one at a time, or a row goes twice
            result = send_pending(db, config, keep_going=lambda: not self._stopping.is_set(),
                                  drop_removed_targets=True)
        return {"sent": result.sent, "failed": result.failed, "unconfirmed": result.unconfirmed,
                "superseded": result.superseded}

    def _get_scorer(self):
        """The configured model's scorer: loaded at first use, and loaded again when the model's
        files changed while the service runs (`mentionwatch model build`, new weights pulled, a
        model folder's symlink pointed elsewhere). Its id names those files, and detection and
        `status` work the id out afresh from them: scores stored under the old id would never be
        looked at. Finding the id is cheap (the weights file is hashed once per size and mtime)."""
        changed = False
        with self._scorer_lock:
            if self._scorer is None:
                self._install_scorer(self._load_model(self.config))
            elif self._loaded_scorer() is self._scorer:  # not a scorer put in place by hand (tests)
                current = configured_model_id(self.config.sentiment)
                loaded = self._scorer.model_id
                if current is not None and current != loaded:
                    missing = missing_model_folder(self.config.sentiment.model)
                    if missing:  # a folder being replaced, say: not "changed" to an hf: id; back next run
                        raise ModelLoadError(missing)
                    log.info("the sentiment model's files changed, reloading it: %s -> %s", loaded, current,
                             extra={"fields": {"event": "model_changed", "old_model": loaded,
                                               "model": current}})
                    # ModelLoadError (a damaged new file): the run says it, and the next run tries again
                    self._install_scorer(self._load_model(self.config))
                    changed = True
            scorer = self._scorer
        if changed:
            self._record_model_id(scorer.model_id)
        return scorer

    def _record_model_id(self, model_id: str) -> None:
        """The model id `status` counts the backlog for while the service runs (the rest of what
        `_record_view` records, a rejected watchlist's problem say, stays as it is)."""
        if not self._claimed:
            return
        try:
            db = self.db()
            with db.atomic():
                db.conn.execute("UPDATE service_process SET model_id = ? WHERE id = 1 AND pid = ?",
                                [model_id, os.getpid()])
        except sqlite3.DatabaseError as exc:
            _rollback(self._local)
            log.warning("could not record the new model id for status: %s", describe_db_error(exc))

    def _install_scorer(self, scorer) -> None:
        """Use `scorer` from now on (under `_scorer_lock`); the one it replaces is dropped."""
        self._scorer = scorer
        self._loaded_scorer = weakref.ref(scorer)

    @staticmethod
    def _load_model(config: Config):
        """The configured sentiment model, loaded (ModelLoadError: one line saying why not).

        Not kept in `load_scorer`'s cache: the service holds the one model it uses, and a model
        replaced by a reload or by new weights is freed, not kept for the life of the process."""
        from sentiment import load_scorer

        _quiet_progress_bars()
        started = time.monotonic()
        try:
            scorer = load_scorer(config.sentiment, cache=False)
        except ModelLoadError:
            raise
        except Exception as exc:  # out of memory, a broken file ...: one line too, never a traceback
            raise ModelLoadError(f"model {config.sentiment.model!r} could not be loaded: "
                                 f"{type(exc).__name__}: {redact(str(exc))[:300]}") from exc
        log.info("sentiment model %s loaded in %.1fs", scorer.model_id, time.monotonic() - started,
                 extra={"fields": {"event": "model_loaded", "model": scorer.model_id}})
        return scorer

    # --- state for `mentionwatch status` ---------------------------------------------------------

    def _schedule_of(self, job) -> JobSchedule:
        kind = job.args[1] if len(job.args) > 1 else job.id
        watch = source = None
        if kind == "collect":
            _, watch, source = job.id.split(":", 2)
        return JobSchedule(
            job_id=job.id, kind=kind, watch=watch, source=source,
            interval_seconds=self._intervals.get(job.id, (None, None))[0],
            next_run_at=to_iso(job.next_run_time) if job.next_run_time else None,
            failures=self._failures.get(job.id, 0), backoff_until=self._backoff_until.get(job.id))

    def _visible_jobs(self):
        return [job for job in self.scheduler.get_jobs() if job.id not in HOUSEKEEPING_KINDS]

    def _save_all_schedules(self, replace_all: bool = False) -> None:
        save_schedules(self.db(), [self._schedule_of(job) for job in self._visible_jobs()],
                       replace_all=replace_all)

    def _save_schedule(self, job_id: str) -> None:
        job = self.scheduler.get_job(job_id)
        if job is not None:
            save_schedules(self.db(), [self._schedule_of(job)])

    # --- scheduler events ------------------------------------------------------------------------

    def _on_scheduler_event(self, event) -> None:
        if event.code == EVENT_SCHEDULER_STARTED:
            if self._stopping.is_set():  # the stop signal came while it was starting
                self.scheduler.shutdown(wait=False)
        elif event.code == EVENT_JOB_ERROR:
            log.error("job %s raised an unexpected %s; it runs again at its next time",
                      event.job_id, type(event.exception).__name__,
                      exc_info=(type(event.exception), event.exception, event.exception.__traceback__),
                      extra={"fields": {"job": event.job_id, "event": "job_error"}})
        elif event.code == EVENT_JOB_MISSED:
            log.warning("job %s missed its run time by more than the misfire grace time (%s)",
                        event.job_id, event.scheduled_run_time,
                        extra={"fields": {"job": event.job_id, "event": "missed"}})
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.debug("job %s is still running; this turn is skipped", event.job_id,
                     extra={"fields": {"job": event.job_id, "event": "skipped_busy"}})


def _detection_reach(config: Config) -> dt.timedelta:
    """How far back from now detection reads mentions: HISTORY_DAYS judged, and before them the
    longest warm-up or baseline of the watches it runs for; a day more, so that the edge is never
    short by a bucket."""
    from alerts.detect import HISTORY_DAYS, history_needed

    settings = [config.alert_settings(watch.name) for watch in config.watches]
    needed = max((history_needed(one) for one in settings if one.enabled), default=dt.timedelta(0))
    return dt.timedelta(days=HISTORY_DAYS + 1) + needed


def _known_problem(exc: BaseException) -> str | None:
    """One line for an error a job run may meet in normal operation (the database locked or full,
    a sentiment model that cannot be loaded); None for a bug, which is logged with its traceback."""
    if isinstance(exc, (ModelLoadError, ScoringFailed)):
        return f"{exc}; will retry at the job's next run"
    return describe_db_error(exc)


def _file_identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the file now at `path`, or None when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def _is_corruption(exc: BaseException) -> bool:
    """SQLITE_CORRUPT (and SQLITE_NOTADB): the file itself is malformed, not merely busy."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
    return "malformed" in str(exc) or "not a database" in str(exc)


def _quiet_progress_bars() -> None:
    """Model loading draws progress bars on stderr: noise in a service's log."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except Exception:  # an older or absent transformers: nothing to quiet
        pass


def _file_stamp(path: Path) -> tuple[int, int] | None:
    """(modification time in ns, size) of the watchlist file: a change means a reload."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _holds_nothing(path: Path) -> bool:
    """Whether the watchlist file reads as no YAML at all: white space, a byte order mark, comments,
    a bare '---' (False when it cannot be read: load_config says why)."""
    import yaml

    try:
        return yaml.safe_load(path.read_bytes().decode("utf-8-sig")) is None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False


def _model_key(config: Config) -> str:
    return config.sentiment.model_dump_json()


def _whole_second_after(moment: dt.datetime) -> dt.datetime:
    """`moment` rounded up to a whole second (stored times have none: never a moment too early)."""
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + dt.timedelta(seconds=1)


@contextmanager
def _short_busy_timeout(db, milliseconds: int = STOP_WRITE_TIMEOUT_MS):
    """Writes of a stop wait this briefly for a lock another program holds; the connection's own
    busy timeout is restored after (the thread may be a job's, still running)."""
    before = db.execute("PRAGMA busy_timeout").fetchone()[0]
    db.execute(f"PRAGMA busy_timeout = {int(milliseconds)}")
    try:
        yield db
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(before)}")


def _executor_of(kind: str) -> str:
    """The thread pool a job of this kind runs in (collections share the default one)."""
    if kind == "heartbeat":
        return HEARTBEAT_EXECUTOR
    return PIPELINE_EXECUTOR if kind in PIPELINE_KINDS else "default"


def _whole_seconds(seconds: float) -> int:
    return max(1, int(round(seconds)))


def _rollback(local: threading.local) -> None:
    db = getattr(local, "db", None)
    if db is None:
        return
    try:
        db.conn.rollback()
    except sqlite3.Error:
        pass
