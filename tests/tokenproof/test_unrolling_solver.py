"""``tokenproof.unrolling.new_solver``: the bit-vector pipeline BMC uses on ``bv=True`` queries
decides what z3's default solver decides, falls back on formulas that are not pure bit-vector,
and stops at its limits (a verdict is never bought by answering wrongly or hanging)."""

from __future__ import annotations

import random
import threading

import pytest
import z3

from tokenproof import unrolling
from tokenproof.unrolling import new_solver

TIMEOUT = 20000


def _random_formula(rng: random.Random) -> list[z3.BoolRef]:
    """A few random constraints over three 6-bit variables (sat or unsat, seeded)."""
    xs = [z3.BitVec(f"x{i}", 6) for i in range(3)]
    ops = [lambda a, b: a + b, lambda a, b: a & b, lambda a, b: a * b, lambda a, b: a ^ b, lambda a, b: a | b]
    rels = [lambda a, b: a == b, lambda a, b: z3.ULT(a, b), lambda a, b: a != b]
    out = []
    for _ in range(rng.randint(1, 5)):
        a, b, c = (rng.choice(xs) for _ in range(3))
        term = rng.choice(ops)(a, b)
        other = c if rng.random() < 0.5 else z3.BitVecVal(rng.randrange(64), 6)
        out.append(rng.choice(rels)(term, other))
    return out


def _pigeonhole(ctx: z3.Context | None = None) -> list[z3.BoolRef]:
    """13 pigeons in 12 holes: unsatisfiable, and over 20 s for the pipeline (CDCL needs
    exponentially many conflicts on it), so a limit of a fraction of a second always stops it."""
    holes = 12
    pigeons = [z3.BitVec(f"p{i}", 5, ctx) for i in range(holes + 1)]
    return [z3.Distinct(*pigeons), *[z3.ULT(p, holes) for p in pigeons]]


def test_the_bit_vector_pipeline_answers_as_the_default_solver_and_its_models_hold():
    rng = random.Random(20261206)
    answers = set()
    for _ in range(60):
        fml = _random_formula(rng)
        default, pipeline = new_solver(TIMEOUT), new_solver(TIMEOUT, qfbv=True)
        default.add(*fml)
        pipeline.add(*fml)
        got = pipeline.check()
        assert got == default.check(), fml
        answers.add(str(got))
        if got == z3.sat:
            m = pipeline.model()
            assert all(z3.is_true(m.eval(f, model_completion=True)) for f in fml), fml
    assert answers == {"sat", "unsat"}  # the sample has both kinds


@pytest.mark.parametrize("name, formula, expected", [
    ("uninterpreted function", lambda: [z3.Function("f", z3.BitVecSort(4), z3.BitVecSort(4))(z3.BitVec("x", 4))
                                        != z3.BitVecVal(0, 4)], z3.sat),
    ("uninterpreted sort", lambda: [z3.Const("a", z3.DeclareSort("S")) != z3.Const("b", z3.DeclareSort("S"))], z3.sat),
    ("uninterpreted sort, unsat", lambda: [z3.Const("a", z3.DeclareSort("S")) != z3.Const("a", z3.DeclareSort("S"))],
     z3.unsat),
])
def test_a_formula_that_is_not_pure_bit_vector_falls_back_to_the_smt_core(name, formula, expected):
    sv = new_solver(TIMEOUT, qfbv=True)
    sv.add(*formula())
    assert sv.check() == expected, (name, sv.reason_unknown())


def test_the_bit_vector_pipeline_stops_at_its_resource_limit_and_timeout():
    for rlimit, timeout_ms in ((20000, TIMEOUT), (0, 300)):
        sv = new_solver(timeout_ms, rlimit, qfbv=True)
        sv.add(*_pigeonhole())
        assert sv.check() == z3.unknown, (rlimit, timeout_ms)


def test_the_bit_vector_pipeline_stops_on_interrupt():
    ctx = z3.Context()
    sv = new_solver(60000, ctx=ctx, qfbv=True)
    sv.add(*_pigeonhole(ctx))
    timer = threading.Timer(0.3, ctx.interrupt)
    timer.start()
    try:
        assert sv.check() == z3.unknown
    finally:
        timer.cancel()


def test_bounded_model_checking_uses_the_pipeline_exactly_for_bit_vector_queries(monkeypatch):
    from tests.tokenproof.test_bmc import LIVE
    from tokenproof.bmc import REFUTED, run_bmc
    from tokenproof.mutants import load_seeded

    asked: list[bool] = []
    real = unrolling.new_solver

    def spy(*args, **kw):
        asked.append(kw.get("qfbv", args[3] if len(args) > 3 else False))
        return real(*args, **kw)

    for module in ("tokenproof.bmc", "tokenproof.portfolio"):  # portfolio's: every lane's, raced or not
        monkeypatch.setattr(f"{module}.new_solver", spy)
    mutant = load_seeded()["fork-shares-token"]
    for bv in (False, True):
        for jobs in (1, 2):
            asked.clear()
            res = run_bmc(LIVE, depth=1, rules=mutant.rules(), timeout_ms=TIMEOUT, bv=bv, jobs=jobs)
            assert res.verdict == REFUTED, (bv, jobs)
            assert asked and set(asked) == {bv}, (bv, jobs, asked)
