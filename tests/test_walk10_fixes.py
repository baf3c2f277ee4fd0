"""Fixes from the tenth walkthrough and the ninth review (session of 2026-12-06): each test fails
without its fix."""
from __future__ import annotations

from mentionwatch.triage import export as export_module

from tests.test_export import _stock


def test_ctrl_c_during_an_export_exits_130_and_keeps_the_previous_file(cli, tmp_path, monkeypatch):
    """Every command stopped by Ctrl-C exits 130 with one line, as `score` does; click's own
    backstop printed "Aborted!" and exit code 1, the code of a failure."""
    db_path = tmp_path / "stocked.db"
    _stock(db_path)
    out = tmp_path / "todo.csv"
    out.write_text("yesterday's export\n", encoding="utf-8")

    def interrupted(rows, path):
        path.write_text("half a file", encoding="utf-8")
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "write_csv", interrupted)
    result = cli("--db", db_path, "export", "--out", out)
    assert result.exit_code == 130, result.output
    assert "Aborted" not in result.output and "Traceback" not in result.output
    assert result.stderr.strip() == "Interrupted."
    assert out.read_text(encoding="utf-8") == "yesterday's export\n"
