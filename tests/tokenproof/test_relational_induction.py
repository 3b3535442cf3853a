"""The N-independent walk induction of tokenproof/relational.py (issue 5), its
soundness checks against mutants and findings, the direct cross-check at a
small N, and the relations as catalog data (properties/access_relations.py).

Solver timeouts are fixed; the walk-induction queries take about a second each."""

from __future__ import annotations

import pytest

from properties.access_relations import KIND, RELATIONAL
from tokenproof.coverage import coverage, load_clauses
from tokenproof.relational import prove_bit, prove_bit_by_walk_induction, prove_property

TIMEOUT = 60000
TWO_TOKEN = ["access-filter-subset", "access-deny-only-never-grants", "access-user-deny-only"]
INDUCTIVE = [p for p in RELATIONAL.values() if p.walk_induction and p.expect == "proved"]
FINDINGS = [p for p in RELATIONAL.values() if p.walk_induction and p.expect == "refuted"]


@pytest.mark.parametrize("pid", TWO_TOKEN)
@pytest.mark.parametrize("bit", [3, 17])
def test_two_token_properties_prove_for_every_n(pid, bit):  # RESTR-04..06, AC-04, AC-05, AC-07
    r = prove_bit_by_walk_induction(RELATIONAL[pid], bit, timeout_ms=TIMEOUT)
    assert (r.verdict, r.method) == ("proved", "walk-induction"), r.detail
    assert r.detail.startswith("walk induction")


@pytest.mark.parametrize("pid", TWO_TOKEN)
def test_direct_cross_check_at_small_n(pid):
    """The direct query over 8 symbolic ACEs agrees with the induction."""
    r = prove_bit(pid, 8, 3, timeout_ms=TIMEOUT, method="direct")
    assert (r.verdict, r.method) == ("proved", "direct"), r.detail


@pytest.mark.parametrize("prop", INDUCTIVE, ids=lambda p: p.id)
def test_walk_induction_does_not_prove_a_mutant(prop):
    """Soundness: on each mutant, the direct query at N = 4 refutes some bit
    (replayed), and the walk induction does not claim that bit proved."""
    for mu in prop.mutants:
        res = prove_property(prop, 4, mutant=mu, timeout_ms=TIMEOUT, stop_at_refutation=True, method="direct")
        bad = next(r for r in res if r.verdict == "refuted")
        assert "replayed" in bad.counterexample
        ind = prove_bit_by_walk_induction(prop, bad.bit, mutant=mu, timeout_ms=TIMEOUT)
        assert ind.verdict != "proved", (prop.id, mu, bad.bit)


@pytest.mark.parametrize("prop", FINDINGS, ids=lambda p: p.id)
def test_walk_induction_never_proves_a_finding(prop):
    """Soundness: a property refuted (with a replayed counterexample) at a small
    N is never proved for every N."""
    res = prove_property(prop, 8, timeout_ms=TIMEOUT, stop_at_refutation=True, method="direct")
    bad = next(r for r in res if r.verdict == "refuted")
    assert prove_bit_by_walk_induction(prop, bad.bit, timeout_ms=TIMEOUT).verdict != "proved"


def test_auto_method_uses_the_induction_and_falls_back_to_direct():
    assert prove_bit("access-filter-subset", 64, 3, timeout_ms=TIMEOUT).method == "walk-induction"
    r = prove_bit("access-filter-subset", 4, 3, mutant="deny-only-allows", timeout_ms=TIMEOUT)
    assert (r.verdict, r.method) == ("refuted", "direct")
    r = prove_bit("access-owner-implicit", 4, 17, timeout_ms=TIMEOUT)  # not declared walk_induction
    assert (r.verdict, r.method) == ("proved", "direct")


def test_relations_are_catalog_data():
    clauses = load_clauses()
    for p in RELATIONAL.values():
        assert p.kind == KIND and p.statement and p.sections and p.build.__module__ == "properties.access_relations"
        assert p.expected("kacs") in ("proved", "refuted")
        if clauses:
            assert all(c in clauses for c in p.clauses), p.id
        if p.expect == "proved":
            assert p.mutants, p.id


def test_coverage_counts_relation_clauses():
    cov = coverage()
    assert "access-user-deny-only" in cov.clauses["AC-07"]["properties"]
    assert "access-filter-subset" in cov.clauses["RESTR-04"]["properties"]


def test_walk_induction_refuses_a_goal_that_reads_the_aces():
    """access-confinement-absolute's goal names the ACEs (not declared
    walk_induction); forcing the flag gives unknown, not a proof."""
    import dataclasses

    prop = dataclasses.replace(RELATIONAL["access-confinement-absolute"], walk_induction=True)
    r = prove_bit_by_walk_induction(prop, 3, timeout_ms=TIMEOUT)
    assert r.verdict == "unknown" and "reads the ACEs" in r.detail
