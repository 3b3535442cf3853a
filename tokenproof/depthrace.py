"""The depths of one BMC run decided on several cores, each lane working ahead.

``tokenproof.portfolio.race`` decides one depth at a time: the caller builds
depth ``k``'s terms, races the lanes on its query, and only then builds depth
``k+1``.  A ``DepthRace`` keeps its lanes (threads, z3's C calls release the
GIL) running across depths instead:

- the caller ``add``\\ s each depth's attempts as soon as it has built them, and
  goes on building the next depth while the lanes solve (building is Python,
  solving is z3: they overlap);
- a lane takes its attempts in order, skipping those of a depth already
  decided; a lane whose attempt's depth gets decided by another lane is
  interrupted and moves on;
- so the shortcut lane, done with depth ``k``'s restrictions, starts on depth
  ``k+1``'s while lane 0 is still proving depth ``k`` unsatisfiable.

Depth ``d`` is decided by: a satisfiable attempt of ``d`` (a restriction's
model is one of the whole query's), the whole query's ``unsat`` (an attempt
settling ``unsat``), or, once no attempt of ``d`` is left, ``unknown``.  The
race's answer is the first depth, in order, that is not ``unsat``: ``sat``
there (a shortest counterexample: every shallower depth is unsatisfiable) or
``unknown``; ``unsat`` when every depth added before ``close`` is.  A
satisfiable deeper depth waits for the shallower ones, so verdicts and depths
are those of deciding the depths one after the other.

The caller's queries for depth ``d`` may assume every shallower depth
unsatisfiable (BMC adds ``Not(violation_j)`` for ``j < d``): they are only
read when that holds.  Every attempt runs in its own z3 context, translated
in the caller's thread when added; the winning model is translated back by
``result``.  A context is never used by two threads at once: a lane holds no
term of the caller's context (releasing one is a use of that context), and
Python's cycle collector, which may run in any thread, is off until ``result``.
"""

from __future__ import annotations

import gc
import queue
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

import z3

from tokenproof.portfolio import SAT, UNKNOWN, UNSAT, Attempt

INTERRUPTED = "interrupted"  # an attempt stopped because its depth was decided elsewhere
CANCELED = ("interrupted", "canceled")  # z3's reason_unknown after ``Context.interrupt`` (by version)
POLL_SECONDS = 0.05  # how often a stale attempt is interrupted again (it may have been starting)


@dataclass
class DepthOutcome:
    """The race's answer: ``answer`` (``"sat"``, ``"unsat"``, ``"unknown"``) at ``depth`` (for
    ``unsat``: the last depth added), the model in the caller's context (sat), the attempt that found
    it, the lanes' reasons at an unknown depth, each depth's seconds from the start to its decision,
    and every attempt as it ended: (depth, attempt, answer or ``"interrupted"``, seconds)."""

    answer: str
    depth: int
    model_: Any = None
    winner: str = ""
    reasons: list[str] = field(default_factory=list)
    decided: dict[int, tuple[str, float]] = field(default_factory=dict)
    tried: list[tuple[int, str, str, float]] = field(default_factory=list)

    def model(self) -> Any:
        return self.model_

    def reason_unknown(self) -> str:
        return "; ".join(self.reasons) or "no attempt settled the depth"


@dataclass
class _Task:
    """One attempt as a lane runs it: its own context and its assertions translated there, and the
    attempt's settings without its (caller's context) assertions, which a lane must never release."""

    depth: int
    attempt: Attempt
    ctx: z3.Context
    assertions: list[Any]

    @classmethod
    def of(cls, depth: int, attempt: Attempt) -> "_Task":
        ctx = z3.Context()
        return cls(depth, replace(attempt, assertions=()), ctx, _translated(attempt.assertions, ctx))


def _translated(assertions: tuple[Any, ...], ctx: z3.Context) -> list[Any]:
    """``assertions`` in ``ctx``: one translation of their conjunction (their shared subterms are
    translated once; z3 splits a conjunction back into assertions)."""
    if not assertions:
        return []
    return [z3.And(*assertions).translate(ctx)]


class DepthRace:
    """Lanes fed depth by depth (see the module docstring).  ``add`` and ``result`` are the caller's:
    they are the only code that touches the caller's z3 context."""

    def __init__(self, lanes: int, timeout_ms: int, rlimit: int = 0, qfbv: bool = False):
        self.timeout_ms, self.rlimit, self.qfbv = timeout_ms, rlimit, qfbv
        self.t0 = time.perf_counter()
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.queues: list[queue.Queue] = [queue.Queue() for _ in range(lanes)]
        self.depths: list[int] = []
        self.closed = False
        self.pending: dict[int, int] = {}  # depth -> attempts added and not yet ended
        self.found: dict[int, tuple[str, Any]] = {}  # depth -> (attempt, model in the attempt's context)
        self.reasons: dict[int, list[str]] = {}
        self.decided: dict[int, tuple[str, float]] = {}
        self.tried: list[tuple[int, str, str, float]] = []
        self.running: list[_Task | None] = [None] * lanes
        self.outcome: tuple[str, int] | None = None
        self.target: z3.Context | None = None  # the caller's context
        # Python's cycle collector runs in whichever thread allocates: in a lane it could release
        # terms of the caller's context while the caller builds terms there (z3 contexts are not
        # thread-safe; this crashed with "double free or corruption").  Off while the lanes run.
        self.gc_was_enabled = gc.isenabled()
        gc.disable()
        self.threads = [threading.Thread(target=self._lane, args=(i,), daemon=True) for i in range(lanes)]
        for t in self.threads:
            t.start()

    # ------------------------------------------------------------------ the caller's side
    def add(self, depth: int, lanes: list[list[Attempt]]) -> None:
        """Depth ``depth``'s attempts, lane by lane (depths in increasing order); no attempt at all:
        the depth has no violation to look for (``unsat``)."""
        tasks = [[_Task.of(depth, a) for a in lane] for lane in lanes]
        if self.target is None:
            self.target = next((a.assertions[0].ctx for lane in lanes for a in lane if a.assertions), None)
        with self.lock:
            self.depths.append(depth)
            self.pending[depth] = sum(len(t) for t in tasks)
            if not self.pending[depth]:
                self._decide(depth, UNSAT)
        for i, lane in enumerate(tasks):
            for t in lane:
                self.queues[i].put(t)

    def close(self) -> None:
        """No more depths: with every depth added ``unsat``, the race is over."""
        with self.lock:
            self.closed = True
            self._settle()
        for q in self.queues:
            q.put(None)

    def stop(self) -> None:
        """Give up (the caller failed while building): the answer is ``unknown``; ``result`` then
        returns as soon as the lanes are interrupted."""
        with self.lock:
            if self.outcome is None:
                self.outcome = (UNKNOWN, self.depths[-1] if self.depths else 0)
                self.reasons.setdefault(self.outcome[1], []).append("stopped by the caller")
            self.done.set()
            self._interrupt_stale()

    def settled(self) -> bool:
        return self.done.is_set()

    def result(self) -> DepthOutcome:
        """Wait for the answer, stop the lanes, and bring the model home (closes the race first)."""
        if not self.closed:
            self.close()
        while any(t.is_alive() for t in self.threads):
            for t in self.threads:
                t.join(POLL_SECONDS)
            with self.lock:
                self._interrupt_stale()
        if self.gc_was_enabled:
            gc.enable()
        answer, depth = self.outcome or (UNKNOWN, self.depths[0] if self.depths else 0)
        out = DepthOutcome(answer, depth, decided=dict(self.decided), tried=list(self.tried))
        if answer == SAT:
            out.winner, model = self.found[depth]
            out.model_ = model.translate(self.target)
        elif answer == UNKNOWN:
            out.reasons = self.reasons.get(depth, [])
        return out

    # ------------------------------------------------------------------ the lanes
    def _lane(self, i: int) -> None:
        q = self.queues[i]
        while not self.done.is_set():
            task = q.get()
            if task is None:
                return
            with self.lock:
                if self._stale(task):
                    self._ended(task, "skipped", 0.0)
                    continue
                self.running[i] = task
            self._run(i, task)

    def _run(self, i: int, task: _Task) -> None:
        a = task.attempt
        sv = a.solver(task.assertions, task.ctx, self.timeout_ms, self.rlimit, self.qfbv)
        t0 = time.perf_counter()
        answer = str(sv.check())
        with self.lock:
            self.running[i] = None
            if answer in a.settles and not self._stale(task):
                if answer == SAT:
                    self.found[task.depth] = (a.name, sv.model())
                self._decide(task.depth, answer)
            elif answer == UNKNOWN and self._stale(task) and sv.reason_unknown() in CANCELED:
                answer = INTERRUPTED
            elif answer == UNKNOWN:
                self.reasons.setdefault(task.depth, []).append(f"{a.name}: {sv.reason_unknown()}")
            self._ended(task, answer, time.perf_counter() - t0)

    # ------------------------------------------------------------------ bookkeeping (under the lock)
    def _stale(self, task: _Task) -> bool:
        """Its answer is no longer needed: the race is over or its depth is decided (``unknown`` is
        decided only once no attempt of the depth is left)."""
        return self.done.is_set() or task.depth in self.decided

    def _ended(self, task: _Task, answer: str, seconds: float) -> None:
        self.pending[task.depth] -= 1
        if answer != "skipped":
            self.tried.append((task.depth, task.attempt.name, answer, seconds))
        if not self.pending[task.depth] and task.depth not in self.decided:
            self._decide(task.depth, UNKNOWN)
        self._settle()

    def _decide(self, depth: int, answer: str) -> None:
        self.decided.setdefault(depth, (answer, time.perf_counter() - self.t0))
        self._interrupt_stale()

    def _settle(self) -> None:
        """The first depth in order that is not unsatisfiable ends the race once it is decided."""
        if self.outcome is not None:
            return
        for d in self.depths:
            got = self.decided.get(d, (None, 0.0))[0]
            if got == UNSAT:
                continue
            if got is not None:
                self.outcome = (got, d)
                self.done.set()
                self._interrupt_stale()
            return
        if self.closed:
            self.outcome = (UNSAT, self.depths[-1] if self.depths else 0)
            self.done.set()

    def _interrupt_stale(self) -> None:
        for task in self.running:
            if task is not None and self._stale(task):
                task.ctx.interrupt()


__all__ = ["DepthRace", "DepthOutcome"]
