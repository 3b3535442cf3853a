"""Executor throughput: steps per second over random valid traces.

Random steps of the lifecycle and impersonation rules (fork, clone_thread,
thread_exit, close_handle, exec, kacs_revert, and the socket/impersonation
rules when present) by random live threads of the standard world, with and
without the kernel's reclamation after each step (auto-GC).  Fixed seed.
Target: >= 50,000 steps/s (printed, not asserted).

    .venv/bin/python benchmarks/executor_throughput.py [--steps N] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
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
from model.sim import ModelPreconditionError, apply_rule, collect_garbage  # noqa: E402
from model.values import BV  # noqa: E402

TARGET = 50_000
WANTED = ["fork", "clone_thread", "thread_exit", "close_handle", "exec", "kacs_revert",
          "socket_create", "socket_connect", "socket_close", "kacs_impersonate_peer", "kacs_set_impersonation_level"]
MAX_THREADS = 24  # keep the world from growing without bound: fork/clone only below this


def random_args(rng: random.Random, rule, state, actor):
    args = {}
    p = state.value("thread_proc", actor)
    for a in rule.args:
        if a.fresh:
            args[a.name] = None
            continue
        t = a.type
        if t.kind == "bool":
            args[a.name] = rng.random() < 0.5
        elif t.kind == "obj" and t.sort == "Handle":
            open_fds = [h for h in state.universe["Handle"] if state.value("fd_open", (p, h))]
            args[a.name] = rng.choice(open_fds) if open_fds else 3
        elif t.kind == "obj":
            alive = state.alive(t.sort)
            args[a.name] = rng.choice(alive) if alive else 1
        elif t.kind == "sid":
            args[a.name] = rng.choice(list(D.SID_ALIASES.values()))
        elif a.fmt == "level" or t.width == 2:
            args[a.name] = BV(rng.randrange(4), t.width)
        elif a.name == "file_level" or a.fmt == "integrity":
            args[a.name] = BV(rng.choice(list(D.INTEGRITY_NAMES)), t.width)
        else:
            args[a.name] = BV(rng.randrange(1 << min(t.width, 8)), t.width)
    return args


def run(steps: int, gc: bool, seed: int = 7) -> tuple[int, int, float]:
    rng = random.Random(seed)
    rules = [RULES[n] for n in WANTED if n in RULES]
    state = standard().state
    done = skipped = 0
    t0 = time.perf_counter()
    while done < steps:
        threads = state.alive("Thread")
        actor = rng.choice(threads)
        rule = rng.choice(rules)
        if rule.name in ("fork", "clone_thread") and len(threads) >= MAX_THREADS:
            rule = RULES["thread_exit"] if rng.random() < 0.5 else RULES["kacs_revert"]
        try:
            out = apply_rule(state, rule, actor, random_args(rng, rule, state, actor))
        except ModelPreconditionError:
            skipped += 1
            if skipped > 50 * (done + 1):
                state = standard().state  # stuck (e.g. every process exec'd down to one thread): restart
            continue
        state = out.post
        if gc:
            state, _ = collect_garbage(state)
        done += 1
    return done, skipped, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3000, help="steps without auto-GC")
    ap.add_argument("--gc-steps", type=int, default=200, help="steps with auto-GC (much slower today)")
    ap.add_argument("--profile", action="store_true", help="print the cProfile hot spots (with auto-GC)")
    ns = ap.parse_args()
    present = [n for n in WANTED if n in RULES]
    print(f"executor throughput, standard world, seed 7, rules: {', '.join(present)}")
    print(f"target: >= {TARGET:,} steps/s")
    for gc in (False, True):
        done, skipped, secs = run(ns.gc_steps if gc else ns.steps, gc)
        rate = done / secs if secs else float("inf")
        verdict = "meets" if rate >= TARGET else "BELOW"
        print(f"  auto-GC {'on ' if gc else 'off'}: {done} steps ({skipped} not enabled, skipped) in {secs:.2f}s "
              f"= {rate:,.0f} steps/s ({verdict} target)")
    if ns.profile:
        prof = cProfile.Profile()
        prof.enable()
        run(min(ns.gc_steps, 100), True)
        prof.disable()
        pstats.Stats(prof).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
