"""The induction prover's speed machinery (issue #3) changes no answer.

* ``smt.GroundCache`` (grounding memoized per prover) gives the same ground
  part, universals, ground terms and instances as the plain ``Grounder`` /
  ``ground_terms`` / ``instantiate``;
* the incremental per-rule solver (``shared`` prefix, push/pop) answers as
  a fresh solver does, with cores that are themselves unsat;
* an obligation implied by an earlier unsat core (``reuse_cores``) is
  re-proved from scratch with just that core;
* a recording prover (second-solver cross-check) asks every obligation;
* the combined all-rules query is still available as an option;
* ``--jobs`` scheduling puts the BMC-bound property first.
"""

from __future__ import annotations

import re

import pytest
import z3

from model.profiles import get_profile
from model.scenarios import SCENARIOS
from properties.base import StepInfo
from tokenproof import smt
from tokenproof.catalog_run import load_catalog
from tokenproof.parallel import estimated_cost, order_for_balance
from tokenproof.prover import InductionProver, _as_z3

STATE_PROP = "open-token-fds-refer-to-live-tokens"  # a state property with lemmas
RULES = ("kacs_open_self_token", "ioctl_duplicate", "close_handle", "fork", "thread_exit")
NOT_INDUCTIVE = ("dynamic-session-luids-are-at-least-1000", "kacs_create_logon_session")  # a sat step query


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def _prover(catalog, rules=None, **kw):
    kacs = get_profile("kacs")
    rs = kacs if rules is None else {n: kacs[n] for n in rules}
    return InductionProver(rs, catalog, SCENARIOS["standard"]().state, timeout_ms=10000, **kw)


def _query(pv, catalog, pid, rule):
    prop, tr = catalog[pid], pv.transition(rule)
    if prop.kind == "state":
        bad = z3.Not(_as_z3(prop.check(tr.post)))
        lemmas = pv.closure(prop)
    else:
        bad = z3.Not(_as_z3(prop.check(pv.pre, tr.post, StepInfo(rule, tr.actor, tr.args, tr.errno))))
        lemmas = [q for q in pv.closure(prop) if q != pid]
    return [*pv.uni.axioms, _as_z3(tr.enabled), bad], {q: pv.holds_pre(q) for q in lemmas}


def _norm(e) -> str:
    return re.sub(r"sk!([^!]*)!\d+", r"sk!\1", str(e))  # skolem constants are fresh per grounder


def test_ground_cache_matches_the_plain_grounding(catalog):
    pv = _prover(catalog, RULES)
    cache = smt.GroundCache()
    compared = 0
    for pid in (STATE_PROP, "fork-yields-a-distinct-token", NOT_INDUCTIVE[0]):
        for rule in RULES:
            assertions, tracked = _query(pv, catalog, pid, rule)
            lits = {k: z3.Bool(f"track[{k}]") for k in tracked}
            g = smt.Grounder()
            try:
                plain = [g.positive(a) for a in assertions]
                plain += [z3.Implies(lits[k], g.positive(f, lits[k])) for k, f in tracked.items()]
            except smt._NotGround:
                with pytest.raises(smt._NotGround):
                    for a in assertions:
                        cache.split(a)
                    for k, f in tracked.items():
                        cache.split(f, lits[k])
                continue
            parts, foralls = [], []
            for a in assertions:
                p, qs = cache.split(a)
                parts.append(p)
                foralls += qs
            for k, f in tracked.items():
                p, qs = cache.split(f, lits[k])
                parts.append(z3.Implies(lits[k], p))
                foralls += qs
            assert [_norm(p) for p in plain] == [_norm(p) for p in parts]
            assert [(_norm(q), str(gd)) for q, gd in g.foralls] == [(_norm(q), str(gd)) for q, gd in foralls]
            sorts = {q.var_sort(i).name() for q, _ in foralls for i in range(q.num_vars())}
            want = smt.ground_terms(parts, sorts)
            got = cache.ground_terms(parts, sorts)
            assert {k: sorted(t.get_id() for t in v) for k, v in want.items()} == \
                   {k: [t.get_id() for t in v] for k, v in got.items()}
            ordered = {k: sorted(v, key=lambda t: t.get_id()) for k, v in want.items()}
            plain_inst, cached_inst = smt.instantiate(foralls, ordered), cache.instantiate(foralls, got)  # both alive
            assert [i.get_id() for i in plain_inst] == [i.get_id() for i in cached_inst], (pid, rule)
            compared += 1
    assert compared >= 8


def test_incremental_solver_answers_as_a_fresh_one(catalog):
    pv = _prover(catalog, (*RULES, NOT_INDUCTIVE[1]))
    cache = smt.GroundCache()
    statuses = set()
    for pid, rule in [(STATE_PROP, r) for r in RULES] + [NOT_INDUCTIVE, (STATE_PROP, RULES[0])]:
        assertions, tracked = _query(pv, catalog, pid, rule)
        shared = len(pv.uni.axioms) + 1
        fresh = smt.solve(assertions, tracked, 10000)
        inc = smt.solve(assertions, tracked, 10000, cache=cache, shared=shared)
        assert fresh.status == inc.status != "unknown", (pid, rule)
        statuses.add(inc.status)
        if inc.status == "unsat":  # the core alone is enough (on a fresh solver)
            core = {k: tracked[k] for k in inc.core}
            assert smt.solve(assertions, core, 10000).status == "unsat", (pid, rule, inc.core)
    assert statuses == {"sat", "unsat"}
    assert len(cache._solvers) <= len(RULES) + 1  # at most one solver per rule: the repeated query reused one


def test_reused_cores_are_proofs_on_their_own(catalog):
    pv = _prover(catalog)
    for pid in ("linked-pairs-are-live-members-of-their-session", "live-tokens-belong-to-live-sessions"):
        assert pv.prove(catalog[pid]).verdict == "proved"
    implied = [(k, ob) for k, ob in pv._cache.items() if ob.reason.startswith("implied")]
    assert implied and pv.subsumed == len(implied)
    check = _prover(catalog, reuse_cores=False)
    for (pid, rule, lemmas), ob in implied[:6]:
        assert set(ob.core) <= set(lemmas)
        again = check.step_case(pid, rule, ob.core)
        assert again.status == "unsat" and again.reason != ob.reason, (pid, rule, ob.core)


def test_a_core_is_reused_only_when_it_is_a_subset(catalog):
    pv = _prover(catalog, ("fork",))
    pv._cores[(STATE_PROP, "fork")] = [frozenset({"no-such-lemma"})]
    lemmas = pv.closure(catalog[STATE_PROP])
    ob = pv.step_case(STATE_PROP, "fork", lemmas)
    assert not ob.reason.startswith("implied") and pv.subsumed == 0


def test_recording_prover_asks_every_obligation(catalog):
    from tokenproof.soundness import RecordingProver

    rec = RecordingProver(get_profile("kacs"), catalog, SCENARIOS["standard"]().state)
    assert rec.reuse_cores is False and _prover(catalog, ("fork",)).reuse_cores is True


def test_the_combined_cross_check_is_an_option(catalog):
    rules = ("close_handle", "set_cloexec", "kacs_open_self_token")
    off = _prover(catalog, rules).prove(catalog["token-fds-are-created-close-on-exec"])
    on = _prover(catalog, rules, cross_check=True).prove(catalog["token-fds-are-created-close-on-exec"])
    assert off.verdict == on.verdict == "proved"
    assert not [o for o in off.obligations if o.rule == "combined"]
    assert [o.status for o in on.obligations if o.rule == "combined"] == ["unsat"]


def test_jobs_schedule_the_bmc_bound_property_first(catalog):
    n = len(get_profile("kacs"))
    order = order_for_balance(sorted(catalog), lambda p: estimated_cost(p, catalog, n))
    unknown = [p for p in catalog if catalog[p].kind != "access" and catalog[p].expected("kacs") == "unknown"]
    assert unknown and set(order[:len(unknown)]) == set(unknown)
    assert sorted(order) == sorted(catalog)
