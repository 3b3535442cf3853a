"""The solver race (``tokenproof.portfolio``): an answer settles it only when its attempt says so,
a restriction's ``unsat`` passes to the next attempt, the winning model comes back in the caller's
context, and nothing settling is ``unknown``, never a verdict."""

from __future__ import annotations

import z3

from tokenproof.portfolio import SAT, Attempt, race

TIMEOUT = 60_000
x, y = z3.BitVecs("x y", 16)
WHOLE = (z3.ULT(x, 100), x * 3 == y)
NARROW_SAT = (*WHOLE, x == 7)  # a restriction of WHOLE with models
NARROW_UNSAT = (*WHOLE, x == 200)  # a restriction of WHOLE without models


def restriction(assertions, name):
    return Attempt(assertions, 0, frozenset({SAT}), name)


def test_one_lane_asks_its_attempts_in_order_and_a_restrictions_unsat_decides_nothing():
    got = race([[restriction(NARROW_UNSAT, "narrow"), Attempt(WHOLE, 0)]], TIMEOUT)
    assert got.answer == z3.sat and got.winner == "query"
    assert z3.is_true(got.model().eval(z3.And(*WHOLE)))


def test_a_satisfiable_restriction_settles_the_race_with_a_model_of_the_whole_query():
    got = race([[restriction(NARROW_SAT, "narrow"), Attempt(WHOLE, 0)]], TIMEOUT)
    assert got.answer == z3.sat and got.winner == "narrow"
    assert got.model().eval(x).as_long() == 7
    assert z3.is_true(got.model().eval(z3.And(*WHOLE)))


def test_an_unsatisfiable_whole_query_settles_as_unsat_on_any_lane():
    impossible = (*WHOLE, z3.UGT(x, 150))
    got = race([[Attempt(impossible, 0)], [restriction(impossible, "narrow"), Attempt(impossible, 1)]], TIMEOUT)
    assert got.answer == z3.unsat


def test_two_lanes_bring_the_model_back_into_the_callers_context():
    got = race([[Attempt(WHOLE, 0)], [restriction(NARROW_SAT, "narrow"), Attempt(WHOLE, 1)]], TIMEOUT)
    assert got.answer == z3.sat and got.winner in {"narrow", "query"}
    model = got.model()
    assert model.ctx is x.ctx
    assert z3.is_true(model.eval(z3.And(*WHOLE)))


def test_only_restrictions_answering_unsat_is_unknown_not_a_verdict():
    got = race([[restriction(NARROW_UNSAT, "narrow")]], TIMEOUT)
    assert got.answer == z3.unknown


def test_a_lane_that_gives_up_is_unknown_with_its_reason():
    a, b = z3.BitVecs("a b", 64)
    hard = (a * b == 0x1234567890ABCDEF, z3.UGT(a, 1), z3.UGT(b, 1))
    got = race([[Attempt(hard, 0)]], TIMEOUT, rlimit=1)
    assert got.answer == z3.unknown
    assert "query" in got.reason_unknown()
