"""BMC's two reductions (``tokenproof.reductions``, ``run_bmc(reduce=True)``): fresh objects come
alive in index order, and no step before the last fails when its failure writes nothing the query
reads.  Each constraint excludes what it says (and only that), and verdicts and shortest depths
are those of the unreduced queries (issue 3)."""

from __future__ import annotations

import pytest
import z3

import properties.catalog  # noqa: F401
from model.rules import RULES
from model.scenarios import SCENARIOS
from model.state import Write
from properties.base import CATALOG
from tokenproof.bmc import DEFAULT_EXTRA, Unrolling, run_bmc
from tokenproof.mutants import load_seeded
from tokenproof.reductions import SymmetryBreaking, interchangeable, steps_succeed, swap_is_automorphism
from tokenproof.replay import replay

TIMEOUT = 120_000


def unrolling(rules, bv=True):
    return Unrolling(SCENARIOS["standard"]().state, {n: RULES[n] for n in rules}, DEFAULT_EXTRA, 2, TIMEOUT, bv=bv)


def solve(*constraints):
    s = z3.Solver()
    s.set("timeout", TIMEOUT)
    s.add(*constraints)
    return s.check()


def test_the_fresh_objects_of_a_sort_are_interchangeable_but_not_the_no_object_ids():
    unr = unrolling(["close_handle"])
    classes = interchangeable(unr.init, unr.world)
    world = unr.world.universe
    fresh_tokens = [i for i in unr.init.universe["Token"] if i not in set(world["Token"])]
    assert -1 in fresh_tokens and 0 in fresh_tokens  # "no token" references, embedded as elements
    assert classes["Token"] == [[i for i in fresh_tokens if i > 0]]  # DEFAULT_EXTRA's three tokens
    assert len(classes["Thread"][0]) == DEFAULT_EXTRA["Thread"]
    assert "Process" not in classes  # a single fresh process: nothing to order


def test_a_fresh_object_something_refers_to_is_not_interchangeable():
    unr = unrolling(["close_handle"])
    a, b, c = interchangeable(unr.init, unr.world)["Token"][0]
    assert swap_is_automorphism(unr.init, "Token", a, b)
    init = next(iter(unr.init.universe["Thread"]))
    pointed = unr.init.with_writes([Write("thread_imp_token", key=(init,), value=b)])
    assert not swap_is_automorphism(pointed, "Token", a, b)
    assert swap_is_automorphism(pointed, "Token", a, c)
    assert interchangeable(pointed, unr.world)["Token"] == [[a, c]]


def test_symmetry_breaking_makes_the_fresh_tokens_come_alive_in_order():
    unr = unrolling(["kacs_open_self_token", "ioctl_duplicate"])
    sym = SymmetryBreaking(unr, interchangeable(unr.init, unr.world))
    unr.extend()
    unr.extend()
    first, second, _ = sym.classes[[s for s, _ in sym.classes].index("Token")][1]
    alive = unr.field_table(2, "token_alive")
    out_of_order = [*unr.solver.assertions(), alive[(second,)], z3.Not(alive[(first,)])]
    assert solve(*out_of_order) == z3.sat  # the unreduced unrolling has the renamed trace too
    assert solve(*out_of_order, *sym.constraints(1), *sym.constraints(2)) == z3.unsat
    in_order = [*unr.solver.assertions(), alive[(first,)], *sym.constraints(1), *sym.constraints(2)]
    assert solve(*in_order) == z3.sat


def test_failure_writes_are_the_set_now_effects():
    unr = unrolling(["ioctl_install", "close_handle", "kacs_privilege_check"])
    outs = unr.template.outs
    assert outs["ioctl_install"].failure_writes == {"token_privs_used"}
    assert outs["kacs_privilege_check"].failure_writes == set()  # it marks used bits only on success
    assert outs["close_handle"].failure_writes == set()


def test_steps_before_the_last_succeed_unless_their_failure_writes_a_read_field():
    unr = unrolling(["close_handle", "ioctl_install"])
    unr.extend()
    sel = unr.steps[0].sel
    fails = {n: z3.And(sel == i, unr.step_term(0, n, "errno") != 0) for i, n in enumerate(unr.rule_names)}
    every_field = steps_succeed(unr, 0, None)
    assert solve(*unr.solver.assertions(), fails["close_handle"]) == z3.sat
    assert solve(*unr.solver.assertions(), *every_field, fails["close_handle"]) == z3.unsat
    assert solve(*unr.solver.assertions(), *every_field, fails["ioctl_install"]) == z3.sat  # marks used bits
    unread = steps_succeed(unr, 0, {"fd_open", "proc_primary"})  # a cone without the used bits
    assert solve(*unr.solver.assertions(), *unread, fails["ioctl_install"]) == z3.unsat


def _pair(mutant: str):
    prop = next(p for p in CATALOG.values() if mutant in p.mutants)
    return prop, load_seeded()[mutant]


@pytest.mark.parametrize("mutant", ["adjust-default-accepts-any-owner", "adjust-scope-skips-the-tcb-check",
                                    "revert-keeps-impersonating", "fork-shares-token"])
def test_reduced_bmc_finds_the_same_shortest_counterexample_depth(mutant):
    prop, mut = _pair(mutant)
    runs = {reduce: run_bmc(prop, depth=3, rules=mut.rules(), mutant=mut.name, timeout_ms=TIMEOUT, cone=True,
                            bv=True, sat="z3", reduce=reduce) for reduce in (False, True)}
    assert runs[True].verdict == runs[False].verdict == "refuted"
    assert runs[True].depth == runs[False].depth
    assert [s.result for s in runs[True].stats] == [s.result for s in runs[False].stats]
    replay(runs[True].counterexample())


def test_reduced_bmc_finds_no_violation_where_there_is_none():
    prop = CATALOG["live-threads-have-live-effective-tokens"]
    res = run_bmc(prop, depth=2, timeout_ms=TIMEOUT, cone=True, bv=True, sat="z3", reduce=True)
    assert res.verdict == "bounded-ok" and res.depth == 2


def test_a_rule_whose_outcome_does_not_say_what_its_failure_writes_is_left_free():
    import dataclasses

    unr = unrolling(["close_handle", "ioctl_install"])
    unr.extend()
    out = unr.template.outs["close_handle"]
    unr.template.outs["close_handle"] = dataclasses.replace(out, failure_writes=None)
    sel = unr.steps[0].sel
    close = unr.rule_names.index("close_handle")
    fails = z3.And(sel == close, unr.step_term(0, "close_handle", "errno") != 0)
    assert solve(*unr.solver.assertions(), *steps_succeed(unr, 0, None), fails) == z3.sat
