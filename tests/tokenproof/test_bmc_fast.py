"""The BMC speed-ups change no answer: normalized templates (``pack``) build the
same terms as the per-key substitution, a fresh solver per depth (``fresh``)
and one query per last rule (``split``) give the same verdict and the same
(shortest) counterexample length as the incremental solver, a resource limit
gives unknown (never a verdict), and ``last_step_rules`` keeps every rule that
can end a counterexample."""

from __future__ import annotations

import pytest
import z3

from model import domain as D
from model.scenarios import SCENARIOS
from model.state import FIELDS
from model.values import implies
from properties.base import Property
from tokenproof.bmc import (BOUNDED_OK, DEFAULT_EXTRA, REFUTED, UNKNOWN, Unrolling, last_step_rules,
                            run_bmc)
from tokenproof.mutants import load_seeded
from tokenproof.replay import replay

from tests.tokenproof.test_bmc import CLOSE_EBADF, LIVE  # the same two test properties

TIMEOUT = 120_000


def test_normalized_templates_build_the_same_terms_as_per_key_substitution():
    """Depth 1 and 2 field tables from the packed path are z3-equivalent, key by key, to the older
    substitution (template read at symbolic keys replaced by a case split over the depth's terms)."""
    m = load_seeded()["fork-shares-token"]
    unr = Unrolling(SCENARIOS["standard"]().state, m.rules(), DEFAULT_EXTRA, 2, TIMEOUT, pack=True)
    unr.extend()
    unr.extend()
    tpl = unr.template
    fields = ["thread_alive", "thread_real", "token_alive", "fd_open", "proc_primary"]
    checked = 0
    for d in (1, 2):
        for name in fields:
            if name not in tpl.writers:
                continue
            packed = unr.field_table(d, name)
            pairs, deps = tpl.definition(name)
            sub = unr.substitution(d - 1, deps)
            s = z3.Solver()
            s.set("timeout", TIMEOUT)
            diffs = [packed[key] != sub(v) for key, (_, v) in zip(unr._keys(FIELDS[name]), pairs)]
            s.add(z3.Or(*diffs))
            assert s.check() == z3.unsat, (d, name)
            checked += 1
    assert checked >= 6


CASES = [
    ("fork-shares-token", LIVE, 2, 1, ["fork"]),
    ("close-ignores-ebadf", CLOSE_EBADF, 2, 1, ["close_handle"]),
]


@pytest.mark.parametrize("mutant,prop,depth,expected,rules", CASES, ids=[c[0] for c in CASES])
def test_every_path_gives_the_same_shortest_counterexample(mutant, prop, depth, expected, rules):
    m = load_seeded()[mutant]
    seen = []
    for kw in (dict(fresh=False, pack=False), dict(fresh=True), dict(fresh=True, split=True),
               dict(fresh=True, cone=True), dict(fresh=False, pack=True), dict(fresh=True, bv=True),
               dict(fresh=True, cone=True, bv=True)):
        res = run_bmc(prop, depth=depth, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT, **kw)
        assert res.verdict == REFUTED, kw
        cex = res.counterexample()
        replay(cex)
        assert cex.replayed
        seen.append((res.depth, [s.rule for s in cex.steps]))
    assert seen == [(expected, rules)] * len(seen)


def test_depth_two_refutation_is_the_same_on_the_fresh_and_the_incremental_solver():
    """A counterexample needing two steps: no path finds a shorter or a longer one."""
    from model.rules import RULES
    from model.values import eq

    def never_modified(s):
        return s.forall("Token", lambda t: implies(s.token_alive[t], eq(s.token_modified_id[t], 0)))

    prop = Property("modified-id-stays-0", "No token is ever adjusted.", "state", ("§4.2",), never_modified)
    rules = {n: RULES[n] for n in ("kacs_open_self_token", "ioctl_adjust_privs", "close_handle")}
    for kw in (dict(fresh=False, pack=False), dict(fresh=True), dict(fresh=True, split=True),
               dict(fresh=True, bv=True)):
        res = run_bmc(prop, depth=3, rules=rules, timeout_ms=TIMEOUT, **kw)
        assert res.verdict == REFUTED and res.depth == 2, kw
        assert [s.result for s in res.stats] == ["unsat", "unsat", "sat"], kw
        cex = res.counterexample()
        replay(cex)
        assert [s.rule for s in cex.steps] == ["kacs_open_self_token", "ioctl_adjust_privs"], kw


def test_real_model_stays_bounded_ok_on_every_path():
    for kw in (dict(fresh=True), dict(fresh=True, split=True), dict(fresh=True, cone=True)):
        res = run_bmc(CLOSE_EBADF, depth=1, timeout_ms=TIMEOUT, **kw)
        assert res.verdict == BOUNDED_OK and res.depth == 1 and res.model is None, kw


def test_resource_limit_is_unknown_never_a_verdict():
    """``rlimit`` bounds each query in z3 resource units (deterministic, unlike the wall-clock timeout)."""
    m = load_seeded()["fork-shares-token"]
    res = run_bmc(LIVE, depth=2, rules=m.rules(), timeout_ms=TIMEOUT, rlimit=1)
    assert res.verdict == UNKNOWN and res.reason
    with pytest.raises(ValueError):
        res.counterexample()
    again = run_bmc(LIVE, depth=2, rules=m.rules(), timeout_ms=TIMEOUT, rlimit=1)
    assert (again.verdict, again.depth) == (res.verdict, res.depth)


def test_last_step_rules_keep_the_rules_that_can_end_a_counterexample():
    m = load_seeded()["fork-shares-token"]
    unr = Unrolling(SCENARIOS["standard"]().state, m.rules(), DEFAULT_EXTRA, 2, TIMEOUT)
    names = unr.rule_names
    assert [names[i] for i in last_step_rules(CLOSE_EBADF, unr)] == ["close_handle"]
    live = {names[i] for i in last_step_rules(LIVE, unr)}
    assert "fork" in live
    tpl = unr.template
    fields = {"thread_alive", "thread_real", "token_alive"}
    for n in names:  # exactly the writers of a field the property reads
        assert (n in live) == bool(tpl.writes[n] & fields), n
    assert live != set(names)


def test_bit_vector_elements_refute_an_access_property_with_the_same_query():
    """``bv=True`` (objects and SIDs as bit-vector numbers, range-constrained) on an access
    property: the AccessQuery's token and SIDs are read back by their declared types (§10.2)."""
    from model.access import access_check
    from model.values import not_

    def never_allows(s, q):
        return not_(access_check(s, q.token, q.sd, q.desired, q.mapping).allowed)

    prop = Property("access-never-allowed", "AccessCheck never allows.", "access", ("§10.2",), never_allows)
    for bv in (False, True):
        res = run_bmc(prop, depth=1, timeout_ms=TIMEOUT, bv=bv)
        assert res.verdict == REFUTED and res.depth == 0, bv
        cex = res.counterexample()
        replay(cex)
        assert cex.replayed
        q = cex.query
        assert type(q.token) is int and q.token in cex.states[0].universe["Token"], bv
        # A SID text, never a bit-vector number; the model may pick any SID of the universe,
        # the malformed one ("S-malformed", §4.4) included (it did in one CI run).
        sid_texts = set(res.unrolling.uni.sid_consts)
        assert D.MALFORMED_SID in sid_texts
        assert all(type(a.sid) is str and a.sid in sid_texts for a in q.sd.aces), (bv, q.sd.aces)


def test_bit_vector_sorts_range_constrain_every_constant_with_spare_bit_patterns():
    """A one-element sort still takes one bit: its constants must be constrained to element 0 (a
    socket argument once took the phantom value 1 and gave a spurious, unreplayable depth-2
    refutation of set-impersonation-level-applies-only-to-unconnected-sockets; the real one is 3)."""
    from model.state import Type
    from tokenproof.encode import finite_universe

    state = SCENARIOS["standard"]().state
    uni, _ = finite_universe(state, {"Socket": 1, "Thread": 2}, bv=True)
    assert len(uni.elements["Socket"]) == 1 and len(uni.elements["Thread"]) == 8
    uni.take_ranges()
    sock, thread = uni.const("s", Type("obj", sort="Socket")), uni.const("t", Type("obj", sort="Thread"))
    ranges = uni.take_ranges()
    assert len(ranges) == 1  # eight threads fill three bits exactly
    s = z3.Solver()
    some_thread = z3.Or(*[thread == e for e in uni.elements["Thread"]])
    s.add(*ranges, z3.Or(sock != uni.elements["Socket"][0], z3.Not(some_thread)))
    assert s.check() == z3.unsat
