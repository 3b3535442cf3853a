"""Explorer throughput: states reached and states per second for the reference
universes, with and without symmetry reduction and with and without the
abstraction of token contents (each run bounded in time).

    .venv/bin/python benchmarks/explorer.py [--seconds 30] [--only NAME] [--quick]

Printed as a table; nothing is asserted (speed targets live here, not in tests).
``cpu`` is the process CPU time of the run (the machine is shared: compare CPU
figures), ``setup`` the CPU time of building the explorer (the abstraction's z3
analysis), ``states/s`` states per CPU second of exploration.  ``--quick`` runs
only symmetry+abstraction on and everything off.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.rules.registry import RULES  # noqa: E402
from tokenproof.explorer import Explorer, Universe  # noqa: E402

LIFECYCLE = ["fork", "process_exit", "thread_exit", "clone_thread", "kacs_open_self_token", "close_handle",
             "kernel_free_token", "kernel_destroy_session", "exec", "kacs_revert"]
REFERENCE = {
    "threads-3": (Universe(threads=3, processes=1, tokens=2, privileges=()),
                  ["clone_thread", "thread_exit", "kacs_open_self_token", "close_handle", "kacs_revert",
                   "kernel_free_token"]),
    "lifecycle-2x2x3": (Universe(threads=2, processes=2, tokens=3, privileges=()), LIFECYCLE),
    "issue-2x2x3-all-rules": (Universe(threads=2, processes=2, tokens=3), None),
    "issue-3x2x3-all-rules": (Universe(threads=3, processes=2, tokens=3), None),
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=30.0, help="time bound per run (wall)")
    ap.add_argument("--only", default=None)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    print(f"{'universe':24} {'sym':3} {'abs':3} {'states':>8} {'steps':>9} {'depth':>5} {'done':>4} "
          f"{'wall':>7} {'setup':>6} {'cpu':>7} {'states/s':>9} {'steps/s':>8}")
    configs = [(True, True), (False, True), (True, False), (False, False)]
    if a.quick:
        configs = [(True, True), (False, False)]
    for name, (u, names) in REFERENCE.items():
        if a.only and a.only != name:
            continue
        rules = dict(RULES) if names is None else {n: RULES[n] for n in names}
        for sym, abst in configs:
            c0 = time.process_time()
            ex = Explorer(u, rules=rules, symmetry=sym, abstraction=abst, keep_graph=False, max_seconds=a.seconds)
            c1 = time.process_time()
            r = ex.run()
            cpu = time.process_time() - c1
            print(f"{name:24} {'on' if sym else 'off':3} {'on' if abst else 'off':3} {r.states:8} {r.steps:9} "
                  f"{r.depth:5} {'yes' if r.complete else 'no':>4} {r.seconds:7.1f} {c1 - c0:6.1f} {cpu:7.1f} "
                  f"{r.states / max(cpu, 1e-9):9.1f} {r.steps / max(cpu, 1e-9):8.0f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
