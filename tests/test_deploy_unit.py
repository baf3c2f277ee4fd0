"""The systemd unit in deploy/: every setting sits in the section where systemd reads it (a key in
the wrong section is ignored with only a warning in the journal, so the unit seems to work)."""
from __future__ import annotations

import configparser
import shutil
import subprocess

from conftest import REPO_ROOT

UNIT = REPO_ROOT / "deploy" / "mentionwatch.service"
# keys that systemd reads only in [Unit]; under [Service] they are "Unknown key ..., ignoring"
UNIT_ONLY = {"StartLimitIntervalSec", "StartLimitBurst", "Description", "Wants", "After", "Requires"}


def _sections() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(UNIT.read_text(encoding="utf-8"))
    return parser


def test_restart_limit_is_in_the_unit_section_where_systemd_reads_it():
    unit = _sections()
    assert unit["Unit"]["StartLimitIntervalSec"] == "600"
    assert unit["Unit"]["StartLimitBurst"] == "5"
    # with RestartSec=30 the limit must span more than 5 restarts, or it can never be reached
    assert int(unit["Unit"]["StartLimitIntervalSec"]) > 5 * int(unit["Service"]["RestartSec"])
    misplaced = sorted(UNIT_ONLY & set(unit["Service"]))
    assert not misplaced, f"[Service] holds keys systemd ignores there: {misplaced}"


def test_systemd_finds_no_unknown_key_where_it_is_installed(tmp_path):
    copy = tmp_path / "mentionwatch.service"
    copy.write_text(UNIT.read_text(encoding="utf-8"), encoding="utf-8")
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # machines without systemd: the section check above still ran
        return
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    assert "Unknown key" not in result.stdout + result.stderr
