"""Report formats (table, json, junit, sarif, markdown), merging, exit codes, the prove/merge CLIs.

Formatter tests use synthetic records (no solver); the CLI tests prove one
fast property with a short timeout.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from tokenproof.cache import CacheStats, Stats
from tokenproof.catalog_run import (Record, Report, load_report, merge_reports, report_from_json, report_to_json)
from tokenproof.report import FORMATS, failure_text, render

FAST = "fork-yields-a-distinct-token"


def rec(pid: str, verdict: str, expected: str, **kw) -> Record:
    base = dict(id=pid, statement=f"statement of {pid} | with a pipe", kind="state", area="sessions",
                sections=["§4.7"], clauses=["SESS-04"], source=["properties/sessions.py", 57], profile="kacs",
                verdict=verdict, expected=expected, seconds=1.25)
    base.update(kw)
    return Record(**base)


def sample() -> Report:
    return Report("kacs", "standard", [
        rec("a-proved", "proved", "proved", lemmas_used=["lemma-x"], detail="inductive with lemmas"),
        rec("b-refuted-as-expected", "refuted", "refuted", detail="counterexample of 2 step(s)",
            counterexample="counterexamples/b-refuted-as-expected.json",
            counterexample_steps=["1. alice: fork() -> OK", "2. kernel: kacs_destroy_empty_logon_session() -> OK"],
            location=["model/rules/sessions.py", 90], failing_rule="kacs_destroy_empty_logon_session"),
        rec("c-unknown-not-expected", "unknown", "proved", detail="not inductive: it can be broken by close_handle",
            cti={"rule": "close_handle", "property": "c-unknown-not-expected", "actor": 1, "args": {"fd": 3},
                 "errno": 0},
            location=["model/rules/lifecycle.py", 12], failing_rule="close_handle"),
    ], seconds=3.5, cache=CacheStats(Stats(1, 2), Stats(10, 20)))


def test_failure_text_carries_verdict_detail_cti_and_counterexample():
    r = sample().records
    t = failure_text(r[2])
    assert "unknown, expected proved" in t and "close_handle(fd=3)" in t and "model/rules/lifecycle.py:12" in t
    t = failure_text(r[1])
    assert "counterexamples/b-refuted-as-expected.json" in t and "2. kernel: kacs_destroy" in t


def test_json_round_trip_and_exit_codes():
    rep = sample()
    doc = report_to_json(rep)
    assert doc["schema"] == "tokenproof-report/1" and doc["not_as_expected"] == ["c-unknown-not-expected"]
    assert doc["cache"] == {"properties": {"hits": 1, "misses": 2}, "obligations": {"hits": 10, "misses": 20}}
    back = report_from_json(json.loads(json.dumps(doc)))
    assert [r.comparable() for r in back.records] == [r.comparable() for r in rep.records]
    assert rep.exit_code() == 1
    ok = Report("kacs", "standard", rep.records[:2])
    assert ok.exit_code() == 0 and ok.exit_code(strict=True) == 0
    unk = Report("kacs", "standard", [rec("u", "unknown", "unknown")])
    assert unk.exit_code() == 0 and unk.exit_code(strict=True) == 3


def test_no_timings_is_byte_identical():
    a, b = sample(), sample()
    b.seconds, b.cache = 99.0, None
    for r in b.records:
        r.seconds, r.cached = 42.0, True
    for fmt in FORMATS:
        assert render(a, fmt, timings=False) == render(b, fmt, timings=False), fmt


def test_junit_one_testcase_per_property():
    root = ET.fromstring(render(sample(), "junit"))
    assert root.tag == "testsuites" and root.get("failures") == "1"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["a-proved", "b-refuted-as-expected", "c-unknown-not-expected"]
    assert {c.get("classname") for c in cases} == {"properties.sessions"}
    fail = cases[2].find("failure")
    assert fail is not None and "unknown, expected proved" in fail.get("message")
    assert "close_handle(fd=3)" in fail.text
    assert cases[0].find("failure") is None and cases[1].find("failure") is None


def test_sarif_results_point_at_the_failing_rule():
    doc = json.loads(render(sample(), "sarif"))
    assert doc["version"] == "2.1.0" and "sarif-2.1.0" in doc["$schema"]
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "tokenproof"
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["b-refuted-as-expected", "c-unknown-not-expected"]
    loc = results[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "model/rules/sessions.py" and loc["region"]["startLine"] == 90
    assert results[0]["level"] == "note" and results[1]["level"] == "error"
    assert results[0]["message"]["text"].startswith("statement of b-refuted-as-expected")
    assert results[0]["properties"]["sections"] == ["§4.7"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["b-refuted-as-expected", "c-unknown-not-expected"]
    assert all(results[i]["ruleIndex"] == i for i in range(2))


def test_markdown_table_and_summary():
    md = render(sample(), "markdown")
    lines = md.splitlines()
    assert lines[0].startswith("**tokenproof** (kacs): 3 properties — 1 proved, 1 refuted, 1 unknown; ⚠️ 1 not as")
    assert "cache: 1 property hit(s), 2 miss(es); 10 obligation hit(s), 20 miss(es)" in lines[0]
    rows = [x for x in lines if x.startswith("| ")]
    assert len(rows) == 4  # header + 3 properties
    assert "not inductive: it can be broken by close_handle" in rows[3]
    piped = Report("kacs", "standard", [rec("p", "unknown", "unknown", detail="a | b")])
    assert "a \\| b" in render(piped, "markdown")  # pipes in cells are escaped
    assert rows[3].startswith("| ❔ ⚠️ | `c-unknown-not-expected` | **unknown** | proved |")


def test_table_has_footer_with_cache_figures():
    out = render(sample(), "table")
    assert "a-proved" in out and "NOT as expected: c-unknown-not-expected" in out
    assert "1 property hit(s), 2 miss(es)" in out


def test_merge_reports_sorts_and_detects_conflicts(tmp_path):
    s = sample()
    one = Report("kacs", "standard", [s.records[2], s.records[0]], 2.0, None, [[1, 2]])
    two = Report("kacs", "standard", [s.records[1]], 3.0, CacheStats(Stats(1, 0), Stats(0, 0)), [[2, 2]])
    merged, warnings = merge_reports([one, two])
    assert [r.id for r in merged.records] == ["a-proved", "b-refuted-as-expected", "c-unknown-not-expected"]
    assert warnings == [] and merged.shards == [[1, 2], [2, 2]]
    _, warnings = merge_reports([one])
    assert warnings == ["shard(s) 2/2 missing from the merge"]
    clash = Report("kacs", "standard", [rec("a-proved", "refuted", "proved")])
    with pytest.raises(ValueError, match="two different results for a-proved"):
        merge_reports([one, clash])
    with pytest.raises(ValueError, match="different profiles"):
        merge_reports([one, Report("nt", "standard", [])])
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ValueError, match="not a tokenproof report"):
        load_report(bad)


def test_merge_command(tmp_path):
    from tokenproof.commands import merge

    s = sample()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report_to_json(Report("kacs", "standard", s.records[:1], shards=[[1, 2]]))))
    b.write_text(json.dumps(report_to_json(Report("kacs", "standard", s.records[1:2], shards=[[2, 2]]))))
    res = CliRunner().invoke(merge.command, [str(a), str(b), "--format", "junit"])
    assert res.exit_code == 0, res.output
    assert len(ET.fromstring(res.output).findall("./testsuite/testcase")) == 2
    c = tmp_path / "c.json"
    c.write_text(json.dumps(report_to_json(Report("kacs", "standard", s.records[2:]))))
    res = CliRunner().invoke(merge.command, [str(a), str(c), "--format", "markdown", "--output",
                                             str(tmp_path / "out.md")])
    assert res.exit_code == 1 and (tmp_path / "out.md").read_text().startswith("**tokenproof**")
    res = CliRunner().invoke(merge.command, [str(tmp_path / "missing.json")])
    assert res.exit_code == 2


def test_prove_cli_formats_and_exit_codes(tmp_path, monkeypatch):
    from tokenproof.catalog_run import load_catalog
    from tokenproof.commands import prove

    args = ["--property", FAST, "--timeout", "5000", "--out", str(tmp_path / "cex"),
            "--cache-dir", str(tmp_path / "cache")]
    res = CliRunner().invoke(prove.command, [*args, "--format", "junit", "--output", str(tmp_path / "j.xml")])
    assert res.exit_code == 0, res.output
    case = ET.parse(tmp_path / "j.xml").getroot().find("./testsuite/testcase")
    assert case.get("name") == FAST and case.find("failure") is None
    # warm: from the cache
    res = CliRunner().invoke(prove.command, [*args, "--format", "json"])
    doc = json.loads(res.output)
    assert res.exit_code == 0 and doc["cache"]["properties"] == {"hits": 1, "misses": 0}
    assert doc["results"][0]["cached"] is True
    # not as expected: exit 1
    monkeypatch.setitem(load_catalog()[FAST].expect, "kacs", "refuted")
    res = CliRunner().invoke(prove.command, [*args, "--format", "sarif"])
    assert res.exit_code == 1
    sarif = json.loads(res.output)
    assert sarif["runs"][0]["results"][0]["ruleId"] == FAST
    assert sarif["runs"][0]["results"][0]["level"] == "error"
    # bad input: exit 2
    assert CliRunner().invoke(prove.command, ["--property", "no-such-property"]).exit_code == 2
    assert CliRunner().invoke(prove.command, ["--shard", "3/2"]).exit_code == 2
    assert CliRunner().invoke(prove.command, ["--format", "xml"]).exit_code == 2
    assert "Exit codes" in CliRunner().invoke(prove.command, ["--help"]).output


def test_prove_cli_strict_exits_3_on_unknown(monkeypatch):
    from tokenproof import catalog_run
    from tokenproof.commands import prove

    def fake_run(opts, progress=None, on_record=None):
        return Report("kacs", "standard", [rec(FAST, "unknown", "unknown")])

    monkeypatch.setattr(catalog_run, "run", fake_run)
    assert CliRunner().invoke(prove.command, ["--property", FAST, "--no-cache"]).exit_code == 0
    assert CliRunner().invoke(prove.command, ["--property", FAST, "--no-cache", "--strict"]).exit_code == 3
