"""Conformance scenarios (tests/scenarios/*.json, ``tokenproof-trace/1``): each is run by the
executor and every step's expected errno/return must match.  The spec references are the
bracketed prefix of ``description`` (``tokenproof coverage`` reads them)."""

from __future__ import annotations

import pytest

from model.rules.registry import RULES
from tokenproof.coverage import SCENARIO_DIR, load_clauses, load_scenarios, spec_refs
from tokenproof.mutants import count_sites
from tokenproof.trace import execute, load_trace

FILES = sorted(SCENARIO_DIR.glob("*.json"))
SCEN = load_scenarios()


def test_at_least_60_scenarios():
    assert len(FILES) >= 60


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_scenario_runs_as_expected(path):
    result = execute(load_trace(path))  # raises TraceError on any unexpected errno / return
    assert all(s.ok for s in result.steps)
    assert any(s.expect is not None for s in load_trace(path).steps), "a scenario must expect something"


@pytest.mark.parametrize("s", SCEN, ids=lambda s: s.name)
def test_scenario_cites_the_spec(s):
    assert s.sections, f"{s.name}: the description must start with [§..., CLAUSE-NN]"
    known = load_clauses()
    if known:
        assert not [c for c in s.clauses if c not in known], f"{s.name}: unknown clause IDs"


def test_every_rule_has_a_success_and_each_guarded_rule_an_error_scenario():
    ok = {r for s in SCEN for r, e in s.errnos if e == "OK"}
    err = {r for s in SCEN for r, e in s.errnos if e != "OK"}
    assert not sorted(set(RULES) - ok)
    assert not [n for n in sorted(RULES) if count_sites(RULES[n])[0] and n not in err]


def test_spec_refs_parser():
    assert spec_refs("[§4.5, ADJ-04, Appendix A §2] text") == (["§4.5", "Appendix A §2"], ["ADJ-04"])
    assert spec_refs("no refs") == ([], [])


def test_the_exported_mutant_scenarios_are_up_to_date():
    """tests/scenarios/contract-*.json are generated from the seeded mutants' traces
    (scripts/export_mutant_scenarios.py); a changed trace or rule must be re-exported."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "scripts" / "export_mutant_scenarios.py"), "--check"],
                       capture_output=True, text=True, cwd=root)
    assert r.returncode == 0, r.stdout + r.stderr
