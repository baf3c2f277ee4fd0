"""The README's two commands are the ones the project really uses, and every command is documented."""
from __future__ import annotations

import re
from pathlib import Path

from mentionwatch.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _first_code_blocks(count: int) -> list[str]:
    return re.findall(r"```sh\n(.*?)\n```", README, flags=re.S)[:count]


def test_readme_opens_with_setup_and_test_commands_that_ci_runs():
    setup_and_run, test = _first_code_blocks(2)
    assert setup_and_run.startswith("bash scripts/setup.sh")
    assert test == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in ci and "bash scripts/test.sh" in ci
    for script in ("scripts/setup.sh", "scripts/test.sh"):
        assert (ROOT / script).is_file()


def test_every_top_level_command_appears_in_the_readme_command_table():
    table = README[README.index("## Every command"):README.index("## Collecting mentions")]
    missing = [name for name in main.commands if f"`mentionwatch {name}" not in table]
    assert not missing, f"commands missing from the README's command table: {missing}"
