"""One BMC query decided on several cores at once: a race of z3 solvers.

A depth's query is hard or easy mostly by luck: the same satisfiable depth-3
query takes z3 3 s or 12 s with another ``random_seed`` (measured, see
``run_bmc(jobs=...)``).  ``race`` runs several *lanes* side by side, each
attempt in its own z3 context and the lanes in threads (z3's C calls release
the GIL; ``tokenproof.depthrace`` does the running, for one depth), and takes
the first answer that settles the question:

- a lane is a list of ``Attempt``\\ s run in order;
- an attempt's ``settles`` names the answers that end the race: ``{"sat",
  "unsat"}`` for the whole query, ``{"sat"}`` for an under-approximation
  (a restriction of the query: its model is one of the query's, its
  ``unsat`` says nothing), after which the lane goes on to its next attempt;
- the other lanes are interrupted (``z3.Context.interrupt``) and joined
  before ``race`` returns, and the winning model is translated back to the
  caller's context.

No lane settling (every one gave up, or only under-approximations answered
``unsat``): ``unknown``, with the lanes' reasons.  Verdicts therefore never
depend on which lane wins; only *which* counterexample is found may.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import z3

from tokenproof.unrolling import new_solver

SAT, UNSAT, UNKNOWN = "sat", "unsat", "unknown"


@dataclass(frozen=True)
class Attempt:
    """One solver call of a lane: the assertions (in the caller's context), the z3 ``random_seed``,
    the answers that settle the race (``{"sat"}`` for an under-approximation), a name for reports
    and the share of the race's timeout it may use."""

    assertions: tuple[Any, ...]
    seed: int = 0
    settles: frozenset[str] = frozenset({SAT, UNSAT})
    name: str = "query"
    budget: float = 1.0  # its share of the race's timeout

    def solver(self, assertions: Any, ctx: Any, timeout_ms: int, rlimit: int, qfbv: bool) -> z3.Solver:
        """A solver in ``ctx`` holding ``assertions`` (this attempt's, or their translation into
        ``ctx``), with this attempt's share of ``timeout_ms`` and its seed."""
        sv = new_solver(max(1, int(timeout_ms * self.budget)), rlimit, ctx, qfbv)
        sv.set("random_seed", int(self.seed))
        sv.add(*assertions)
        return sv


@dataclass
class Outcome:
    """The race's result: ``answer`` (a ``z3.CheckSatResult``), the winner's model in the caller's
    context (on sat), which attempt settled it, and the reasons of the lanes that gave up."""

    answer: Any
    winner: str = ""
    model_: Any = None
    reasons: list[str] = field(default_factory=list)
    tried: list[tuple[str, str, float]] = field(default_factory=list)  # (attempt, answer, seconds), as they ended

    def model(self) -> Any:
        return self.model_

    def reason_unknown(self) -> str:
        return "; ".join(self.reasons) or "no lane settled the query"


def race(lanes: list[list[Attempt]], timeout_ms: int, rlimit: int = 0, qfbv: bool = False) -> Outcome:
    """Run the lanes side by side; the first attempt whose answer it ``settles`` wins (see the module
    docstring).  Every attempt's assertions must live in one context, the one the model comes back in.
    One lane runs in this thread and context; several are a one-depth ``tokenproof.depthrace.DepthRace``
    (a thread and a context per attempt, the losers interrupted).  ``qfbv``: the assertions are pure
    bit-vector formulas (``tokenproof.unrolling.new_solver``)."""
    if len(lanes) == 1:
        return _one_lane(lanes[0], timeout_ms, rlimit, qfbv)
    from tokenproof.depthrace import DepthRace  # it builds on this module's Attempt

    depths = DepthRace(len(lanes), timeout_ms, rlimit, qfbv)
    depths.add(0, lanes)
    got = depths.result()
    return Outcome(_ANSWERS[got.answer], got.winner, got.model_, got.reasons,
                   [(name, answer, seconds) for _, name, answer, seconds in got.tried])


_ANSWERS = {SAT: z3.sat, UNSAT: z3.unsat, UNKNOWN: z3.unknown}


def _one_lane(lane: list[Attempt], timeout_ms: int, rlimit: int, qfbv: bool) -> Outcome:
    """The attempts in order, in this thread and the assertions' context, until one settles."""
    out = Outcome(z3.unknown)
    for attempt in lane:
        sv = attempt.solver(attempt.assertions, attempt.assertions[0].ctx, timeout_ms, rlimit, qfbv)
        t0 = time.perf_counter()
        answer = sv.check()
        out.tried.append((attempt.name, str(answer), time.perf_counter() - t0))
        if str(answer) in attempt.settles:
            out.answer, out.winner = answer, attempt.name
            out.model_ = sv.model() if answer == z3.sat else None
            return out
        if answer == z3.unknown:
            out.reasons.append(f"{attempt.name}: {sv.reason_unknown()}")
    return out


__all__ = ["Attempt", "Outcome", "race", "SAT", "UNSAT", "UNKNOWN"]
