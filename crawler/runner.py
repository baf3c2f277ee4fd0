"""How a spider runs: `run_spider` (or `run_spider_from_config`) starts one OS process per crawl and
reads its result.

A Twisted reactor cannot be restarted inside one process (ReactorNotRestartable), so, like scrapyd,
every crawl gets a fresh `python -m crawler.runner` child. The parent sends the job (database path,
watch, source, setting overrides, the secret values to hide) as JSON on the child's stdin; the child
runs the spider with Scrapy's AsyncCrawlerProcess and prints one result line on stdout. This makes
`run_spider` safe to call again and again from a long-lived process such as the scheduler. What the
child reports (error lines, its log on stderr) is redacted again by the parent
(`mentionwatch.logging_setup.redact`).

On a time limit the child is asked to stop (CLOSESPIDER_TIMEOUT) so the pipeline still stores what it
has; only when it overstays is it terminated, then killed. A child whose parent dies (the service
killed with kill -9) dies with it, so no orphan crawls on beside a restarted service.
"""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from crawler.spiders.options import dotted, first_problem
from mentionwatch.config import Config, ConfigError, SourceConfig, Watch, load_config
from mentionwatch.logging_setup import known_secrets, redact, redact_data, remember_secrets

log = logging.getLogger(__name__)

RESULT_MARKER = "MENTIONWATCH_RESULT "
PARENT_PID_ENV = "MENTIONWATCH_CRAWL_PARENT"  # tells the child whose death it must not outlive
DEFAULT_TIMEOUT_SECONDS = 3600  # a crawl's time limit when the caller gives none
GRACE_SECONDS = 30  # how long a child may take to close after its time limit
RELAYED_LOG_LINES = 20  # child warnings repeated in the parent's log
PROJECT_ROOT = Path(__file__).resolve().parent.parent
COUNT_KEYS = ("fetched", "new", "duplicates", "rejected", "filtered")


def run_spider(db_path: str | Path, watch: Watch | dict, source_cfg: SourceConfig | dict, *,
               settings_overrides: dict | None = None, timeout: float | None = None) -> dict:
    """Crawl one Scrapy source of one watch in a child process; never raises for crawl problems.

    `watch` is a `Watch` (or its dict) and `source_cfg` one of its sources (or its dict).

    Returns {fetched, new, duplicates, rejected, filtered, errors: [str], pages (pages whose
    mentions are in the database, new or stored before: what makes a run with errors 'partial'
    rather than 'failed'), pages_read, batches (storage transactions), robots_blocked,
    finish_reason, seconds}. `settings_overrides` are Scrapy settings for this crawl only (tests
    use them to drop the polite delays). `timeout` is in seconds (default: one hour); then the
    crawl stops, keeping what it stored, and the rest is left for the next run.
    """
    started = time.monotonic()
    try:
        watch, source_cfg = _as_watch(watch), _as_source(source_cfg)  # checks the spider options too
    except ValueError as exc:  # pydantic's ValidationError included
        return _result(errors=[_one_line(exc)], seconds=time.monotonic() - started)
    return _crawl_in_child(db_path, watch, source_cfg, started, settings_overrides, timeout)


def run_spider_from_config(db_path: str | Path, config: Config | str | Path, watch_name: str,
                           source_index: int, *, settings_overrides: dict | None = None,
                           timeout: float | None = None) -> dict:
    """`run_spider` for callers that hold the whole configuration (crawler.collect): the source is
    the `source_index`-th of watch `watch_name`. `config` is a `Config`, its JSON text or the path
    of the watchlist file. A configuration that cannot be read, or that has no such source, is an
    error line of the result, as in `run_spider`."""
    started = time.monotonic()
    try:
        watch, source_cfg = _source_from_config(config, watch_name, source_index)
    except ValueError as exc:
        return _result(errors=[_one_line(exc)], seconds=time.monotonic() - started)
    return _crawl_in_child(db_path, watch, source_cfg, started, settings_overrides, timeout)


def _crawl_in_child(db_path: str | Path, watch: Watch, source_cfg: SourceConfig, started: float,
                    settings_overrides: dict | None, timeout: float | None) -> dict:
    """Send the job to a `python -m crawler.runner` child and return its result, timed from
    `started` (the caller's start, before its checks)."""
    timeout = DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout
    job = {
        "db_path": str(Path(db_path).resolve()),
        "watch": watch.model_dump(mode="json"),
        "source": source_cfg.model_dump(mode="json"),
        "written_base_url": source_cfg.written_base_url,  # private attributes: model_dump leaves them out
        "written_options": source_cfg.written_options,
        "settings": settings_overrides or {},
        "timeout": timeout,
        "secrets": known_secrets(),  # the ${VAR} values this process read: the child hides them too
    }
    outcome = _run_child(json.dumps(job), timeout)
    outcome["seconds"] = round(time.monotonic() - started, 3)
    return outcome


def _source_from_config(config: Config | str | Path, watch_name: str,
                        source_index: int) -> tuple[Watch, SourceConfig]:
    if not isinstance(config, Config):
        text = str(config)
        try:
            if text.lstrip().startswith("{"):
                config = Config.model_validate_json(text)
            else:
                config = load_config(text)
        except (ConfigError, ValueError) as exc:
            raise ValueError(f"cannot read the configuration: {_one_line(exc)}") from None
    try:
        watch = config.watch(watch_name)
        return watch, watch.sources[source_index]
    except (KeyError, IndexError):
        raise ValueError(f"no source #{source_index} in watch {watch_name!r}") from None


def _one_line(exc: Exception) -> str:
    """A pydantic error as 'bad watch: query.any[0]: Input should be a valid string'; others as is."""
    if isinstance(exc, ValidationError):
        location, message = first_problem(exc)
        if not location:  # a whole-model check's own line
            return message
        return f"bad {exc.title.lower()}: {dotted(location)}: {message}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _as_watch(watch) -> Watch:
    return watch if isinstance(watch, Watch) else Watch.model_validate(watch)


def _as_source(source_cfg) -> SourceConfig:
    if isinstance(source_cfg, SourceConfig):
        return source_cfg
    try:
        return SourceConfig.model_validate(source_cfg)
    except ValidationError as exc:
        location, message = first_problem(exc)
        if location[:1] != ("options",):
            raise
        # a bad option is placed at its field (the watchlist's error line gives that line):
        # here it reads 'reviews: options.item: ...'
        raise ValueError(f"{source_cfg.get('type')}: {dotted(location)}: {message}") from None


def _result(**values) -> dict:
    result = {key: 0 for key in COUNT_KEYS}
    result.update(errors=[], pages=0, pages_read=0, batches=0, robots_blocked=0, finish_reason=None,
                  seconds=0.0)
    result.update(values)
    return result


# --- parent side -----------------------------------------------------------------------------

def _run_child(job_text: str, timeout: float) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    env[PARENT_PID_ENV] = str(os.getpid())
    process = subprocess.Popen([sys.executable, "-m", "crawler.runner"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               encoding="utf-8", errors="replace", env=env,
                               start_new_session=True)  # a Ctrl-C in the terminal is ours to handle
    stopped_note = None
    try:
        stdout, stderr = process.communicate(job_text, timeout=timeout + GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        stopped_note = (f"crawl stopped: still running {GRACE_SECONDS:g} s after its "
                        f"{timeout:g} s time limit")
        stdout, stderr = _stop(process)
    except BaseException:
        _stop(process)
        raise
    _relay_warnings(stderr)
    outcome = _parse_child_output(stdout, stderr, process.returncode)
    if stopped_note:
        outcome["errors"].append(stopped_note)
    outcome["errors"] = redact_data(outcome["errors"])  # they quote the URLs fetched, keys included
    return outcome


def _stop(process: subprocess.Popen) -> tuple[str, str]:
    """SIGTERM first (Scrapy closes the spider and the pipeline stores its batch), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        try:
            return process.communicate(timeout=GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            continue
    return "", ""


def _parse_child_output(stdout: str, stderr: str, returncode: int | None) -> dict:
    for line in reversed((stdout or "").splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return _result(**json.loads(line[len(RESULT_MARKER):]))
            except (ValueError, TypeError):
                break
    last_words = [line.strip() for line in (stderr or "").splitlines() if line.strip()]
    reason = redact(last_words[-1])[:300] if last_words else "no output"  # redacted before cut: a secret may straddle the cut
    return _result(errors=[f"the crawl process ended without a result (exit {returncode}): {reason}"])


def _relay_warnings(stderr: str) -> None:
    """Repeat the child's warnings (rejected items, failed pages) in this process's log."""
    relayed = 0
    for line in redact(stderr or "").splitlines():
        level = re.search(r"\] (WARNING|ERROR|CRITICAL): ", line)
        if level:
            if relayed < RELAYED_LOG_LINES:  # at the child's level, without repeating its name
                log.log(logging.getLevelName(level[1]), "spider: %s", line[level.end():][:500])
            relayed += 1
        else:
            log.debug("spider: %s", line)
    if relayed > RELAYED_LOG_LINES:
        log.warning("spider: ... and %d more warnings and errors", relayed - RELAYED_LOG_LINES)


# --- child side ------------------------------------------------------------------------------

def crawl(job: dict) -> dict:
    """Run one crawl in this process (the child): only ever once per process."""
    from scrapy.crawler import AsyncCrawlerProcess
    from scrapy.settings import Settings

    from crawler.spiders import SPIDERS
    from crawler.spiders.options import parse_options

    remember_secrets(job.get("secrets") or [])  # kept out of the mentions' URLs and ids
    watch, source_cfg = _as_watch(job["watch"]), _as_source(job["source"])
    source_cfg._written_base_url = job.get("written_base_url")  # its key, as the parent works it out
    source_cfg._written_options = job.get("written_options")
    spider_class = SPIDERS.get(source_cfg.type)
    if spider_class is None:
        return _result(errors=[f"{source_cfg.type!r} is not a Scrapy source"])
    options = parse_options(source_cfg.type, source_cfg.options)

    settings = Settings()
    settings.setmodule("crawler.settings", priority="project")
    if options.min_interval is not None:
        # the user's pace for this site: AutoThrottle starts there and only slows down from it
        settings.set("DOWNLOAD_DELAY", options.min_interval, priority="project")
        settings.set("AUTOTHROTTLE_START_DELAY", options.min_interval, priority="project")
    if job.get("timeout"):
        settings.set("CLOSESPIDER_TIMEOUT", float(job["timeout"]), priority="cmdline")
    settings.update(job.get("settings") or {}, priority="cmdline")

    process = AsyncCrawlerProcess(settings)
    crawler = process.create_crawler(spider_class)
    process.crawl(crawler, watch=watch, source=source_cfg, db_path=job["db_path"])
    process.start()
    return _crawl_result(crawler)


def _crawl_result(crawler) -> dict:
    stats = crawler.stats.get_stats()
    spider = getattr(crawler, "spider", None)
    errors = spider.error_lines() if spider is not None else ["the spider did not start"]
    reason = stats.get("finish_reason")
    if reason and reason != "finished":
        errors.append(f"crawl ended early: {reason}")
    return _result(**{key: stats.get(f"mentionwatch/{key}", 0) for key in COUNT_KEYS},
                   errors=errors, pages=stats.get("mentionwatch/pages_stored", 0),
                   pages_read=stats.get("mentionwatch/pages", 0),
                   batches=stats.get("mentionwatch/batches", 0),
                   robots_blocked=stats.get("robotstxt/forbidden", 0), finish_reason=reason)


def die_with_parent() -> None:
    """End this child as soon as the process that started it is gone (killed with kill -9, say):
    an orphan would go on storing reviews beside the restarted service. Batches it committed stay."""
    parent = int(os.environ.get(PARENT_PID_ENV) or 0)
    if not parent:
        return  # started by hand
    if not _kill_me_with_parent():  # not Linux: look at the parent now and then
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True).start()
    if os.getppid() != parent:  # it died before the lines above took effect
        os._exit(1)


def _kill_me_with_parent() -> bool:
    """Linux: the kernel sends SIGKILL to this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    pr_set_pdeathsig = 1
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def main() -> int:
    die_with_parent()
    try:
        job = json.loads(sys.stdin.read())
        result = crawl(job)
    except (ValueError, KeyError, TypeError) as exc:
        result = _result(errors=[f"bad crawl job: {type(exc).__name__}: {str(exc)[:300]}"])
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
