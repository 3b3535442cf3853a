"""BMC's shortcuts (``tokenproof.shortcuts``): restrictions of a depth's query that a solver lane
tries before the whole query.  Each pins what its docstring says, a plain kacs_create_token
request is one the kernel accepts, and BMC's verdicts and depths are the same with and without
them, also when no shortcut has the counterexample (the whole query then finds it)."""

from __future__ import annotations

import pytest
import z3

import properties.catalog  # noqa: F401
from model.rules import RULES
from model.rules.creation import CALLER_GROUPS
from model import domain as D
from model.scenarios import SCENARIOS
from model.sim import Simulator
from properties.base import CATALOG
from tokenproof.bmc import DEFAULT_EXTRA, REFUTED, Unrolling, run_bmc
from tokenproof.mutants import load_seeded
from tokenproof.replay import replay
from tokenproof.shortcuts import LADDER, fresh_tokens_by_position, ladder, one_actor, plain_requests

TIMEOUT = 120_000
SMALL = ("kacs_open_self_token", "ioctl_duplicate", "kacs_create_token", "close_handle")


@pytest.fixture(scope="module")
def unrolling():
    unr = Unrolling(SCENARIOS["standard"]().state, {n: RULES[n] for n in SMALL}, DEFAULT_EXTRA, 2, TIMEOUT)
    for _ in range(4):
        unr.extend()
    return unr


def proves(*facts):
    s = z3.Solver()
    s.set("timeout", TIMEOUT)
    s.add(z3.Not(z3.And(*facts)))
    return s.check() == z3.unsat


def test_one_actor_makes_every_step_the_last_steps_actors(unrolling):
    cs = one_actor(unrolling, 3)
    steps = unrolling.steps
    assert len(cs) == 2
    assert proves(z3.Implies(z3.And(*cs), z3.And(steps[0].actor == steps[2].actor, steps[1].actor == steps[2].actor)))


def test_fresh_tokens_go_by_position_the_last_steps_getting_distinct_ones(unrolling):
    """Depth 4, three fresh tokens e0 e1 e2: steps 0 and 1 allocate e0, step 2 e1, step 3 e2, for
    every rule with a fresh Token argument (create's new_token, duplicate's new_token)."""
    init, uni = unrolling.init, unrolling.uni
    fresh = [i for i in init.universe["Token"] if i not in unrolling.world.universe["Token"] and i > 0]
    elems = [unrolling.emb.to_elem["Token"][i] for i in fresh]
    assert len(elems) == DEFAULT_EXTRA["Token"] == 3
    cs = fresh_tokens_by_position(unrolling, 4)
    want = {0: elems[0], 1: elems[0], 2: elems[1], 3: elems[2]}
    for j, e in want.items():
        for rule in ("kacs_create_token", "ioctl_duplicate"):
            assert proves(z3.Implies(z3.And(*cs), unrolling.steps[j].args[rule]["new_token"] == e)), (j, rule)
    assert uni  # the universe the elements come from


def test_plain_requests_pin_exactly_the_arguments_that_declare_a_plain_value(unrolling):
    plain = [a for a in RULES["kacs_create_token"].args if a.plain is not None]
    assert {a.name for a in plain} >= {"group_count", "restricted", "confined", "owner_index", "scope"}
    assert all(a.plain is None for n in SMALL if n != "kacs_create_token" for a in RULES[n].args)
    assert len(plain_requests(unrolling, 2)) == 2 * len(plain)


def test_a_plain_create_token_request_is_accepted_by_the_kernel():
    """§4.4 CreateToken: init (SYSTEM, SeCreateTokenPrivilege) asks for a token with every plain
    argument at its plain value: no caller groups, owned by its user, no restriction or
    confinement.  The kernel accepts it, so the first shortcut keeps kacs_create_token usable."""
    w = SCENARIOS["standard"]()
    args = {a.name: a.plain for a in RULES["kacs_create_token"].args if a.plain is not None}
    args.update(user="S-1-5-21-1-1-1-3000", **{f"g{i}": D.SID_NULL for i in range(CALLER_GROUPS)},
                privs_present=0, privs_enabled=0, integrity=int(D.IL_MEDIUM), primary=True, level=0,
                session=w.names["Session"]["alice-session"], **{f"r{i}": D.SID_NULL for i in range(D.RSID_SLOTS)},
                conf_sid=D.SID_NULL, c0=D.SID_NULL, c1=D.SID_NULL)
    rec = Simulator(w).call("kacs_create_token", "init", **args)
    assert rec.errno == 0


def test_the_ladder_is_the_query_plus_each_rungs_constraints_without_its_excluded_rules(unrolling):
    """Each rung is equivalent to the query, its constraints, and no step of its excluded rules."""
    query = [unrolling.steps[0].sel != unrolling.rule_names.index("close_handle")]
    rungs = ladder(unrolling, 3, query)
    assert [name for name, _ in rungs] == [name for name, *_ in LADDER]
    for (name, q), (_, parts, excluded) in zip(rungs, LADDER):
        spelled = [*query, *[c for make in parts for c in make(unrolling, 3)],
                   *[unrolling.steps[j].sel != unrolling.rule_names.index(r) for j in range(3) for r in excluded
                     if r in unrolling.rule_names]]
        assert proves(z3.And(*q) == z3.And(*spelled)), name
    assert any(excluded for *_, excluded in LADDER)
    assert ladder(unrolling, 0, query) == []


OPEN_EFFECTS = "a-successful-open-opens-a-close-on-exec-fd-on-the-named-token-with-the-requested-rights"


def test_the_first_rung_alone_has_a_replayable_counterexample_of_the_depth():
    """open-self-token-opens-the-effective-for-real (depth 3, a kacs_create_token step): the most
    restrictive shortcut of the depth-3 query is satisfiable, its model is a trace of the whole query
    (the executor replays it and it violates the property), and the trace keeps to the shortcut."""
    from tokenproof.bmc import BMCResult, violation
    from tokenproof.unrolling import _as_bool

    m = load_seeded()["open-self-token-opens-the-effective-for-real"]
    prop = CATALOG[OPEN_EFFECTS]
    unr = Unrolling(SCENARIOS["standard"]().state, m.rules(), DEFAULT_EXTRA, 2, TIMEOUT, bv=True)
    for _ in range(3):
        unr.extend()
    bad = violation(prop, unr, 3)
    name, rung = ladder(unr, 3, [*unr.solver.assertions(), _as_bool(bad)])[0]
    s = z3.Solver()
    s.set("timeout", TIMEOUT)
    s.add(*rung)
    assert s.check() == z3.sat, name
    res = BMCResult(prop, REFUTED, 3, 3, 0.0, unrolling=unr, model=unr.complete(s.model(), 3, bad),
                    mutant=m.name)
    cex = res.counterexample()
    replay(cex)
    assert len({st.actor for st in cex.steps if st.actor is not None}) == 1


@pytest.mark.parametrize("prop,mutant,depth", [
    (OPEN_EFFECTS, "open-self-token-opens-the-effective-for-real", 3),
    ("no-rule-changes-another-threads-impersonation", "process-exit-leaves-threads-running", 4),
], ids=["a-shortcut-has-it", "two-actors"])
def test_racing_the_shortcuts_changes_neither_the_verdict_nor_the_depth(prop, mutant, depth):
    """``jobs=2`` races the whole query against the shortcuts; whichever lane wins, the verdict and
    the shortest depth are those of one lane, and the counterexample replays."""
    m = load_seeded()[mutant]
    got = []
    for jobs in (2, 1):
        res = run_bmc(CATALOG[prop], depth=depth, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT, cone=True,
                      bv=True, jobs=jobs)
        assert res.verdict == REFUTED, jobs
        replay(res.counterexample())
        got.append(res.depth)
    assert got[0] == got[1] == depth
