"""Executor throughput: steps per second over random valid traces.

Random steps of the lifecycle and impersonation rules (fork, clone_thread,
thread_exit, close_handle, exec, kacs_revert, and the socket/impersonation
rules when present) by random live threads of the standard world, with and
without the kernel's reclamation after each step (auto-GC, scheduled as the
Simulator does it: ``collect_garbage(state, since=last_fixpoint)``).  Fixed
seed.  Target: >= 50,000 steps/s (printed, not asserted).

Figures are steps per second of wall time and of process CPU time (best of
``--repeat`` runs): on a shared machine the CPU figure is the steadier one.
The digest of the final state and of every step's outcome identifies the
trace, so runs of different versions of the executor can be compared for
semantics too (same seed and steps: same digest).

    .venv/bin/python benchmarks/executor_throughput.py [--steps N] [--gc-steps N] [--repeat K] [--profile]
    .venv/bin/python benchmarks/executor_throughput.py --full-gc   # the unscheduled reference collection
    .venv/bin/python benchmarks/executor_throughput.py --all-rules # every thread-made rule, not only those
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
from model.rules.registry import RULES  # noqa: E402
from model.scenarios import standard  # noqa: E402
from model.sim import collect_garbage, collect_garbage_full, try_apply_rule  # noqa: E402
from model.state import SCHEMA  # noqa: E402
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
        if a.fresh:
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


def random_args(rng: random.Random, rule, state, actor):
    """Random arguments (the same draws, in the same order, for the same rule, state and actor)."""
    plan = _PLANS.get(rule.name)
    if plan is None:
        plan = _PLANS[rule.name] = _arg_plan(rule)
    args = {}
    for name, kind, data in plan:
        if kind == "fresh":
            args[name] = None
        elif kind == "bool":
            args[name] = rng.random() < 0.5
        elif kind == "fd":
            p = state.value("thread_proc", actor)
            fd_open = state.raw("fd_open")
            open_fds = [h for h in state.universe["Handle"] if fd_open[p, h]]
            args[name] = rng.choice(open_fds) if open_fds else 3
        elif kind == "obj":
            alive = state.alive(data)
            args[name] = rng.choice(alive) if alive else 1
        elif kind == "choice":
            args[name] = rng.choice(data)
        else:
            args[name] = BV(rng.randrange(data[0]), data[1])
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
        all_rules: bool = False) -> tuple[int, int, float, float, str]:
    """``steps`` random steps; returns (steps, skipped, wall seconds, CPU seconds, digest)."""
    rng = random.Random(seed)
    rules = [RULES[n] for n in rule_names(all_rules)]
    state = standard().state
    fixpoint = None  # the last collection's result: nothing reclaimable there
    # what the digest hashes, in order (hashed once at the end: the same digest as updating
    # the hash with each part in turn)
    parts: list[bytes] = []
    add = parts.append
    done = skipped = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while done < steps:
        threads = state.alive("Thread")
        if not threads:  # every process exited (process_exit is among --all-rules): start again
            state, fixpoint = standard().state, None
            threads = state.alive("Thread")
        actor = rng.choice(threads)
        rule = rng.choice(rules)
        if rule.name in ("fork", "clone_thread") and len(threads) >= MAX_THREADS:
            rule = RULES["thread_exit"] if rng.random() < 0.5 else RULES["kacs_revert"]
        out = try_apply_rule(state, rule, actor, random_args(rng, rule, state, actor))
        if out is None:  # not enabled (ModelPreconditionError for apply_rule)
            skipped += 1
            if skipped > 50 * (done + 1):
                state = standard().state  # stuck (e.g. every process exec'd down to one thread): restart
                fixpoint = None
            continue
        add(f"{rule.name}{actor}{int(out.errno)}".encode())
        state = out.post
        if gc:
            if full_gc:
                state, recs = collect_garbage_full(state)
            else:
                state, recs = collect_garbage(state, since=fixpoint)
                fixpoint = state
            add(repr([(r.rule, r.args) for r in recs]).encode() if recs else b"[]")
        done += 1
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    outcomes = hashlib.sha256(b"".join(parts))
    outcomes.update(state_digest(state).encode())
    return done, skipped, wall, cpu, outcomes.hexdigest()[:16]


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
    ns = ap.parse_args()
    present = rule_names(ns.all_rules)
    label = f"all {len(present)} thread-made rules" if ns.all_rules else ", ".join(present)
    print(f"executor throughput, standard world, seed 7, rules: {label}")
    print(f"target: >= {TARGET:,} steps/s; best of {ns.repeat} runs")
    for gc in (False, True):
        runs = [run(ns.gc_steps if gc else ns.steps, gc, full_gc=ns.full_gc, all_rules=ns.all_rules)
                for _ in range(ns.repeat)]
        done, skipped, _, _, digest = runs[0]
        wall, cpu = min(r[2] for r in runs), min(r[3] for r in runs)
        rate, cpu_rate = done / wall if wall else float("inf"), done / cpu if cpu else float("inf")
        verdict = "meets" if max(rate, cpu_rate) >= TARGET else "BELOW"
        label = "on (full pass)" if gc and ns.full_gc else "on " if gc else "off"
        print(f"  auto-GC {label}: {done} steps ({skipped} not enabled, skipped): {wall:.2f}s wall = "
              f"{rate:,.0f} steps/s, {cpu:.2f}s CPU = {cpu_rate:,.0f} steps/s ({verdict} target) "
              f"[digest {digest}]")
    if ns.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(ns.gc_steps, True, full_gc=ns.full_gc, all_rules=ns.all_rules)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()
