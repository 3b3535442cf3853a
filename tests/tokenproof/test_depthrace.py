"""The depth race (``tokenproof.depthrace``): lanes fed depth by depth decide each depth as the one-lane
loop would: a deeper counterexample waits for every shallower depth to be unsatisfiable, the first
satisfiable depth wins even when a deeper one answered first, a restriction's ``unsat`` decides nothing,
an undecided depth is ``unknown`` (never a verdict), and the model comes back in the caller's context."""

from __future__ import annotations

import time

import z3

from tokenproof.depthrace import DepthRace
from tokenproof.portfolio import SAT, Attempt

TIMEOUT = 60_000
x, y = z3.BitVecs("x y", 16)
FREE = (z3.ULT(x, 100), x * 3 == y)  # satisfiable
NONE = (*FREE, z3.UGT(x, 150))  # unsatisfiable
a, b = z3.BitVecs("a b", 128)
HARD = (a * b == (2**61 - 1) * (2**89 - 1), z3.UGT(a, 1), z3.UGT(b, 1))  # no answer within a test's time


def restriction(assertions, name="shortcut"):
    return Attempt(tuple(assertions), 0, frozenset({SAT}), name)


def whole(assertions, seed=0):
    return Attempt(tuple(assertions), seed)


def run(depths, lanes=2, rlimit=0):
    race = DepthRace(lanes, TIMEOUT, rlimit)
    for d, attempts in enumerate(depths):
        race.add(d, attempts)
    return race.result()


def test_every_depth_unsatisfiable_is_unsat_at_the_last_depth():
    got = run([[], [[whole(NONE)], []], [[whole(NONE)], [restriction(NONE)]]])
    assert (got.answer, got.depth) == ("unsat", 2)
    assert [got.decided[d][0] for d in range(3)] == ["unsat"] * 3


def test_a_deeper_shortcut_waits_for_the_shallower_depth_and_its_model_comes_home():
    got = run([[[whole(NONE)], []], [[whole(FREE)], [restriction((*FREE, x == 7))]]])
    assert (got.answer, got.depth) == ("sat", 1)
    assert got.decided[0][0] == "unsat"
    model = got.model()
    assert model.ctx is x.ctx and z3.is_true(model.eval(z3.And(*FREE)))


def test_the_shallowest_satisfiable_depth_wins_even_when_a_deeper_one_answers_first():
    # lane 1 answers depth 1 at once; lane 0 needs its (restriction, unsat) first, then finds depth 0
    got = run([[[restriction(NONE, "narrow"), whole((*FREE, x == 3))], []],
               [[whole(FREE)], [restriction((*FREE, x == 7))]]])
    assert (got.answer, got.depth) == ("sat", 0)
    assert got.model().eval(x).as_long() == 3


def test_a_restrictions_unsat_decides_nothing_and_an_undecided_depth_is_unknown():
    got = run([[[whole(NONE)], []], [[restriction(NONE, "narrow")], []]])
    assert (got.answer, got.depth) == ("unknown", 1)
    assert got.decided[1][0] == "unknown"


def test_an_unknown_depth_stops_the_race_with_its_reason_even_if_a_deeper_depth_is_satisfiable():
    gives_up = Attempt(HARD, 0, budget=1e-5)  # a 1 ms timeout
    got = run([[[gives_up], []], [[whole(FREE)], []]])
    assert (got.answer, got.depth) == ("unknown", 0)
    assert "query" in got.reason_unknown()


def test_an_attempt_whose_depth_is_decided_elsewhere_is_interrupted_and_its_lane_moves_on():
    # lane 0 is stuck on a restriction of depth 1 (no timeout within the test's time) when lane 1
    # decides depth 1 unsat: lane 0 must be interrupted (z3 says so) and go on to depth 2.  Lane 1
    # waits until lane 0 is on that restriction (else lane 0 would merely skip it).
    class LaneOneWaits(DepthRace):
        def _run(self, i, task):
            while i == 1 and not self.lane_zero_on("narrow"):
                time.sleep(0.01)
            super()._run(i, task)

        def lane_zero_on(self, name):
            running = self.running[0]
            return running is not None and running.attempt.name == name

    race = LaneOneWaits(2, 600_000)
    race.add(0, [[whole(NONE)], []])
    race.add(1, [[restriction(HARD, "narrow")], [whole(NONE)]])
    race.add(2, [[whole(FREE)], []])
    got = race.result()
    assert (got.answer, got.depth) == ("sat", 2)
    ended = {(d, name): answer for d, name, answer, _ in got.tried}
    assert ended[(1, "narrow")] == "interrupted" and ended[(1, "query")] == "unsat"


def test_stopping_gives_unknown_interrupts_the_lanes_and_restores_the_cycle_collector():
    import gc

    assert gc.isenabled()
    race = DepthRace(2, 600_000)
    assert not gc.isenabled()  # a lane must never collect the caller's terms
    race.add(0, [[whole(HARD)], [restriction(HARD)]])
    race.stop()
    got = race.result()
    assert (got.answer, got.depth) == ("unknown", 0) and "stopped" in got.reason_unknown()
    assert gc.isenabled()


def test_a_lane_never_holds_the_callers_terms():
    race = DepthRace(1, TIMEOUT)
    race.add(0, [[whole(FREE)]])
    race.close()
    got = race.result()
    assert got.answer == "sat"
    from tokenproof.depthrace import _Task

    task = _Task.of(0, whole(FREE))
    assert task.attempt.assertions == () and all(t.ctx is task.ctx for t in task.assertions)
