"""The hardening report reads systemd's scores and holds them to the limit."""

from __future__ import annotations

from homelab.hardening import LIMIT, Score, parse, report

SAFE = "  ✓ ...\n\n→ Overall exposure level for optillm.service: 0.9 SAFE 😀\n"
OK = "→ Overall exposure level for litellm.service: 1.1 OK 🙂\n"
EXPOSED = "→ Overall exposure level for bare.service: 9.6 UNSAFE 😨\n"


def test_parse_reads_the_overall_line() -> None:
    assert parse("mini/optillm.service", SAFE) == Score("mini/optillm.service", 0.9, "SAFE")


def test_a_unit_over_the_limit_is_not_within() -> None:
    assert parse("x", OK).within
    assert not parse("x", EXPOSED).within
    assert LIMIT == 2.0


def test_output_without_a_score_is_unscored() -> None:
    score = parse("mini/gone.service", "Unit gone.service not found.\n")
    assert score.exposure is None and not score.within
    assert "no score" in score.verdict


def test_report_names_the_largest_and_says_met() -> None:
    lines, ok = report([parse("mini/a.service", SAFE), parse("mini/b.service", OK)])
    assert ok
    assert lines[-1] == "largest: 1.1 (mini/b.service); limit 2.0: met"


def test_report_fails_when_one_unit_is_exposed() -> None:
    lines, ok = report([parse("mini/a.service", OK), parse("mini/bare.service", EXPOSED)])
    assert not ok
    assert "over the limit" in lines[1]
    assert lines[-1].endswith("NOT MET")


def test_report_fails_when_a_unit_could_not_be_scored() -> None:
    _, ok = report([parse("mini/a.service", OK), parse("mini/gone.service", "not found")])
    assert not ok


def test_launchd_units_are_listed_but_not_counted() -> None:
    lines, ok = report(
        [parse("mini/a.service", OK), Score("studio/com.x.plist", None, "launchd: not scored")]
    )
    assert ok
    assert "studio/com.x.plist: launchd: not scored" in lines
