"""`mentionwatch bench pipeline` end to end, small: the benchmark writes its own watchlists, which
must pass the same checks as a user's (a plain-number interval was refused once, and the command
failed before measuring anything)."""
from __future__ import annotations

import re


def test_bench_pipeline_runs_and_meets_its_latency_goal(cli):
    result = cli("bench", "pipeline", "--mentions", "200", "--poll-interval", "2s")
    assert result.exit_code == 0, result.output
    whole = re.search(r"whole pipeline\s+[\d.]+\s+(\d+)\s+\d+", result.output)
    assert whole and int(whole.group(1)) == 200, result.output  # every mention of the stream stored
    assert re.search(r"post appeared -> alert stored\s+[\d.]+s", result.output), result.output
    assert "goal: alert within one poll interval + 60 s = 62s: met" in result.output
