"""Bounded model checking: shortest counterexamples on seeded mutants, nothing
on the real model, timeouts reported as unknown (never as proved), and the
``tokenproof check`` command's verdicts and exit codes."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from model import domain as D
from model.values import and_, implies, ne, not_, uge
from properties.base import Property
from tokenproof.bmc import BOUNDED_OK, DEFAULT_EXTRA, REFUTED, UNKNOWN, parse_universe, run_bmc
from tokenproof.mutants import load_seeded
from tokenproof.replay import replay

TIMEOUT = 60_000


def _live_threads_have_live_tokens(s):
    return s.forall("Thread", lambda t: implies(s.thread_alive[t], s.token_alive[s.thread_real[t]]))


LIVE = Property("test.live-threads-have-live-tokens", "Every live thread's real token is live.", "state",
                ("§4.3",), _live_threads_have_live_tokens)


def _close_of_closed_fd_fails(pre, post, step):
    if step.rule != "close_handle":
        return True
    p = pre.thread_proc[step.actor]
    return implies(not_(pre.fd_open[p, step.args["fd"]]), ne(step.errno, D.OK))


CLOSE_EBADF = Property("test.close-of-a-closed-fd-fails", "close_handle on a closed fd fails (EBADF).",
                       "transition", ("§4.8",), _close_of_closed_fd_fails, rules=("close_handle",))


@pytest.fixture(scope="module")
def fork_cex():
    m = load_seeded()["fork-shares-token"]
    res = run_bmc(LIVE, depth=3, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT)
    return res


def test_mutant_gives_the_shortest_counterexample(fork_cex):
    res = fork_cex
    assert res.verdict == REFUTED
    assert res.depth == 1  # iterative deepening: the first violation is the shortest
    assert [s.result for s in res.stats] == ["unsat", "sat"]
    cex = res.counterexample()
    assert [s.rule for s in cex.steps] == ["fork"]
    assert cex.steps[0].errno == 0
    replay(cex)
    assert cex.replayed


def test_real_model_has_no_violation_at_depth_one():
    res = run_bmc(LIVE, depth=1, timeout_ms=TIMEOUT)
    assert res.verdict == BOUNDED_OK
    assert res.depth == 1
    assert res.model is None


def test_transition_property_on_a_mutant():
    m = load_seeded()["close-ignores-ebadf"]
    res = run_bmc(CLOSE_EBADF, depth=2, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT)
    assert res.verdict == REFUTED and res.depth == 1
    cex = res.counterexample()
    assert cex.steps[0].rule == "close_handle" and cex.steps[0].errno == 0
    replay(cex)
    ok = run_bmc(CLOSE_EBADF, depth=1, timeout_ms=TIMEOUT)
    assert ok.verdict == BOUNDED_OK


def test_timeout_is_unknown_never_proved():
    res = run_bmc(LIVE, depth=2, timeout_ms=1)
    assert res.verdict == UNKNOWN
    assert res.verdict != "proved"
    assert res.reason  # z3's reason_unknown
    with pytest.raises(ValueError):
        res.counterexample()


def test_boot_scenario_and_universe_size():
    res = run_bmc(LIVE, depth=1, scenario="boot", extra={"Thread": 1, "Process": 1, "Token": 1},
                  timeout_ms=TIMEOUT)
    assert res.verdict == BOUNDED_OK
    uni = res.unrolling.uni
    assert len(uni.elements["Thread"]) == 2  # init + one fresh


def test_parse_universe():
    assert parse_universe("") == DEFAULT_EXTRA
    assert parse_universe("thread=4, Token=1")["Thread"] == 4
    with pytest.raises(ValueError):
        parse_universe("Gadget=2")
    with pytest.raises(ValueError):
        parse_universe("Token")


# ------------------------------------------------------------------ the command
def _cli(*args):
    from tokenproof.cli import main

    return CliRunner().invoke(main, ["check", *args])


def test_check_command_refutes_a_mutant_and_writes_the_trace(tmp_path):
    r = _cli("live-processes-have-live-primaries", "--mutant", "fork-shares-token", "--depth", "2",
             "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "REFUTED at depth 1" in r.output and "fork(" in r.output
    path = tmp_path / "live-processes-have-live-primaries.fork-shares-token.json"
    doc = json.loads(path.read_text())
    assert doc["schema"] == "tokenproof-trace/1" and doc["auto_gc"] is False
    assert doc["scenario"] == "standard" and len(doc["model_hash"]) == 64
    assert doc["steps"][0]["rule"] == "fork"
    assert doc["violation"]["property"] == "live-processes-have-live-primaries"


def test_check_command_bad_input():
    r = _cli("live-process-have-primaries")
    assert r.exit_code == 2
    assert "live-processes-have-live-primaries" in r.output
    assert _cli("live-processes-have-live-primaries", "--mutant", "no-such-mutant").exit_code == 2
    assert _cli("live-processes-have-live-primaries", "--universe", "Gadget=1").exit_code == 2
    bad_sat = _cli("live-processes-have-live-primaries", "--sat", "cadicle")
    assert bad_sat.exit_code == 2 and "cadical195" in bad_sat.output


def test_check_command_with_the_reductions_and_cadical_refutes_at_the_same_depth(tmp_path):
    r = _cli("revert-always-succeeds-and-leaves-the-thread-on-its-primary", "--mutant", "revert-keeps-impersonating",
             "--depth", "3", "--reduce", "--sat", "cadical195", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "REFUTED at depth 3" in r.output  # as without them (tests/tokenproof/test_reductions.py)


def test_check_command_races_shortcuts_on_two_jobs_at_the_same_depth(tmp_path):
    """``--jobs 2``: the revert mutant's depth-3 counterexample (one actor) at depth 3, whichever lane
    finds it, written and replayed; ``--jobs 0`` is bad input."""
    r = _cli("revert-always-succeeds-and-leaves-the-thread-on-its-primary", "--mutant", "revert-keeps-impersonating",
             "--depth", "3", "--jobs", "2", "--out", str(tmp_path))
    assert r.exit_code == 0, r.output
    assert "REFUTED at depth 3" in r.output
    assert _cli("live-processes-have-live-primaries", "--jobs", "0").exit_code == 2


def test_check_command_unknown_is_exit_3_only_when_strict():
    args = ("live-processes-have-live-primaries", "--depth", "2", "--timeout", "1")
    r = _cli(*args)
    assert r.exit_code == 0 and "UNKNOWN" in r.output and "not proved" in r.output
    assert "hint: a longer --timeout, or --reduce --sat cadical195" in r.output
    assert _cli(*args, "--strict").exit_code == 3


def test_check_command_help():
    r = _cli("--help")
    assert r.exit_code == 0 and "bounded-ok" in r.output and "--universe" in r.output
    assert "--jobs" in r.output and "--no-shortcuts" in r.output


def test_rule_sets_whose_size_is_a_power_of_two_keep_every_trace():
    """Regression: the selector bound wrapped to 0 for 2, 4, ... rules, so BMC
    saw no step at all and reported bounded-ok for reachable violations."""
    from model.rules import RULES
    from model.values import eq, implies
    from properties.base import Property
    from tokenproof.bmc import run_bmc

    def never_modified(s):
        return s.forall("Token", lambda t: implies(s.token_alive[t], eq(s.token_modified_id[t], 0)))

    prop = Property("modified-id-stays-0", "No token is ever adjusted.", "state", ("§4.2",), never_modified,
                    expect={"kacs": "refuted"})
    rules = {n: RULES[n] for n in ("kacs_open_self_token", "ioctl_adjust_privs")}
    res = run_bmc(prop, depth=2, rules=rules, timeout_ms=60000)
    assert res.verdict == "refuted" and res.depth == 2


# ------------------------------------------------------------------ rule-level cone, ground states
def test_rule_cone_keeps_every_writer_of_the_cone_and_changes_no_answer():
    """The cone is closed (every kept rule's reads for its enabledness and its
    cone writes are in the cone), dropped rules write no cone field, and BMC
    with the cone finds the same shortest counterexample as without it."""
    from model.scenarios import SCENARIOS
    from model.rules.registry import RULES
    from tokenproof.bmc import Unrolling, rule_cone

    m = load_seeded()["fork-shares-token"]
    rules = m.rules()
    unr = Unrolling(SCENARIOS["standard"]().state, rules, DEFAULT_EXTRA, 2, TIMEOUT)
    tpl = unr.template
    cone = rule_cone(LIVE, tpl)
    assert {"thread_alive", "thread_real", "token_alive"} <= cone.fields
    assert "fork" in cone.rules
    for name in cone.dropped:
        assert not (tpl.writes[name] & cone.fields), name
    for name in cone.rules:
        assert tpl.reads(name, "enabled") <= cone.fields
        for f in tpl.writes[name] & cone.fields:
            assert tpl.reads(name, f) <= cone.fields, (name, f)
    assert len(cone.rules) < len(RULES)  # something is dropped on this property
    with_cone = run_bmc(LIVE, depth=2, rules=rules, mutant=m.name, timeout_ms=TIMEOUT, cone=True)
    assert with_cone.cone is not None and len(with_cone.unrolling.rule_names) == len(cone.encoded)
    assert with_cone.verdict == REFUTED and with_cone.depth == 1
    replay(with_cone.counterexample())
    ok = run_bmc(LIVE, depth=1, timeout_ms=TIMEOUT, cone=True)
    assert ok.verdict == BOUNDED_OK


def test_transition_cone_restricts_only_the_steps_before_the_violation():
    m = load_seeded()["close-ignores-ebadf"]
    res = run_bmc(CLOSE_EBADF, depth=2, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT, cone=True)
    assert res.cone.last == ["close_handle"]
    assert res.verdict == REFUTED and res.depth == 1
    assert res.counterexample().steps[0].rule == "close_handle"


def test_states_are_ground_terms_over_the_step_choices():
    """No uninterpreted state function reaches the solver: depth 0 is literals,
    later depths are terms over the selector, actor and arguments; a model
    therefore fixes every field (the counterexample's states all replay)."""
    import z3

    m = load_seeded()["fork-shares-token"]
    res = run_bmc(LIVE, depth=1, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT)
    unr = res.unrolling
    assert all(z3.is_true(v) or z3.is_false(v) for v in unr.field_table(0, "thread_alive").values())
    for a in unr.solver.assertions():
        todo, seen = [a], set()
        while todo:
            e = todo.pop()
            if e.get_id() in seen:
                continue
            seen.add(e.get_id())
            if z3.is_app(e) and e.num_args() > 0:
                assert e.decl().kind() != z3.Z3_OP_UNINTERPRETED, e.decl()
                todo.extend(e.children())
    cex = res.counterexample()
    replay(cex)
    assert cex.replayed and len(cex.states) == 2


def _modified_ids_never_decrease(pre, post, step):
    return pre.forall("Token", lambda t: implies(and_(pre.token_alive[t], post.token_alive[t]),
                                                 uge(post.token_modified_id[t], pre.token_modified_id[t])))


def _modified_ids_never_decrease_looking_at_the_step(pre, post, step):
    assert step.rule  # reads the step: the violation is built rule by rule
    return _modified_ids_never_decrease(pre, post, step)


@pytest.mark.parametrize("rules", [None, ("ioctl_adjust_privs", "close_handle")], ids=["any-rule", "two-rules"])
def test_a_check_blind_to_the_step_gives_the_violation_built_rule_by_rule(rules):
    """``violation`` builds a transition check that never reads the step once (``_without_the_step``),
    not once per rule: the same violation, for a property over every rule or over some."""
    import z3

    from model.scenarios import SCENARIOS
    from tokenproof.bmc import Unrolling, _as_bool, _without_the_step, violation

    blind = Property("test.blind", "modified ids never decrease", "transition", ("§4.2",),
                     _modified_ids_never_decrease, rules=rules)
    looking = Property("test.looking", "modified ids never decrease", "transition", ("§4.2",),
                       _modified_ids_never_decrease_looking_at_the_step, rules=rules)
    unr = Unrolling(SCENARIOS["standard"]().state, load_seeded()["adjust-privs-bumps-before-validating"].rules(),
                    DEFAULT_EXTRA, 2, TIMEOUT)
    unr.extend()
    assert _without_the_step(looking, unr.states[0], unr.states[1]) is None
    assert _without_the_step(blind, unr.states[0], unr.states[1]) is not None
    s = z3.Solver()
    s.set("timeout", TIMEOUT)
    s.add(*unr.solver.assertions(), _as_bool(violation(blind, unr, 1)) != _as_bool(violation(looking, unr, 1)))
    assert s.check() == z3.unsat


# ------------------------------------------------------------------ two lanes across the depths (depthrace)
def test_two_lanes_give_the_one_lane_verdicts_depths_and_per_depth_answers():
    """``run_bmc(jobs=2)`` hands every depth to lanes that work ahead (``_race_depths``): the
    shortest counterexample, every depth's answer, bounded-ok and unknown are the one-lane ones."""
    m = load_seeded()["fork-shares-token"]
    res = run_bmc(LIVE, depth=3, rules=m.rules(), mutant=m.name, timeout_ms=TIMEOUT, jobs=2)
    assert (res.verdict, res.depth) == (REFUTED, 1)
    assert [s.result for s in res.stats] == ["unsat", "sat"]
    cex = res.counterexample()
    replay(cex)
    assert [s.rule for s in cex.steps] == ["fork"] and cex.replayed
    ok = run_bmc(LIVE, depth=1, timeout_ms=TIMEOUT, jobs=2)
    assert (ok.verdict, ok.depth, ok.model) == (BOUNDED_OK, 1, None)
    assert [s.result for s in ok.stats] == ["unsat", "unsat"]
    gave_up = run_bmc(LIVE, depth=2, timeout_ms=1, jobs=2)
    assert gave_up.verdict == UNKNOWN and gave_up.reason
    assert gave_up.depth == [s.result for s in gave_up.stats].index("unknown") - 1


def test_terms_are_released_before_the_interpreter_tears_z3_down():
    """At exit the cyclic garbage holding z3 terms is collected while z3 still works and the main
    context is not deleted term by term (a depth-4 unrolling made that take minutes)."""
    import gc
    import weakref

    import z3

    from tokenproof.unrolling import _release_terms_at_exit

    class Holder:
        pass

    a, b = Holder(), Holder()
    a.other, b.other, a.term = b, a, z3.BitVec("held_in_a_cycle", 8) + 1
    alive = weakref.ref(a)
    del a, b
    gc.disable()
    try:
        assert alive() is not None  # only the cycle collector frees it
        _release_terms_at_exit()
        assert alive() is None and z3.main_ctx().owner is False
    finally:
        z3.main_ctx().owner = True
        gc.enable()
