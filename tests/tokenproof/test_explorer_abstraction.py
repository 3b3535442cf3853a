"""The explorer's abstraction of token contents (tokenproof/abstraction.py, issue 9):
it never hides a violation.  On a small universe where the privilege rules run,
the explorer finds the same violated properties at the same depths with and
without the abstraction, for the default rules and for mutants that break
exactly the fields the abstraction drops for the default rules (used bits,
modified_id)."""

from __future__ import annotations

import pytest

import properties.catalog  # noqa: F401
from properties.base import CATALOG
from tokenproof.abstraction import analyse
from tokenproof.explorer import Explorer, Universe, start_world, universe_state
from tests.tokenproof.rulesets import rule_subset

RULE_NAMES = ["kacs_open_self_token", "ioctl_adjust_privs", "kacs_privilege_check", "close_handle"]
U = Universe(threads=1, processes=1, tokens=2, privileges=("SeTcbPrivilege",))
PROPS = ["used-privileges-are-monotonic", "marking-privileges-used-never-bumps-modified-id",
         "only-adjustments-change-modified-id", "every-successful-adjustment-bumps-modified-id-by-one",
         "failed-steps-change-nothing-but-used-bits", "enabled-privileges-are-present",
         "removed-privileges-never-come-back-enabled", "privileges-present-never-grow"]
RLIMIT = 24_000_000  # z3 budget per independence query (the default; 1M no longer proves used bits droppable)
MUTANTS = ["adjust-privs-remove-clears-used", "privilege-check-bumps-modified-id",
           "adjust-privs-bumps-before-validating"]


def _rules(mutant):
    return rule_subset(RULE_NAMES, mutant)


DEPTH = 5  # without the abstraction the counters (modified_id, used bits) make the space infinite


def _run(mutant, abstraction):
    ex = Explorer(U, rules=_rules(mutant), properties={p: CATALOG[p] for p in PROPS}, keep_graph=False,
                  abstraction=abstraction, abstraction_rlimit=RLIMIT, max_depth=DEPTH)
    res = ex.run()
    assert res.complete
    return ex, res


@pytest.mark.parametrize("mutant", [None, *MUTANTS])
def test_abstraction_finds_the_same_violations(mutant):
    ex_a, a = _run(mutant, True)
    ex_f, f = _run(mutant, False)
    assert {p: v.depth for p, v in a.violations.items()} == {p: v.depth for p, v in f.violations.items()}
    assert a.states <= f.states
    if mutant is None:
        assert not a.violations
        # the abstraction is active here: the used bits and the counters are dropped and merge states
        assert {"token_privs_used", "token_modified_id", "token_id", "next_token_id"} <= ex_a.dropped
        assert a.states < f.states
    else:
        caught = [p for p in PROPS if mutant in CATALOG[p].mutants]
        assert caught and all(p in a.violations for p in caught), (mutant, sorted(a.violations))


def test_a_mutant_that_reads_a_field_keeps_it():
    """Clearing the used bits makes ``used-privileges-are-monotonic`` depend on their value
    before the step: the analysis keeps them for that mutant (and drops them otherwise)."""
    init = universe_state(U, start_world(U))
    props = {p: CATALOG[p] for p in PROPS}
    assert "token_privs_used" in analyse(_rules(None), props, init, RLIMIT).dropped
    bad = analyse(_rules("adjust-privs-remove-clears-used"), props, init, RLIMIT)
    assert "token_privs_used" not in bad.dropped
    assert "used-privileges-are-monotonic" in bad.reasons["token_privs_used"]


def test_state_property_reads_are_never_dropped():
    init = universe_state(U, start_world(U))
    a = analyse(_rules(None), {p: CATALOG[p] for p in PROPS}, init, RLIMIT)
    # enabled-privileges-are-present reads present and enabled
    assert not {"token_privs_present", "token_privs_enabled"} & a.dropped
    assert "state property" in a.reasons["token_privs_enabled"] or "preconditions" in a.reasons["token_privs_enabled"]
