"""The deploy's last wait: the daemons it started, and those still starting by themselves."""

from __future__ import annotations

import subprocess

from deploys.waits import Unanswered


def test_the_unanswered_fact_names_each_daemon_that_does_not_answer() -> None:
    """Run as the host would (sh): a port nothing listens on answers nothing (refused at once)."""
    command = Unanswered().command(
        (("ov-server", "http://127.0.0.1:9/health"), ("it's", "http://127.0.0.1:9/x y"))
    )
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=30)
    # Asked side by side: they answer in any order.
    assert sorted(Unanswered().process(out.stdout.splitlines())) == ["it's", "ov-server"], out


def test_a_blank_line_is_no_daemon() -> None:
    assert Unanswered().process(["", "  ", "searxng"]) == ["searxng"]
