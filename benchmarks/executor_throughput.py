"""Executor throughput: steps per second over random valid traces.

Random steps of the lifecycle and impersonation rules (fork, clone_thread,
thread_exit, close_handle, exec, kacs_revert, and the socket/impersonation
rules when present) by random live threads of the standard world, with and
without the kernel's reclamation after each step (auto-GC, scheduled as the
Simulator does it: ``collect_garbage(state, since=last_fixpoint)``).  Fixed
seed.  Target: >= 50,000 steps/s (printed, not asserted).

A fresh-object argument (a new thread, process, token, socket or session) is
the lowest *free slot* of its sort, a dead object of the universe, when there
is one, else a new id (fresh fds are left to the executor).  That is a valid
random trace (the rule's own ``assume`` decides whether the slot is usable; BMC's
finite universe and the explorer treat a dead object the same way), and it
keeps the universe bounded as a long-running system's would be.  Earlier
versions always took a new id: their digests differ (41a27ff5993f6e82 and
4fd404bda589b4cf for the default run) from this version's, which the
reference paths (``Step.finish`` through ``Write`` objects,
``collect_garbage_full``) and persistent states reproduce
(tests/model/test_reclaim_index_perf.py, tests/model/test_linear_perf.py).

The trace runs on *linear* states (``ConcreteState.linear``): it never goes
back to a pre-state, so effects are written in place; without auto-GC no step
delta is recorded either (nothing reads it).  ``--persistent`` runs it on the
ordinary persistent states (same digests).

Figures are steps per second of wall time and of process CPU time (best of
``--repeat`` runs): on a shared machine the CPU figure is the steadier one.
The digest of the final state and of every step's outcome identifies the
trace, so runs of different versions of the executor can be compared for
semantics too (same seed and steps: same digest).  The loop keeps each step's
outcome (rule, actor, errno, reclamation records) and the digest text is made
and hashed once the clock has stopped; the random choices are drawn with
``below`` (the draws ``random.Random.choice`` and ``randrange`` make, without
their call layers), so the traces and digests are those of earlier versions.

    .venv/bin/python benchmarks/executor_throughput.py [--steps N] [--gc-steps N] [--repeat K] [--profile]
    .venv/bin/python benchmarks/executor_throughput.py --full-gc   # the unscheduled reference collection
    .venv/bin/python benchmarks/executor_throughput.py --all-rules # every thread-made rule, not only those
    .venv/bin/python benchmarks/executor_throughput.py --persistent # persistent states (copy on write)
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import model.rules  # noqa: E402,F401
from model import domain as D  # noqa: E402
from model.reclaim import collect_garbage, collect_garbage_full  # noqa: E402
from model.rules.registry import RULES  # noqa: E402
from model.scenarios import standard  # noqa: E402
from model.sim import try_apply_rule  # noqa: E402
from model.state import ALIVE_FIELD, SCHEMA  # noqa: E402
from model.values import BV  # noqa: E402

TARGET = 50_000
WANTED = ["fork", "clone_thread", "thread_exit", "close_handle", "exec", "kacs_revert",
          "socket_create", "socket_connect", "socket_close", "kacs_impersonate_peer", "kacs_set_impersonation_level"]
MAX_THREADS = 24  # keep the world from growing without bound: fork/clone only below this


def _arg_plan(rule) -> tuple:
    """How ``random_args`` draws each argument of ``rule``: (name, kind, data), read once per rule."""
    plan = []
    for a in rule.args:
        t = a.type
        if a.fresh and t.kind == "obj" and t.sort in ALIVE_FIELD:
            plan.append((a.name, "slot", (t.sort, ALIVE_FIELD[t.sort])))
        elif a.fresh:
            plan.append((a.name, "fresh", None))
        elif t.kind == "bool":
            plan.append((a.name, "bool", None))
        elif t.kind == "obj" and t.sort == "Handle":
            plan.append((a.name, "fd", None))
        elif t.kind == "obj":
            plan.append((a.name, "obj", t.sort))
        elif t.kind == "sid":
            plan.append((a.name, "choice", list(D.SID_ALIASES.values())))
        elif a.fmt == "level" or t.width == 2:
            plan.append((a.name, "bv", (4, t.width)))
        elif a.name == "file_level" or a.fmt == "integrity":
            plan.append((a.name, "choice", [BV(x, t.width) for x in D.INTEGRITY_NAMES]))
        else:
            plan.append((a.name, "bv", (1 << min(t.width, 8), t.width)))
    return tuple(plan)


_PLANS: dict = {}


def below(getrandbits, n: int) -> int:
    """A random int in ``[0, n)`` for ``n > 0``, drawn as ``random.Random`` draws it for
    ``choice`` (``seq[_randbelow(len(seq))]``) and ``randrange(n)``: ``n.bit_length()`` random
    bits, again until below ``n``.  ``getrandbits`` is the generator's bound method.  The
    same draws, hence the same trace, as those calls (tests/model/test_reclaim_index_perf.py),
    without their call layers."""
    k = n.bit_length()
    r = getrandbits(k)
    while r >= n:
        r = getrandbits(k)
    return r


def random_args(rng: random.Random, rule, state, actor):
    """Random arguments (the same draws, in the same order, for the same rule, state and actor)."""
    plan = _PLANS.get(rule.name)
    if plan is None:
        plan = _PLANS[rule.name] = _arg_plan(rule)
    if not plan:
        return {}
    getrandbits = rng.getrandbits
    args = {}
    taken = None  # free slots already given to an earlier argument of this step
    for name, kind, data in plan:
        if kind == "slot":  # the lowest free slot (dead object) of the sort, else a new id
            uni, slot = state.universe[data[0]], None
            if len(state.alive(data[0])) < len(uni):  # some object of the sort is dead
                alive_d = state.raw(data[1])
                for x in uni:
                    if not alive_d.get(x) and (taken is None or x not in taken):
                        slot = x
                        break
            if slot is not None:
                taken = (taken or set()) | {slot}
            args[name] = slot
        elif kind == "fresh":
            args[name] = None
        elif kind == "bool":
            args[name] = rng.random() < 0.5
        elif kind == "fd":
            p = state.raw("thread_proc")[actor]
            fd_open = state.raw("fd_open")
            open_fds = [h for h in state.universe["Handle"] if fd_open[p, h]]
            args[name] = open_fds[below(getrandbits, len(open_fds))] if open_fds else 3  # rng.choice
        elif kind == "obj":
            alive = state.alive(data)
            args[name] = alive[below(getrandbits, len(alive))] if alive else 1  # rng.choice
        elif kind == "choice":
            args[name] = data[below(getrandbits, len(data))]  # rng.choice
        else:
            args[name] = BV(below(getrandbits, data[0]), data[1])  # rng.randrange(data[0])
    return args


def state_digest(state) -> str:
    """Every stored field value (with its Python type) and the universe."""
    h = hashlib.sha256(repr(sorted((k, tuple(v)) for k, v in state.universe.items())).encode())
    for f in SCHEMA:
        r = state.raw(f.name)
        items = sorted(((k, type(v).__name__, v) for k, v in r.items()), key=repr) if f.keys else (type(r).__name__, r)
        h.update(f"{f.name}{items!r}".encode())
    return h.hexdigest()


def rule_names(all_rules: bool = False) -> list[str]:
    """The rules a run draws from: ``WANTED`` (lifecycle and impersonation), or every
    thread-made rule of the registry (``--all-rules``; the kernel's come from auto-GC)."""
    if all_rules:
        return sorted(n for n, r in RULES.items() if not r.kernel)
    return [n for n in WANTED if n in RULES]


def run(steps: int, gc: bool, seed: int = 7, full_gc: bool = False,
        all_rules: bool = False, linear: bool = True) -> tuple[int, int, float, float, str]:
    """``steps`` random steps; returns (steps, skipped, wall seconds, CPU seconds, digest).
    ``linear``: the states are linear (``ConcreteState.linear``: effects written in place;
    the trace never goes back to a pre-state; without auto-GC no delta is recorded either,
    as nothing reads it), else persistent."""
    rng = random.Random(seed)
    getrandbits = rng.getrandbits
    rules = [RULES[n] for n in rule_names(all_rules)]
    n_rules = len(rules)
    grows = [r.name in ("fork", "clone_thread") for r in rules]  # capped at MAX_THREADS
    thread_exit, kacs_revert = RULES["thread_exit"], RULES["kacs_revert"]

    def start():
        return standard().state.linear(delta=gc) if linear else standard().state

    state = start()
    fixpoint = None  # the last collection's result: nothing reclaimable there
    # every step's outcome (rule, actor, errno, reclamation records), in order; the digest
    # hashes their text once the clock has stopped (the same bytes as hashing each step's
    # text as it is made: ``_digest``)
    trace: list[tuple] = []
    add = trace.append
    done = skipped = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < steps:
        threads = state.alive("Thread")
        if not threads:  # every process exited (process_exit is among --all-rules): start again
            state, fixpoint = start(), None
            threads = state.alive("Thread")
        actor = threads[below(getrandbits, len(threads))]  # rng.choice(threads)
        i = below(getrandbits, n_rules)  # rng.choice(rules)
        rule = rules[i]
        if grows[i] and len(threads) >= MAX_THREADS:
            rule = thread_exit if rng.random() < 0.5 else kacs_revert
        out = try_apply_rule(state, rule, actor, random_args(rng, rule, state, actor))
        if out is None:  # not enabled (ModelPreconditionError for apply_rule)
            skipped += 1
            if skipped > 50 * (done + 1):
                state = start()  # stuck (e.g. every process exec'd down to one thread): restart
                fixpoint = None
            continue
        state = out.post
        if gc:
            if full_gc:
                state, recs = collect_garbage_full(state)
            else:
                state, recs = collect_garbage(state, since=fixpoint)
                fixpoint = state
            add((rule.name, actor, out.errno, recs))
        else:
            add((rule.name, actor, out.errno))
        done += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return done, skipped, wall, cpu, _digest(trace, state)


def _digest(trace: list[tuple], state) -> str:
    """The digest of a run: every step's ``rule actor errno`` text and, with auto-GC, the
    ``repr`` of its reclamations' ``(rule, args)`` (``[]`` for none), then ``state_digest``."""
    parts = []
    for step in trace:
        parts.append(f"{step[0]}{step[1]}{int(step[2])}".encode())
        if len(step) == 4:
            recs = step[3]
            parts.append(repr([(r.rule, r.args) for r in recs]).encode() if recs else b"[]")
    outcomes = hashlib.sha256(b"".join(parts))
    outcomes.update(state_digest(state).encode())
    return outcomes.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="steps without auto-GC")
    ap.add_argument("--gc-steps", type=int, default=3000, help="steps with auto-GC")
    ap.add_argument("--repeat", type=int, default=3, help="runs per figure (the best is printed)")
    ap.add_argument("--full-gc", action="store_true", help="offer every token and session after every step "
                    "(collect_garbage_full, the reference) instead of the scheduled collection")
    ap.add_argument("--profile", action="store_true", help="print the cProfile hot spots (with auto-GC)")
    ap.add_argument("--all-rules", action="store_true", help="draw from every thread-made rule, not only "
                    "the lifecycle and impersonation ones")
    ap.add_argument("--persistent", action="store_true", help="persistent states (copy on write) instead of "
                    "linear ones (effects written in place)")
    ns = ap.parse_args()
    present = rule_names(ns.all_rules)
    label = f"all {len(present)} thread-made rules" if ns.all_rules else ", ".join(present)
    print(f"executor throughput, standard world, seed 7, rules: {label}")
    print(f"target: >= {TARGET:,} steps/s; best of {ns.repeat} runs; "
          f"{'persistent' if ns.persistent else 'linear'} states")
    for gc in (False, True):
        runs = [run(ns.gc_steps if gc else ns.steps, gc, full_gc=ns.full_gc, all_rules=ns.all_rules,
                    linear=not ns.persistent) for _ in range(ns.repeat)]
        done, skipped, _, _, digest = runs[0]
        wall, cpu = min(r[2] for r in runs), min(r[3] for r in runs)
        rate, cpu_rate = done / wall if wall else float("inf"), done / cpu if cpu else float("inf")
        verdict = "meets" if max(rate, cpu_rate) >= TARGET else "BELOW"
        verdict = f"{verdict} target" if not ns.all_rules else "no target: it is for lifecycle and impersonation"
        label = "on (full pass)" if gc and ns.full_gc else "on " if gc else "off"
        print(f"  auto-GC {label}: {done} steps ({skipped} not enabled, skipped): {wall:.2f}s wall = "
              f"{rate:,.0f} steps/s, {cpu:.2f}s CPU = {cpu_rate:,.0f} steps/s ({verdict}) "
              f"[digest {digest}]")
    if ns.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(ns.gc_steps, True, full_gc=ns.full_gc, all_rules=ns.all_rules, linear=not ns.persistent)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
