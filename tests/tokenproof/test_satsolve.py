"""CaDiCaL behind z3's bit-blasting (``tokenproof.satsolve``, ``run_bmc(sat=...)``): the same answers
as z3, a z3 model that respects the pinned values, ``None`` for what is not propositional after
bit-blasting, unknown on a timeout, and BMC verdicts, depths and replayed counterexamples equal to
z3's alone (issue 3)."""

from __future__ import annotations

import time

import pytest
import z3

import properties.catalog  # noqa: F401
from properties.base import CATALOG
from tokenproof import satsolve
from tokenproof.bmc import run_bmc
from tokenproof.mutants import load_seeded
from tokenproof.replay import replay

TIMEOUT = 120_000
x, y = z3.BitVecs("x y", 8)


def test_a_satisfiable_query_gets_a_z3_model_with_the_pins_cadical_chose(monkeypatch):
    seen = {}
    complete = satsolve._complete

    def spy(assertions, bits, pins, deadline):
        seen.update(bits)
        return complete(assertions, bits, pins, deadline)

    monkeypatch.setattr(satsolve, "_complete", spy)
    query = [x + y == 10, z3.UGT(x, y), z3.ULT(y, 3)]
    got = satsolve.check(query, [x], TIMEOUT)
    assert got.answer == z3.sat
    m = got.model()
    assert all(z3.is_true(m.eval(q)) for q in query)
    assert m.eval(x).as_long() + m.eval(y).as_long() == 10
    assert len(seen) == 8  # every bit of the pin survived bit-blasting and was read off CaDiCaL's model
    assert m.eval(x).as_long() == sum(1 << int(k.rsplit("!", 1)[1]) for k, b in seen.items() if b)


@pytest.mark.parametrize("solver", satsolve.SOLVERS)
def test_an_unsatisfiable_query_is_unsat(solver):
    got = satsolve.check([x + y == 10, z3.UGT(x, 10), z3.ULT(y, 3), z3.ULT(x, 200)], [x], TIMEOUT, solver)
    assert got.answer == z3.unsat
    with pytest.raises(z3.Z3Exception):
        got.model()


def test_a_query_that_is_not_propositional_after_bit_blasting_is_left_to_z3():
    f = z3.Function("f", z3.BitVecSort(8), z3.BitVecSort(8))
    assert satsolve.check([f(x) + y == 5, z3.ULT(x, y), z3.Or(x == 1, x == 2)], [x], TIMEOUT) is None


def test_a_timeout_is_unknown_never_an_answer():
    holes, pigeons = 9, 10  # the pigeonhole principle: exponential for resolution
    p = [[z3.Bool(f"p{i}_{j}") for j in range(holes)] for i in range(pigeons)]
    query = [z3.Or(*row) for row in p]
    query += [z3.Or(z3.Not(p[i][j]), z3.Not(p[k][j])) for j in range(holes)
              for i in range(pigeons) for k in range(i + 1, pigeons)]
    got = satsolve.check(query, [], 200)
    assert got.answer == z3.unknown
    assert "timeout" in got.reason_unknown()


def test_a_cadical_model_that_z3_cannot_extend_is_a_loud_bug():
    with pytest.raises(AssertionError, match="bug in tokenproof.satsolve"):
        satsolve._complete([x == 3], {f"{satsolve._PIN}0!{i}": i == 2 for i in range(8)}, [x], time.monotonic() + 60)


@pytest.mark.parametrize("mutant", ["adjust-default-accepts-any-owner", "revert-keeps-impersonating",
                                    "create-token-accepts-malformed-sids"])
def test_bmc_with_cadical_agrees_with_z3_and_its_counterexamples_replay(mutant):
    prop = next(p for p in CATALOG.values() if mutant in p.mutants)
    mut = load_seeded()[mutant]
    runs = {sat: run_bmc(prop, depth=3, rules=mut.rules(), mutant=mut.name, timeout_ms=TIMEOUT, cone=True,
                         bv=True, sat=sat, sat_from=1) for sat in ("z3", "cadical195")}
    assert runs["cadical195"].verdict == runs["z3"].verdict == "refuted"
    assert runs["cadical195"].depth == runs["z3"].depth
    replay(runs["cadical195"].counterexample())


def test_without_bit_vector_sorts_bmc_leaves_every_query_to_z3(monkeypatch):
    monkeypatch.setattr(satsolve, "check", lambda *a, **k: pytest.fail("the SAT solver was asked"))
    res = run_bmc(CATALOG["live-threads-have-live-effective-tokens"], depth=1, timeout_ms=TIMEOUT, bv=False,
                  sat="cadical195", sat_from=0)
    assert res.verdict == "bounded-ok" and res.depth == 1


def test_bmc_with_cadical_finds_no_violation_in_the_model():
    res = run_bmc(CATALOG["live-threads-have-live-effective-tokens"], depth=2, timeout_ms=TIMEOUT, cone=True,
                  bv=True, sat="cadical195")
    assert res.verdict == "bounded-ok" and res.depth == 2
