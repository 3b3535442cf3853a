"""One BMC query decided on several cores at once: a race of z3 solvers.

A depth's query is hard or easy mostly by luck: the same satisfiable depth-3
query takes z3 3 s or 12 s with another ``random_seed`` (measured, see
``run_bmc(jobs=...)``).  ``race`` runs several *lanes* side by side, each in its
own z3 context and thread (z3's C calls release the GIL), and takes the first
answer that settles the question:

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

import threading
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


class _Race:
    def __init__(self, lanes: list[list[Attempt]], timeout_ms: int, rlimit: int, target: z3.Context):
        self.lanes = lanes
        self.timeout_ms = timeout_ms
        self.rlimit = rlimit
        self.target = target
        # one lane runs in this thread and context; several get a context each, their assertions
        # translated up front, in this thread (the caller's context is used by no other thread)
        self.ctxs = [target] if len(lanes) == 1 else [z3.Context() for _ in lanes]
        self.work = [[(a, [x if c is target else x.translate(c) for x in a.assertions]) for a in lane]
                     for lane, c in zip(lanes, self.ctxs)]
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.result: Outcome | None = None
        self.reasons: list[str] = []
        self.tried: list[tuple[str, str, float]] = []

    def run(self) -> Outcome:
        if len(self.lanes) == 1:
            self._lane(0)
            return self._outcome()
        threads = [threading.Thread(target=self._lane, args=(i,), daemon=True) for i in range(len(self.lanes))]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(0.05)
            if self.done.is_set():  # again and again: a lane may have been between attempts
                for c in self.ctxs:
                    c.interrupt()
        return self._outcome()

    def _outcome(self) -> Outcome:
        out = self.result or Outcome(z3.unknown, reasons=self.reasons)
        out.tried = self.tried
        return out

    def _lane(self, i: int) -> None:
        ctx = self.ctxs[i]
        for attempt, assertions in self.work[i]:
            if self.done.is_set():
                return
            sv = new_solver(max(1, int(self.timeout_ms * attempt.budget)), self.rlimit, ctx)
            sv.set("random_seed", int(attempt.seed))
            sv.add(*assertions)
            t0 = time.perf_counter()
            answer = sv.check()
            name = str(answer)
            with self.lock:
                self.tried.append((attempt.name, name, time.perf_counter() - t0))
            if name in attempt.settles:
                self._settle(attempt, answer, sv)
                return
            if name == UNKNOWN and not self.done.is_set():
                with self.lock:
                    self.reasons.append(f"{attempt.name}: {sv.reason_unknown()}")

    def _settle(self, attempt: Attempt, answer: Any, sv: z3.Solver) -> None:
        with self.lock:
            if self.result is not None:
                return
            model = None
            if answer == z3.sat:
                model = sv.model()
                model = model if sv.ctx is self.target else model.translate(self.target)
            self.result = Outcome(answer, attempt.name, model)
            self.done.set()


def race(lanes: list[list[Attempt]], timeout_ms: int, rlimit: int = 0) -> Outcome:
    """Run the lanes side by side; the first attempt whose answer it ``settles`` wins (see the module
    docstring).  Every attempt's assertions must live in one context, the one the model comes back in."""
    first = next(a.assertions[0] for lane in lanes for a in lane if a.assertions)
    return _Race(lanes, timeout_ms, rlimit, first.ctx).run()


__all__ = ["Attempt", "Outcome", "race", "SAT", "UNSAT", "UNKNOWN"]
