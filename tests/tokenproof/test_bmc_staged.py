"""BMC asks each depth first without the rules that make the unrolling largest
(``run_bmc(defer=...)``, ``DEFERRED_RULES``): issue 3's speed target for the
depth-4 mutants.  The narrowed query is an exact restriction of the full one,
a satisfiable narrowed query is a real (replayed) counterexample, and verdicts
and shortest depths are the same with and without it, also when the
counterexample needs a deferred rule (the full query then finds it)."""

from __future__ import annotations

import pytest
import z3

import properties.catalog  # noqa: F401
from model.rules import RULES
from model.scenarios import SCENARIOS
from model.values import eq, implies
from properties.base import CATALOG, Property
from tokenproof.bmc import (DEFAULT_EXTRA, DEFERRED_RULES, REFUTED, Unrolling, _as_bool, run_bmc, violation,
                            without_rules)
from tokenproof.mutants import load_seeded
from tokenproof.replay import replay

TIMEOUT = 120_000


def never_modified(s):
    return s.forall("Token", lambda t: implies(s.token_alive[t], eq(s.token_modified_id[t], 0)))


NEVER_MODIFIED = Property("modified-id-stays-0", "No token is ever adjusted.", "state", ("§4.2",), never_modified)
SMALL = ("kacs_open_self_token", "ioctl_adjust_privs", "ioctl_duplicate", "close_handle")


def test_the_narrowed_query_is_the_full_query_without_the_deferred_rules_steps():
    """``without_rules(Q)`` is equivalent to ``Q`` plus "no step takes a deferred rule" (z3 proves it at
    depth 2), and is None when no deferred rule is encoded or at depth 0."""
    rules = {n: RULES[n] for n in SMALL}
    unr = Unrolling(SCENARIOS["standard"]().state, rules, DEFAULT_EXTRA, 2, TIMEOUT)
    assert without_rules([z3.BoolVal(True)], unr, 0, ("ioctl_duplicate",)) is None
    unr.extend()
    unr.extend()
    query = [*unr.solver.assertions(), _as_bool(violation(NEVER_MODIFIED, unr, 2))]
    assert without_rules(query, unr, 2, ("kacs_create_token",)) is None  # not encoded here
    narrow = without_rules(query, unr, 2, ("ioctl_duplicate",))
    dup = unr.rule_names.index("ioctl_duplicate")
    spelled = z3.And(*query, *[unr.steps[j].sel != dup for j in range(2)])
    s = z3.Solver()
    s.set("timeout", TIMEOUT)
    s.add(z3.And(*narrow) != spelled)
    assert s.check() == z3.unsat


@pytest.mark.parametrize("defer", [("ioctl_duplicate",), ("ioctl_adjust_privs",), ()],
                         ids=["deferred-rule-unneeded", "deferred-rule-needed", "off"])
def test_the_shortest_counterexample_is_found_whether_or_not_it_needs_a_deferred_rule(defer):
    rules = {n: RULES[n] for n in SMALL}
    res = run_bmc(NEVER_MODIFIED, depth=3, rules=rules, timeout_ms=TIMEOUT, defer=defer, shortcuts=False)
    assert res.verdict == REFUTED and res.depth == 2
    assert [s.result for s in res.stats] == ["unsat", "unsat", "sat"]
    cex = res.counterexample()
    replay(cex)
    assert [s.rule for s in cex.steps] == ["kacs_open_self_token", "ioctl_adjust_privs"]
    assert res.staged_hits == (1 if defer == ("ioctl_duplicate",) else 0)


@pytest.mark.parametrize("mutant,prop", [
    ("duplicate-raises-the-level", "duplicates-never-raise-an-impersonation-level"),
    ("create-token-accepts-leveled-primary", "primary-tokens-are-at-anonymous-level"),
])
def test_a_mutant_of_a_deferred_rule_is_found_at_the_same_depth(mutant, prop):
    """The broken rule is deferred, so only the full query can find it: same depth as without
    deferring, and the counterexample takes the rule."""
    m = load_seeded()[mutant]
    seen = []
    for defer in (DEFERRED_RULES, ()):
        res = run_bmc(CATALOG[prop], depth=2, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT, cone=True,
                      bv=True, defer=defer, shortcuts=False)
        assert res.verdict == REFUTED and res.staged_hits == 0, defer
        cex = res.counterexample()
        replay(cex)
        assert m.rule in [s.rule for s in cex.steps]
        seen.append(res.depth)
    assert seen[0] == seen[1]


def test_check_runs_the_fast_configuration_by_default_and_the_reference_one_on_request(tmp_path):
    """``tokenproof check`` defaults to the benchmark's configuration (cone, bit-vector sorts, deferred
    rules); ``--no-cone --no-bv --no-defer`` is the reference path: the same verdict and depth."""
    from click.testing import CliRunner

    from tokenproof.cli import main

    base = ["check", "live-processes-have-live-primaries", "--mutant", "fork-shares-token", "--depth", "2",
            "--out", str(tmp_path)]
    for extra in ([], ["--no-cone", "--no-bv", "--no-defer"]):
        r = CliRunner().invoke(main, base + extra)
        assert r.exit_code == 0, r.output
        assert "REFUTED at depth 1" in r.output, (extra, r.output)
    bad = CliRunner().invoke(main, base + ["--bv=maybe"])
    assert bad.exit_code == 2
